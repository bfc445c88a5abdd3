package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator"
)

func TestPhysdevParse(t *testing.T) {
	for _, tc := range []struct{ args, save, msg string }{
		// physdev_save's order: is-in, in, is-out, out, is-bridged.
		{args: "-m physdev ! --physdev-is-bridged --physdev-out br0 ! --physdev-is-in --physdev-in eth+",
			save: "-m physdev ! --physdev-is-in --physdev-in eth+ --physdev-out br0 ! --physdev-is-bridged"},
		{args: "-m physdev --physdev-in 0123456789abcdef", msg: "interface name `0123456789abcdef' must be shorter than IFNAMSIZ (15)"},
		{args: "-m physdev", msg: "PHYSDEV: no physdev option specified"},
	} {
		if tc.msg != "" {
			if got := loadError(translator.IPv4, "filter", "FORWARD", tc.args, nil); got != tc.msg {
				t.Errorf("%s:\n got %q\nwant %q", tc.args, got, tc.msg)
			}
			continue
		}
		if got := mustRuleIn(t, translator.IPv4, "filter", "FORWARD", tc.args).Spec(translator.IPv4); got != " "+tc.save {
			t.Errorf("%s: got %q, want %q", tc.args, got, " "+tc.save)
		}
	}
}

func TestPhysdevCheck(t *testing.T) {
	for _, tc := range []struct {
		chain, args string
		ok          bool
	}{
		// The output port of a packet is never known in OUTPUT unless the
		// rule asks for bridged packets only.
		{"OUTPUT", "-m physdev --physdev-out eth0", false},
		{"OUTPUT", "-m physdev ! --physdev-is-out", false},
		{"OUTPUT", "-m physdev --physdev-out eth0 ! --physdev-is-bridged", false},
		{"OUTPUT", "-m physdev --physdev-out eth0 --physdev-is-bridged", true},
		{"OUTPUT", "-m physdev --physdev-in eth0", true},
		{"FORWARD", "-m physdev --physdev-out eth0", true},
	} {
		msg := loadError(translator.IPv4, "filter", tc.chain, tc.args, nil)
		if (msg == "") != tc.ok {
			t.Errorf("%s in %s: error %q, want ok=%v", tc.args, tc.chain, msg, tc.ok)
		}
	}
}

func TestPhysdevMatch(t *testing.T) {
	type ports struct {
		in, out string
		bridged bool
	}
	routed := ports{}
	bridged := ports{"eth0", "eth1", true}
	arrived := ports{in: "eth0", bridged: true} // came in on a bridge port, routed on
	leaving := ports{out: "eth1", bridged: true}
	for _, tc := range []struct {
		args string
		p    ports
		want bool
	}{
		// Without bridge information only inverted options hold.
		{"--physdev-in eth0", routed, false},
		{"! --physdev-in eth0", routed, true},
		{"! --physdev-is-bridged ! --physdev-is-in", routed, true},
		{"! --physdev-is-bridged --physdev-is-out", routed, false},
		{"--physdev-is-bridged", bridged, true},
		{"--physdev-is-bridged", arrived, false},
		{"! --physdev-is-bridged", arrived, true},
		{"--physdev-is-in", arrived, true},
		{"--physdev-is-out", arrived, false},
		{"! --physdev-is-in", leaving, true},
		{"--physdev-in eth+ --physdev-out eth1", bridged, true},
		{"--physdev-in eth1", bridged, false},
		{"! --physdev-in eth1", bridged, true},
		{"--physdev-out eth+", bridged, true},
		{"! --physdev-out eth1", bridged, false},
		// A missing input port skips the --physdev-in test; a missing
		// output port fails --physdev-out, inverted or not.
		{"--physdev-in eth9", leaving, true},
		{"--physdev-out eth1", arrived, false},
		{"! --physdev-out eth1", arrived, false},
	} {
		r := mustRuleIn(t, translator.IPv4, "filter", "FORWARD", "-m physdev "+tc.args)
		p := tcp4Packet(1, 2)
		p.PhysIn, p.PhysOut, p.Bridged = tc.p.in, tc.p.out, tc.p.bridged
		if got, _ := judge(r, translator.IPv4, p); got != tc.want {
			t.Errorf("%s on %+v: got %v, want %v", tc.args, tc.p, got, tc.want)
		}
	}
}
