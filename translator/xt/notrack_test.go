package xt_test

import (
	"reflect"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

// NOTRACK is CT --notrack under its own name: it takes no options, is
// kept to the raw table, prints back as itself and marks the packet
// untracked.
func TestNOTRACK(t *testing.T) {
	for _, fam := range []translator.Family{v4, v6} {
		if got := savedRule(t, fam, "raw", "OUTPUT", "-p udp -j NOTRACK"); got != "-p udp -j NOTRACK" {
			t.Errorf("%s: saved as %q", fam, got)
		}
		if msg, _ := natLoadError(fam, oneRule("raw", "PREROUTING", "-j NOTRACK --notrack"), nil); msg != `unknown option "--notrack"` {
			t.Errorf("%s -j NOTRACK --notrack: %q", fam, msg)
		}
		for _, table := range []string{"filter", "mangle"} {
			msg, kernel := natLoadError(fam, oneRule(table, "OUTPUT", "-j NOTRACK"), nil)
			if want := "CT target: only valid in raw table, not " + table; msg != want || !kernel {
				t.Errorf("%s -t %s -j NOTRACK: %q (kernel refusal: %v), want %q", fam, table, msg, kernel, want)
			}
		}
	}
	if err := iptables.ValidChainName("NOTRACK", v4); err == nil || err.Error() != "chain name may not clash with target name" {
		t.Errorf("-N NOTRACK: %v", err)
	}

	r := ruleOf(t, v4, "raw", "PREROUTING", "-p udp --dport 53 -j NOTRACK")
	p := packet.Spec{Src: addr("192.0.2.1"), Dst: addr("198.51.100.1"), Proto: packet.ProtoUDP, SrcPort: 1000, DstPort: 53}.Build()
	p.CT.State = packet.CTNew
	c, v := runTarget(r, v4, "raw", translator.PreRouting, p, nil)
	if want := []string{"NOTRACK: untracked"}; v != translator.Continue || p.CT.State != packet.CTUntracked || !reflect.DeepEqual(effects(c), want) {
		t.Errorf("NOTRACK: %v state %#x %q, want CONTINUE untracked %q", v, p.CT.State, effects(c), want)
	}
}
