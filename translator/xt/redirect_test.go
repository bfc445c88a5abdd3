package xt_test

import (
	"reflect"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// REDIRECT only in the nat table, from PREROUTING and OUTPUT.
func TestRedirectWhereAllowed(t *testing.T) {
	tests := []struct {
		name, input, msg string
	}{
		{"PREROUTING", oneRule("nat", "PREROUTING", "-p tcp -j REDIRECT --to-ports 3128"), ""},
		{"OUTPUT", oneRule("nat", "OUTPUT", "-p tcp -j REDIRECT --to-ports 3128"), ""},
		{"POSTROUTING", oneRule("nat", "POSTROUTING", "-p tcp -j REDIRECT --to-ports 3128"),
			"REDIRECT target: used from hooks POSTROUTING, but only usable from PREROUTING,OUTPUT"},
		{"mangle table", oneRule("mangle", "PREROUTING", "-p tcp -j REDIRECT --to-ports 3128"),
			"REDIRECT target: only valid in nat table, not mangle"},
		{"user chain from INPUT", "*nat\n:r - [0:0]\n-A INPUT -j r\n-A r -p tcp -j REDIRECT --to-ports 3128\nCOMMIT\n",
			"REDIRECT target: used from hooks INPUT, but only usable from PREROUTING,OUTPUT"},
	}
	for _, fam := range []translator.Family{v4, v6} {
		for _, tt := range tests {
			msg, kernel := natLoadError(fam, tt.input, nil)
			if msg != tt.msg || (msg != "" && !kernel) {
				t.Errorf("%s %s: got %q (kernel refusal: %v), want %q", fam, tt.name, msg, kernel, tt.msg)
			}
		}
	}
}

// From OUTPUT the destination becomes the loopback address (as Linux 6.18
// did for the same connections); from PREROUTING it is the incoming
// interface's address, unknown here, and only the port is written.
func TestRedirectMapping(t *testing.T) {
	tests := []struct {
		fam    translator.Family
		hook   translator.Hook
		rule   string
		dst    string
		dport  uint16
		effect string
		to     string // the packet's destination afterwards
	}{
		{v4, translator.Output, "-p udp -j REDIRECT --to-ports 8000-8100", "198.51.103.9", 53,
			"REDIRECT: dst 198.51.103.9:53 -> 127.0.0.1:8000", "127.0.0.1:8000"},
		{v4, translator.Output, "-p udp -j REDIRECT --to-ports 8000-8100", "198.51.103.9", 8050,
			"REDIRECT: dst 198.51.103.9:8050 -> 127.0.0.1:8050", "127.0.0.1:8050"},
		{v6, translator.Output, "-p udp -j REDIRECT", "2001:db8:9::9", 53,
			"REDIRECT: dst [2001:db8:9::9]:53 -> [::1]:53", "[::1]:53"},
		{v4, translator.PreRouting, "-p tcp -j REDIRECT --to-ports 3128", "198.51.103.9", 80,
			"REDIRECT: dst 198.51.103.9:80 -> address of eth1:3128", "198.51.103.9:3128"},
		{v4, translator.PreRouting, "-p tcp -j REDIRECT --to-ports 3000-3999 --random", "198.51.103.9", 3128,
			"REDIRECT: dst 198.51.103.9:3128 -> address of eth1:3000 (the kernel picks the port at random in 3000-3999)", "198.51.103.9:3000"},
	}
	for _, tt := range tests {
		src := "192.168.50.1"
		if tt.fam == v6 {
			src = "fd00::1"
		}
		r := ruleOf(t, tt.fam, "nat", tt.hook.String(), tt.rule)
		proto := uint8(packet.ProtoUDP)
		if r.Proto == packet.ProtoTCP {
			proto = packet.ProtoTCP
		}
		p := packet.Spec{Src: addr(src), Dst: addr(tt.dst), Proto: proto, SrcPort: 4401, DstPort: tt.dport}.Build()
		p.InIface = "eth1"
		c, v := runTarget(r, tt.fam, "nat", tt.hook, p, nil)
		if want := []string{tt.effect}; v != translator.Accept || !reflect.DeepEqual(effects(c), want) {
			t.Errorf("%s %s to %s:%d: %v %q, want ACCEPT %q", tt.hook, tt.rule, tt.dst, tt.dport, v, effects(c), want)
		}
		if got := netipAddrPort(p); got != tt.to {
			t.Errorf("%s %s: packet to %s, want %s", tt.hook, tt.rule, got, tt.to)
		}
	}
}
