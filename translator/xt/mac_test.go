package xt_test

import (
	"net"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestMACSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: v4, in: "-m mac --mac-source AA:bb:0c:d:E:f", save: "-m mac --mac-source aa:bb:0c:0d:0e:0f"},
		{fam: v6, in: "-m mac ! --mac-source 00:00:00:00:00:00", save: "-m mac ! --mac-source 00:00:00:00:00:00"},
		{fam: v4, chain: "FORWARD", in: "-m mac --mac-source 02:00:00:00:00:01", save: "-m mac --mac-source 02:00:00:00:00:01"},
		{fam: v4, in: "-m mac --mac-source 000:00:00:00:00:01", err: "Invalid MAC address specified."},
		{fam: v4, in: "-m mac --mac-source 01:02:03:04:05:0g", err: "Invalid MAC address specified."},
		{fam: v4, chain: "OUTPUT", in: "-m mac --mac-source 00:00:00:00:00:01", err: "mac match: used from hooks OUTPUT, but only usable from PREROUTING,INPUT,FORWARD"},
	})
}

func TestMACHooks(t *testing.T) {
	cases := []struct {
		table, chain string
		ok           bool
	}{
		{"nat", "PREROUTING", true},
		{"mangle", "FORWARD", true},
		{"raw", "PREROUTING", true},
		{"nat", "POSTROUTING", false},
		{"mangle", "OUTPUT", false},
	}
	for _, tc := range cases {
		_, err := loadRule(translator.IPv4, tc.table, tc.chain, "-m mac --mac-source 02:00:00:00:00:01")
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: error %v, want ok %v", tc.table, tc.chain, err, tc.ok)
		}
	}
	// A user chain reached from OUTPUT is refused like OUTPUT itself; one
	// that nothing jumps to is not checked.
	in := "*filter\n:out - [0:0]\n:idle - [0:0]\n-A OUTPUT -j out\n-A %s -m mac --mac-source 02:00:00:00:00:01\nCOMMIT\n"
	for chain, ok := range map[string]bool{"out": false, "idle": true} {
		_, err := restore(translator.IPv4, in, chain)
		if (err == nil) != ok {
			t.Errorf("user chain %s: error %v, want ok %v", chain, err, ok)
		}
	}
}

func fromMAC(mac string) *packet.Packet {
	p := tcp4(1, 2).Build()
	if mac != "" {
		p.SrcMAC, _ = net.ParseMAC(mac)
	}
	return p
}

func TestMACMatch(t *testing.T) {
	runEvalCases(t, mustRule(t, v4, "-m mac --mac-source 02:00:00:00:00:01"), []evalCase{
		{name: "same", pkt: fromMAC("02:00:00:00:00:01"), want: true},
		{name: "other", pkt: fromMAC("02:00:00:00:00:02")},
		{name: "no Ethernet header", pkt: fromMAC("")},
	})
	runEvalCases(t, mustRule(t, v4, "-m mac ! --mac-source 02:00:00:00:00:01"), []evalCase{
		{name: "same", pkt: fromMAC("02:00:00:00:00:01")},
		{name: "other", pkt: fromMAC("02:00:00:00:00:02"), want: true},
		// without an Ethernet header the kernel answers no, inverted or not
		{name: "no Ethernet header", pkt: fromMAC("")},
	})
}
