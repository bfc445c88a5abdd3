package xt_test

import (
	"reflect"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// MASQUERADE only in the nat table's POSTROUTING.
func TestMasqueradeWhereAllowed(t *testing.T) {
	tests := []struct {
		name, input, msg string
	}{
		{"POSTROUTING", oneRule("nat", "POSTROUTING", "-j MASQUERADE"), ""},
		{"INPUT", oneRule("nat", "INPUT", "-j MASQUERADE"),
			"MASQUERADE target: used from hooks INPUT, but only usable from POSTROUTING"},
		{"OUTPUT", oneRule("nat", "OUTPUT", "-j MASQUERADE"),
			"MASQUERADE target: used from hooks OUTPUT, but only usable from POSTROUTING"},
		{"filter table", oneRule("filter", "INPUT", "-j MASQUERADE"),
			"MASQUERADE target: only valid in nat table, not filter"},
		{"user chain from PREROUTING", "*nat\n:m - [0:0]\n-A PREROUTING -j m\n-A m -j MASQUERADE\nCOMMIT\n",
			"MASQUERADE target: used from hooks PREROUTING, but only usable from POSTROUTING"},
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

// MASQUERADE takes the address of the outgoing interface, which the
// evaluator does not know: the effect names the interface, the packet
// keeps its address; the port is chosen and written as for SNAT.
func TestMasqueradeMapping(t *testing.T) {
	tests := []struct {
		rule   string
		sport  uint16
		effect string
		port   uint16
	}{
		{"-j MASQUERADE", 40000, "MASQUERADE: src 10.0.0.5:40000 -> address of eth0:40000", 40000},
		{"-p tcp -j MASQUERADE --to-ports 1024-2047", 1500, "MASQUERADE: src 10.0.0.5:1500 -> address of eth0:1500", 1500},
		{"-p tcp -j MASQUERADE --to-ports 1024-2047", 40000,
			"MASQUERADE: src 10.0.0.5:40000 -> address of eth0:1024 (the kernel picks the port at random in 1024-2047)", 1024},
		{"-p tcp -j MASQUERADE --random", 40000,
			"MASQUERADE: src 10.0.0.5:40000 -> address of eth0:1024 (the kernel picks the port at random in 1024-65535)", 1024},
	}
	for _, tt := range tests {
		r := ruleOf(t, v4, "nat", "POSTROUTING", tt.rule)
		p := packet.Spec{Src: addr("10.0.0.5"), Dst: addr("192.0.2.1"), Proto: packet.ProtoTCP, SrcPort: tt.sport, DstPort: 443, TCPFlags: packet.SYN}.Build()
		p.OutIface = "eth0"
		c, v := runTarget(r, v4, "nat", translator.PostRouting, p, nil)
		if want := []string{tt.effect}; v != translator.Accept || !reflect.DeepEqual(effects(c), want) {
			t.Errorf("%s from port %d: %v %q, want ACCEPT %q", tt.rule, tt.sport, v, effects(c), want)
		}
		if p.Src != addr("10.0.0.5") || p.SrcPort != tt.port {
			t.Errorf("%s from port %d: packet from %s:%d, want 10.0.0.5:%d", tt.rule, tt.sport, p.Src, p.SrcPort, tt.port)
		}
	}
}
