package xt_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

// Helpers shared by the target tests: rules are written as iptables-restore
// lines, so that the tests read like the rules they test.

// tgLoad restores input (an iptables-restore text) into an empty ruleset of
// the family.
func tgLoad(f translator.Family, input string) (*translator.Ruleset, error) {
	return iptables.Restore(translator.NewRuleset(f), strings.NewReader(input), iptables.RestoreOptions{})
}

// tgErr loads "-A chain args" into the table and returns the message
// iptables (or the kernel) gives for it, "" when the rule loads. Kernel
// refusals are marked "kernel: ", to tell them from parameter problems.
func tgErr(f translator.Family, table, chain, args string) string {
	_, err := tgLoad(f, fmt.Sprintf("*%s\n-A %s %s\nCOMMIT\n", table, chain, args))
	if err == nil {
		return ""
	}
	var e *iptables.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	if errors.Is(err, translator.ErrCheck) {
		return "kernel: " + e.Msg
	}
	return e.Msg
}

// tgCmdErr parses an iptables command line given as separate arguments
// (for arguments a restore line cannot hold, such as a newline) and
// returns iptables' message, "" when it parses.
func tgCmdErr(f translator.Family, args ...string) string {
	_, err := iptables.ParseCommand(args, iptables.ParseOptions{Family: f})
	if err == nil {
		return ""
	}
	var e *iptables.Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return err.Error()
}

// tgRule loads "-A chain args" into the table and returns the rule.
func tgRule(t *testing.T, f translator.Family, table, chain, args string) *translator.Rule {
	t.Helper()
	rs, err := tgLoad(f, fmt.Sprintf("*%s\n-A %s %s\nCOMMIT\n", table, chain, args))
	if err != nil {
		t.Fatalf("%s: %v", args, err)
	}
	return rs.Table(table).Chain(chain).Rules[0]
}

// tgSave is the rule as iptables-save prints it after "-A CHAIN".
func tgSave(r *translator.Rule, f translator.Family) string {
	return strings.TrimPrefix(r.Spec(f), " ")
}

// tgJudge runs a packet through one rule at the hook of the rule's
// built-in chain: the protocol of the header and the matches decide
// whether the target applies (Continue when it does not).
func tgJudge(r *translator.Rule, f translator.Family, table, chain string, p *packet.Packet) (translator.Verdict, *translator.Context) {
	hook, _ := translator.HookByName(chain)
	c := &translator.Context{Packet: p, Family: f, Hook: hook, Table: table}
	if r.Proto != 0 && (p.Proto == r.Proto) == r.InvProto {
		return translator.Continue, c
	}
	for _, m := range r.Matches {
		if !m.Match(c) {
			return translator.Continue, c
		}
	}
	return r.Target.Apply(c), c
}

// tgEffects returns the details of the effects a context recorded.
func tgEffects(c *translator.Context) []string {
	var s []string
	for _, e := range c.Effects {
		s = append(s, e.Target+": "+e.Detail)
	}
	return s
}

// tgAddr parses an address; tests use only valid ones.
func tgAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// tgFamilies are both families with a pair of addresses each, for tests
// that run the same rule in both.
var tgFamilies = []struct {
	f        translator.Family
	src, dst netip.Addr
}{
	{translator.IPv4, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")},
	{translator.IPv6, netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:1::2")},
}
