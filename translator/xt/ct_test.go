package xt_test

import (
	"reflect"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// How CT options print back, beyond the corpus; each checked against
// iptables-legacy.
func TestCTRoundTrip(t *testing.T) {
	tests := []struct{ rule, save string }{
		{"-j CT", ""},
		{"-j CT --zone MARK", "-j CT --zone mark"},
		{"-j CT --zone 0x10", "-j CT --zone 16"},
		{"-j CT --zone-orig 5", ""},
		{"-j CT --zone-reply mark", ""},
		// Both directions are a plain zone; the last number counts.
		{"-j CT --zone-orig 5 --zone-reply 6", "-j CT --zone 6"},
		// Zone 0 is the default and does not print.
		{"-j CT --zone-orig 0", "-j CT"},
		{"-j CT --expevents new,new", "-j CT --expevents new"},
		{"-j CT --ctevents secmark,natseqinfo", "-j CT --ctevents natseqinfo,secmark"},
		{"-j CT --zone 5 --ctevents new --notrack", "-j CT --notrack --ctevents new --zone 5"},
		{"-j CT --notrack --helper ftp", ""},
		{"-p tcp -j CT --helper ftp --timeout tcp-long", ""},
		// Names are cut to the kernel's buffers (16 and 32 bytes).
		{"-p tcp -j CT --helper 0123456789abcdefghij", "-p tcp -j CT --helper 0123456789abcde"},
	}
	for _, tt := range tests {
		want := tt.save
		if want == "" {
			want = tt.rule
		}
		for _, fam := range []translator.Family{v4, v6} {
			if got := savedRule(t, fam, "raw", "PREROUTING", tt.rule); got != want {
				t.Errorf("%s %s\n saved as %s\n     want %s", fam, tt.rule, got, want)
			}
		}
	}
}

func TestCTErrors(t *testing.T) {
	tests := []struct{ rule, msg string }{
		{"-j CT --zone abc", "Cannot parse abc as a zone ID"},
		{"-j CT --zone 65536", "Cannot parse 65536 as a zone ID"},
		{"-j CT --zone 5 --zone 6", `CT: option "--zone" can only be used once.`},
		{"-j CT --ctevents new,bogus", `Unknown event type "bogus"`},
		{"-j CT --ctevents mark,new,,", `Unknown event type ""`},
		{"-j CT --expevents destroy", `Unknown event type "destroy"`},
		{"-j CT --ctevents new --ctevents mark", `CT: option "--ctevents" can only be used once.`},
	}
	for _, tt := range tests {
		msg, kernel := natLoadError(v4, oneRule("raw", "PREROUTING", tt.rule), nil)
		if msg != tt.msg || kernel {
			t.Errorf("%s: got %q (kernel refusal: %v), want %q from iptables", tt.rule, msg, kernel, tt.msg)
		}
	}
}

// The kernel's checks: raw table only; a helper needs the rule's
// protocol and must exist for it (the results match what Linux 6.18 did
// with its built-in helpers); --notrack skips all that.
func TestCTKernelChecks(t *testing.T) {
	const l4 = "CT target: You must specify a L4 protocol and not use inversions on it"
	tests := []struct {
		fam   translator.Family
		table string
		rule  string
		objs  translator.Objects
		msg   string
	}{
		{v4, "filter", "-j CT --notrack", nil, "CT target: only valid in raw table, not filter"},
		{v4, "mangle", "-j CT", nil, "CT target: only valid in raw table, not mangle"},
		{v4, "raw", "-p tcp -j CT --helper ftp", nil, ""},
		{v4, "raw", "-p udp -j CT --helper sip", nil, ""},
		{v6, "raw", "-p udp -j CT --helper RAS", nil, ""},
		{v4, "raw", "-p udp -j CT --helper ftp", nil, `CT target: No such helper "ftp"`},
		{v6, "raw", "-p tcp -j CT --helper irc", nil, `CT target: No such helper "irc"`},
		{v4, "raw", "-p tcp -j CT --helper FTP", translator.EmptyObjects{}, `CT target: No such helper "FTP"`},
		// An unknown helper could be one nfct registered: refused only
		// when the objects that exist are known.
		{v4, "raw", "-p tcp -j CT --helper rpc", nil, ""},
		{v4, "raw", "-p tcp -j CT --helper rpc", translator.EmptyObjects{}, `CT target: No such helper "rpc"`},
		{v4, "raw", "-j CT --helper ftp", nil, l4},
		{v4, "raw", "! -p tcp -j CT --helper ftp", nil, l4},
		{v4, "raw", "-j CT --timeout tcp-long", nil, l4},
		{v4, "raw", "-p tcp -j CT --timeout tcp-long", nil, ""},
		{v4, "raw", "-j CT --notrack --helper bogus", translator.EmptyObjects{}, ""},
	}
	for _, tt := range tests {
		msg, kernel := natLoadError(tt.fam, oneRule(tt.table, "PREROUTING", tt.rule), tt.objs)
		if tt.table == "filter" {
			msg, kernel = natLoadError(tt.fam, oneRule(tt.table, "INPUT", tt.rule), tt.objs)
		}
		if msg != tt.msg || (msg != "" && !kernel) {
			t.Errorf("%s -t %s %s: got %q (kernel refusal: %v), want %q", tt.fam, tt.table, tt.rule, msg, kernel, tt.msg)
		}
	}
}

// --notrack leaves the packet untracked for the rules after it; the other
// options only shape the connection conntrack will make, and are
// recorded.
func TestCTApply(t *testing.T) {
	tests := []struct {
		rule    string
		mark    uint32
		effects []string
		state   packet.CTState
	}{
		{"-j CT --notrack", 0, []string{"CT: untracked"}, packet.CTUntracked},
		{"-j CT", 0, []string{"CT: default conntrack template"}, 0},
		{"-p udp -j CT --helper tftp --ctevents new,destroy --zone-orig 7", 0,
			[]string{"CT: helper tftp, ctevents new,destroy, zone 7 for the original direction"}, 0},
		{"-j CT --zone mark --expevents new", 0x12345,
			[]string{"CT: expevents new, zone 9029 (from mark 0x12345)"}, 0},
	}
	for _, tt := range tests {
		r := ruleOf(t, v4, "raw", "PREROUTING", tt.rule)
		p := packet.Spec{Src: addr("192.0.2.1"), Dst: addr("198.51.100.1"), Proto: packet.ProtoUDP, SrcPort: 1000, DstPort: 69}.Build()
		p.Mark = tt.mark
		c, v := runTarget(r, v4, "raw", translator.PreRouting, p, nil)
		if v != translator.Continue || !reflect.DeepEqual(effects(c), tt.effects) || p.CT.State != tt.state {
			t.Errorf("%s: %v %q state %#x, want CONTINUE %q state %#x", tt.rule, v, effects(c), p.CT.State, tt.effects, tt.state)
		}
	}
}
