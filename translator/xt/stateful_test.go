package xt_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

// Helpers shared by the tests of the stateful matches (limit, hashlimit,
// statistic, recent, set), named sf* to keep clear of other tests' helpers
// in this package.

// sfRestore loads "-A INPUT args" into the filter table of a new ruleset,
// with the kernel's checks against objs, and returns the rule as
// iptables-save prints it after "-A INPUT ".
func sfRestore(fam translator.Family, args string, objs translator.Objects) (string, error) {
	in := "*filter\n-A INPUT " + args + "\nCOMMIT\n"
	rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(in), iptables.RestoreOptions{Objects: objs})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := iptables.Save(&b, rs, iptables.SaveOptions{}); err != nil {
		return "", err
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "-A INPUT "); ok {
			return rest, nil
		}
	}
	return "", nil
}

// sfSaveCase is a rule and how iptables-save prints it back.
type sfSaveCase struct {
	fam        translator.Family
	args, want string
}

func sfRunSaveCases(t *testing.T, cases []sfSaveCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := sfRestore(tc.fam, tc.args, translator.EmptyObjects{})
		if err != nil {
			t.Errorf("%s %q: %v", tc.fam, tc.args, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s %q\n saved as %q\n     want %q", tc.fam, tc.args, got, tc.want)
		}
	}
}

// sfErrorCase is a rule iptables refuses, and the words it refuses it with.
type sfErrorCase struct {
	fam       translator.Family
	args, msg string
}

func sfRunErrorCases(t *testing.T, cases []sfErrorCase, objs translator.Objects) {
	t.Helper()
	for _, tc := range cases {
		got, err := sfRestore(tc.fam, tc.args, objs)
		if err == nil {
			t.Errorf("%s %q: accepted as %q, want error %q", tc.fam, tc.args, got, tc.msg)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %q:\n error %q\n  want %q", tc.fam, tc.args, err, tc.msg)
		}
	}
}

// sfRule parses "-A CHAIN args" as the iptables command does, without
// the kernel's checks.
func sfRule(t *testing.T, fam translator.Family, args string) *translator.Rule {
	t.Helper()
	cmd, err := iptables.ParseCommand(append([]string{"-A", "INPUT"}, strings.Fields(args)...), iptables.ParseOptions{Family: fam})
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return cmd.Rules[0]
}

// sfT0 is the time the evaluation tests start at.
var sfT0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// sfAt is sfT0 plus a duration, for the times of packets.
func sfAt(d time.Duration) time.Time { return sfT0.Add(d) }

// sfJudge evaluates the matches of r on the packet as the kernel does: in
// order, stopping at the first that fails. It reports whether they all
// matched and whether one dropped the packet.
func sfJudge(r *translator.Rule, c *translator.Context) (matched, hotdrop bool) {
	for _, m := range r.Matches {
		if !m.Match(c) {
			return false, c.HotDrop
		}
	}
	return true, c.HotDrop
}

// sfStep is one packet of an evaluation sequence and what the rule must say.
type sfStep struct {
	rule int // index of the rule judging it
	at   time.Duration
	pkt  packet.Spec
	hook translator.Hook // the zero value, PREROUTING, stands for INPUT
	want bool
}

// sfRunSteps judges the packets in order with one State, as one run of the
// rules over a packet trace.
func sfRunSteps(t *testing.T, fam translator.Family, rules []*translator.Rule, steps []sfStep) {
	t.Helper()
	st := translator.NewState()
	for i, s := range steps {
		c := &translator.Context{Packet: s.pkt.Build(), Family: fam, Hook: s.hook, Table: "filter", Now: sfAt(s.at), State: st}
		if s.hook == 0 {
			c.Hook = translator.Input
		}
		got, drop := sfJudge(rules[s.rule], c)
		if drop {
			t.Errorf("step %d (rule %d at %v from %s): packet dropped", i, s.rule, s.at, s.pkt.Src)
		}
		if got != s.want {
			t.Errorf("step %d (rule %d at %v from %s): match %v, want %v", i, s.rule, s.at, s.pkt.Src, got, s.want)
		}
	}
}

func sfAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// sfUDP4 is a UDP packet between two IPv4 hosts.
func sfUDP4(src, dst string, sport, dport uint16) packet.Spec {
	return packet.Spec{Src: sfAddr(src), Dst: sfAddr(dst), Proto: packet.ProtoUDP, SrcPort: sport, DstPort: dport}
}
