package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestStateParse(t *testing.T) {
	for _, tc := range []struct{ args, save, msg string }{
		{args: "-m state --state e,n,r,i,u", save: "-m state --state INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED"},
		{args: "-m state ! --state ESTABLISHED", save: "-m state ! --state ESTABLISHED"},
		// --state knows no NAT pseudo-states, and words an empty last word
		// differently from --ctstate.
		{args: "-m state --state SNAT", msg: `Bad state "SNAT"`},
		{args: "-m state --state NEW,", msg: `"--state" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED`},
		{args: "-m state --state x,NEW", msg: `Bad state "x,NEW"`},
		{args: "-m state --state NEW --state INVALID", msg: `state: option "--state" can only be used once.`},
		{args: "-m state", msg: `state: option "--state" must be specified`},
	} {
		if tc.msg != "" {
			if got := loadError(translator.IPv4, "filter", "INPUT", tc.args, nil); got != tc.msg {
				t.Errorf("%s:\n got %q\nwant %q", tc.args, got, tc.msg)
			}
			continue
		}
		if got := mustRuleIn(t, translator.IPv4, "filter", "INPUT", tc.args).Spec(translator.IPv4); got != " "+tc.save {
			t.Errorf("%s: got %q, want %q", tc.args, got, " "+tc.save)
		}
	}
}

func TestStateMatch(t *testing.T) {
	for _, tc := range []struct {
		args string
		ct   packet.Conntrack
		want bool
	}{
		{"--state ESTABLISHED,RELATED", packet.Conntrack{State: packet.CTEstablished}, true},
		{"--state ESTABLISHED,RELATED", packet.Conntrack{State: packet.CTRelated}, true},
		{"--state ESTABLISHED,RELATED", packet.Conntrack{State: packet.CTNew}, false},
		// A packet connection tracking did not see is INVALID.
		{"--state INVALID", packet.Conntrack{}, true},
		{"! --state INVALID", packet.Conntrack{}, false},
		{"--state INVALID", packet.Conntrack{State: packet.CTUntracked}, false},
		{"--state UNTRACKED", packet.Conntrack{State: packet.CTUntracked}, true},
		{"! --state NEW", packet.Conntrack{State: packet.CTEstablished | packet.CTSNAT}, true},
	} {
		r := mustRuleIn(t, translator.IPv4, "filter", "INPUT", "-m state "+tc.args)
		p := tcp4Packet(1, 2)
		p.CT = tc.ct
		if got, _ := judge(r, translator.IPv4, p); got != tc.want {
			t.Errorf("%s on state %#x: got %v, want %v", tc.args, tc.ct.State, got, tc.want)
		}
	}
}
