package xt_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

// loadRule loads one rule through iptables-restore input, "-A chain spec"
// in table, with the kernel's checks of the table, and returns it.
func loadRule(fam translator.Family, table, chain, spec string) (*translator.Rule, error) {
	in := fmt.Sprintf("*%s\n-A %s %s\nCOMMIT\n", table, chain, spec)
	rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(in), iptables.RestoreOptions{})
	if err != nil {
		return nil, err
	}
	return rs.Table(table).Chain(chain).Rules[0], nil
}

// mustRule is loadRule in the filter table's INPUT chain, failing the test
// on error.
func mustRule(t *testing.T, fam translator.Family, spec string) *translator.Rule {
	t.Helper()
	r, err := loadRule(fam, "filter", "INPUT", spec)
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	return r
}

// saveCase is a rule and how iptables-save prints it back (after
// "-A CHAIN "), or the error it is refused with.
type saveCase struct {
	fam   translator.Family
	chain string // INPUT when empty
	in    string
	save  string // expected save text; empty when an error is expected
	err   string // expected error message, in full
}

func runSaveCases(t *testing.T, cases []saveCase) {
	t.Helper()
	for _, tc := range cases {
		chain := tc.chain
		if chain == "" {
			chain = "INPUT"
		}
		r, err := loadRule(tc.fam, "filter", chain, tc.in)
		if tc.err != "" {
			if err == nil {
				t.Errorf("%s %q: loaded as %q, want error %q", tc.fam, tc.in, r.Spec(tc.fam), tc.err)
			} else if got := ruleError(err); got != tc.err {
				t.Errorf("%s %q: error %q, want %q", tc.fam, tc.in, got, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", tc.fam, tc.in, err)
			continue
		}
		if got := strings.TrimPrefix(r.Spec(tc.fam), " "); got != tc.save {
			t.Errorf("%s %q: saved as %q, want %q", tc.fam, tc.in, got, tc.save)
		}
	}
}

// ruleError is the message of a restore error without the line prefix
// the restorer adds.
func ruleError(err error) string {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		msg = rest
	}
	return msg
}

// evalCase is a packet and what the rule's matches make of it.
type evalCase struct {
	name    string
	pkt     *packet.Packet
	family  translator.Family // IPv4 when zero
	want    bool              // every match of the rule matches
	hotDrop bool
}

// matchRule runs every match of the rule on the packet, stopping at the
// first that fails, as the kernel's rule walk does.
func matchRule(r *translator.Rule, fam translator.Family, p *packet.Packet) (matched, hotDrop bool) {
	c := &translator.Context{Packet: p, Family: fam, Hook: translator.Input, Table: "filter"}
	for _, m := range r.Matches {
		if !m.Match(c) {
			return false, c.HotDrop
		}
	}
	return true, c.HotDrop
}

func runEvalCases(t *testing.T, r *translator.Rule, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		fam := tc.family
		if fam == 0 {
			fam = translator.IPv4
		}
		got, hot := matchRule(r, fam, tc.pkt)
		if got != tc.want || hot != tc.hotDrop {
			t.Errorf("%s: %s: match %v hotdrop %v, want %v %v", r.Spec(fam), tc.name, got, hot, tc.want, tc.hotDrop)
		}
	}
}

// truncate decodes the first n bytes of the packet spec builds, as a
// packet cut short inside its layer 4 header.
func truncate(s packet.Spec, n int) *packet.Packet {
	p, err := packet.Parse(s.Bytes()[:n])
	if err != nil {
		panic(err)
	}
	return p
}

// restore loads iptables-restore input in, formatted with arg.
func restore(fam translator.Family, in, arg string) (*translator.Ruleset, error) {
	return iptables.Restore(translator.NewRuleset(fam), strings.NewReader(fmt.Sprintf(in, arg)), iptables.RestoreOptions{})
}
