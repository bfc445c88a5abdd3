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

// loadRules restores iptables-restore input into an empty ruleset of the
// family, checking it against objs as a load into the kernel would.
func loadRules(fam translator.Family, input string, objs translator.Objects) (*translator.Ruleset, error) {
	return iptables.Restore(translator.NewRuleset(fam), strings.NewReader(input), iptables.RestoreOptions{Objects: objs})
}

// oneRule is the restore input of a single rule.
func oneRule(table, chain, args string) string {
	return fmt.Sprintf("*%s\n-A %s %s\nCOMMIT\n", table, chain, args)
}

// ruleOf loads one rule into a built-in chain and returns it; the test
// fails if it does not load.
func ruleOf(t *testing.T, fam translator.Family, table, chain, args string) *translator.Rule {
	t.Helper()
	rs, err := loadRules(fam, oneRule(table, chain, args), nil)
	if err != nil {
		t.Fatalf("%s -t %s -A %s %s: %v", fam, table, chain, args, err)
	}
	c := rs.Table(table).Chain(chain)
	if len(c.Rules) != 1 {
		t.Fatalf("%s -t %s -A %s %s: %d rules", fam, table, chain, args, len(c.Rules))
	}
	return c.Rules[0]
}

// savedRule is how iptables-save prints one rule after loading it.
func savedRule(t *testing.T, fam translator.Family, table, chain, args string) string {
	t.Helper()
	return strings.TrimPrefix(ruleOf(t, fam, table, chain, args).Spec(fam), " ")
}

// loadError is the message of the error loading input, "" if it loads.
// It also says whether the error is the kernel's refusal (a check) rather
// than iptables' (a parameter problem).
func natLoadError(fam translator.Family, input string, objs translator.Objects) (msg string, kernel bool) {
	_, err := loadRules(fam, input, objs)
	if err == nil {
		return "", false
	}
	var e *iptables.Error
	if !errors.As(err, &e) {
		return err.Error(), false
	}
	return e.Msg, errors.Is(err, translator.ErrCheck)
}

// runTarget applies the target of a rule to a packet at a hook, as the
// evaluator does once the rule matched.
func runTarget(r *translator.Rule, fam translator.Family, table string, hook translator.Hook, p *packet.Packet, sets translator.IPSets) (*translator.Context, translator.Verdict) {
	c := &translator.Context{Packet: p, Family: fam, Hook: hook, Table: table, IPSets: sets}
	return c, r.Target.Apply(c)
}

// effects lists the effects of an evaluation as "TARGET: detail".
func effects(c *translator.Context) []string {
	var s []string
	for _, e := range c.Effects {
		s = append(s, e.Target+": "+e.Detail)
	}
	return s
}

// netipAddrPort is the packet's destination as "addr:port".
func netipAddrPort(p *packet.Packet) string {
	return netip.AddrPortFrom(p.Dst, p.DstPort).String()
}
