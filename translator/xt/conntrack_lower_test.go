package xt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/plan"
)

// TestConntrackInDatapath: which conntrack and state rules the datapath
// runs, and that the others are refused by name.
func TestConntrackInDatapath(t *testing.T) {
	tests := []struct {
		rule    string
		refused string // part of the error, "" when it compiles
	}{
		{"-m state --state ESTABLISHED,RELATED -j ACCEPT", ""},
		{"-m state ! --state INVALID -j ACCEPT", ""},
		{"-m conntrack --ctstate NEW,UNTRACKED,SNAT -j ACCEPT", ""},
		{"-m conntrack --ctdir REPLY --ctproto udp --ctorigsrc 10.0.0.0/8 --ctorigdst 10.1.2.3 --ctreplsrc 10.1.0.0/16 ! --ctrepldst 10.9.9.9 --ctorigsrcport 1024:65535 ! --ctorigdstport 53 -j ACCEPT", ""},
		{"-m conntrack --ctstate ESTABLISHED --ctdir ORIGINAL -j ACCEPT", ""},
		{"-m conntrack --ctstate INVALID --ctproto tcp -j DROP", "--ctstate that takes packets without a connection"},
		{"-m conntrack ! --ctstate NEW --ctdir REPLY -j DROP", "--ctstate that takes packets without a connection"},
		{"-m conntrack --ctstatus ASSURED -j ACCEPT", ""},
		{"-m conntrack --ctstate ESTABLISHED ! --ctstatus SEEN_REPLY,CONFIRMED -j ACCEPT", ""},
		{"-m conntrack --ctexpire 10:20 -j ACCEPT", "--ctexpire is not yet supported in the datapath"},
		{"-m conntrack --ctreplsrcport 53 ! --ctrepldstport 1024:65535 -j ACCEPT", ""},
	}
	for _, tt := range tests {
		in := "*filter\n-A FORWARD " + tt.rule + "\nCOMMIT\n"
		rs, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(in), iptables.RestoreOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tt.rule, err)
		}
		_, err = plan.Build(rs, "filter", plan.Options{})
		switch {
		case tt.refused == "" && err != nil:
			t.Errorf("%s: %v", tt.rule, err)
		case tt.refused != "" && (err == nil || !strings.Contains(err.Error(), tt.refused) || !errors.Is(err, plan.ErrNotInDatapath)):
			t.Errorf("%s: error %v, want one saying %q", tt.rule, err, tt.refused)
		}
	}
}
