package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestConnmarkParse(t *testing.T) {
	for _, tc := range []struct{ args, save, msg string }{
		{args: "-m connmark --mark 10", save: "-m connmark --mark 0xa"},
		{args: "-m connmark ! --mark 0x10/0xf0", save: "-m connmark ! --mark 0x10/0xf0"},
		{args: "-m connmark --mark 1/2/3", msg: `connmark: trailing garbage after value for option "--mark".`},
		{args: "-m connmark --mark x", msg: `connmark: bad integer value for option "--mark", or out of range.`},
	} {
		if tc.msg != "" {
			if got := loadError(translator.IPv4, "mangle", "PREROUTING", tc.args, nil); got != tc.msg {
				t.Errorf("%s:\n got %q\nwant %q", tc.args, got, tc.msg)
			}
			continue
		}
		if got := mustRuleIn(t, translator.IPv4, "mangle", "PREROUTING", tc.args).Spec(translator.IPv4); got != " "+tc.save {
			t.Errorf("%s: got %q, want %q", tc.args, got, " "+tc.save)
		}
	}
}

func TestConnmarkMatch(t *testing.T) {
	tracked := func(mark uint32) packet.Conntrack {
		return packet.Conntrack{State: packet.CTEstablished, Mark: mark}
	}
	for _, tc := range []struct {
		args string
		ct   packet.Conntrack
		want bool
	}{
		{"--mark 0x5", tracked(5), true},
		{"--mark 0x5", tracked(6), false},
		{"--mark 0x10/0xf0", tracked(0x1234_5615), true},
		{"! --mark 0x10/0xf0", tracked(0x25), true},
		{"--mark 0x0", tracked(0), true},
		// Without a conntrack entry there is no mark to compare: neither
		// the test nor its inversion holds.
		{"--mark 0x0", packet.Conntrack{Mark: 0}, false},
		{"! --mark 0x5", packet.Conntrack{}, false},
		{"! --mark 0x5", packet.Conntrack{State: packet.CTUntracked}, false},
	} {
		r := mustRuleIn(t, translator.IPv4, "mangle", "PREROUTING", "-m connmark "+tc.args)
		p := tcp4Packet(1, 2)
		p.CT = tc.ct
		if got, _ := judge(r, translator.IPv4, p); got != tc.want {
			t.Errorf("%s on %+v: got %v, want %v", tc.args, tc.ct, got, tc.want)
		}
	}
}
