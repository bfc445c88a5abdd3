package xt_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// SNAT is refused outside the nat table and from hooks other than
// POSTROUTING and INPUT.
func TestSNATWhereAllowed(t *testing.T) {
	tests := []struct {
		name, input, msg string
	}{
		{"POSTROUTING", oneRule("nat", "POSTROUTING", "-j SNAT --to-source 10.0.0.1"), ""},
		{"INPUT", oneRule("nat", "INPUT", "-j SNAT --to-source 10.0.0.1"), ""},
		{"PREROUTING", oneRule("nat", "PREROUTING", "-j SNAT --to-source 10.0.0.1"),
			"SNAT target: used from hooks PREROUTING, but only usable from INPUT,POSTROUTING"},
		{"OUTPUT", oneRule("nat", "OUTPUT", "-j SNAT --to-source 10.0.0.1"),
			"SNAT target: used from hooks OUTPUT, but only usable from INPUT,POSTROUTING"},
		{"filter table", oneRule("filter", "OUTPUT", "-j SNAT --to-source 10.0.0.1"),
			"SNAT target: only valid in nat table, not filter"},
		{"user chain from OUTPUT", "*nat\n:out - [0:0]\n-A POSTROUTING -j out\n-A OUTPUT -j out\n-A out -j SNAT --to-source 10.0.0.1\nCOMMIT\n",
			"SNAT target: used from hooks OUTPUT,POSTROUTING, but only usable from INPUT,POSTROUTING"},
	}
	for _, tt := range tests {
		msg, kernel := natLoadError(v4, tt.input, nil)
		if msg != tt.msg || (msg != "" && !kernel) {
			t.Errorf("%s: got %q (kernel refusal: %v), want %q", tt.name, msg, kernel, tt.msg)
		}
	}
}

// The source a new connection gets. Each case is what Linux 6.18 did with
// the same rule and connection (UDP to port 53), read from
// /proc/net/nf_conntrack; where the kernel draws the port at random the
// effect says so and the first port of the range stands for it.
func TestSNATMapping(t *testing.T) {
	tests := []struct {
		rule     string
		src, dst string
		sport    uint16
		effect   string
	}{
		// Without ports the source port stays, even a privileged one.
		{"-p udp -j SNAT --to-source 10.9.9.9", "192.168.50.1", "198.51.104.1", 4201, "SNAT: src 192.168.50.1:4201 -> 10.9.9.9:4201"},
		{"-p udp -j SNAT --to-source 10.9.9.9", "192.168.50.1", "198.51.104.1", 80, "SNAT: src 192.168.50.1:80 -> 10.9.9.9:80"},
		// A source already in range is kept as it is.
		{"-p udp -j SNAT --to-source 192.168.50.1-192.168.50.100", "192.168.50.2", "198.51.104.1", 4204, "SNAT: src 192.168.50.2:4204 -> 192.168.50.2:4204"},
		// An address out of a range, by the hash of the addresses.
		{"-p udp -j SNAT --to-source 10.9.9.1-10.9.9.100", "192.168.50.1", "198.51.104.3", 4203, "SNAT: src 192.168.50.1:4203 -> 10.9.9.97:4203"},
		{"-p udp -j SNAT --to-source 10.9.9.1-10.9.9.100", "192.168.50.2", "198.51.104.3", 4203, "SNAT: src 192.168.50.2:4203 -> 10.9.9.48:4203"},
		{"-p udp -j SNAT --to-source 10.9.9.1-10.9.9.100", "192.168.50.77", "198.51.104.3", 4203, "SNAT: src 192.168.50.77:4203 -> 10.9.9.89:4203"},
		{"-p udp -j SNAT --to-source 10.9.9.1-10.9.9.100 --persistent", "192.168.50.1", "198.51.104.7", 4207, "SNAT: src 192.168.50.1:4207 -> 10.9.9.11:4207"},
		{"-p udp -j SNAT --to-source 10.9.9.1-10.9.9.100 --persistent", "192.168.50.2", "198.51.104.7", 4207, "SNAT: src 192.168.50.2:4207 -> 10.9.9.75:4207"},
		// A port in range stays; out of range the kernel draws one.
		{"-p udp -j SNAT --to-source 10.9.9.9:1000-2000", "192.168.50.1", "198.51.104.1", 1500, "SNAT: src 192.168.50.1:1500 -> 10.9.9.9:1500"},
		{"-p udp -j SNAT --to-source 10.9.9.9:1000-2000", "192.168.50.1", "198.51.104.1", 4300,
			"SNAT: src 192.168.50.1:4300 -> 10.9.9.9:1000 (the kernel picks the port at random in 1000-2000)"},
		{"-p udp -j SNAT --to-source 10.9.9.9:1000-2000 --random", "192.168.50.1", "198.51.104.1", 1500,
			"SNAT: src 192.168.50.1:1500 -> 10.9.9.9:1000 (the kernel picks the port at random in 1000-2000)"},
		// The lost base port is 0: the port maps by its value modulo
		// the range's size.
		{"-p udp -j SNAT --to-source 10.9.9.9:1000-1999/50", "192.168.50.1", "198.51.104.1", 40123, "SNAT: src 192.168.50.1:40123 -> 10.9.9.9:1123"},
		// With --random and no ports, the kernel draws from the class
		// of the port: 1-511, 600-1023 or 1024-65535.
		{"-p udp -j SNAT --to-source 10.9.9.9 --random-fully", "192.168.50.1", "198.51.104.1", 700,
			"SNAT: src 192.168.50.1:700 -> 10.9.9.9:600 (the kernel picks the port at random in 600-1023)"},
	}
	for _, tt := range tests {
		r := ruleOf(t, v4, "nat", "POSTROUTING", tt.rule)
		p := packet.Spec{Src: addr(tt.src), Dst: addr(tt.dst), Proto: packet.ProtoUDP, SrcPort: tt.sport, DstPort: 53}.Build()
		c, v := runTarget(r, v4, "nat", translator.PostRouting, p, nil)
		if want := []string{tt.effect}; v != translator.Accept || !reflect.DeepEqual(effects(c), want) {
			t.Errorf("%s from %s:%d: %v %q, want ACCEPT %q", tt.rule, tt.src, tt.sport, v, effects(c), want)
		}
	}
}

// The packet leaves with the new source, checksums fixed; a UDP datagram
// without checksum keeps none.
func TestSNATRewritesThePacket(t *testing.T) {
	r := ruleOf(t, v4, "nat", "POSTROUTING", "-p tcp -j SNAT --to-source 203.0.113.1")
	p := packet.Spec{Src: addr("10.0.0.5"), Dst: addr("192.0.2.1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: packet.SYN}.Build()
	runTarget(r, v4, "nat", translator.PostRouting, p, nil)
	want := packet.Spec{Src: addr("203.0.113.1"), Dst: addr("192.0.2.1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: packet.SYN}.Bytes()
	if !bytes.Equal(p.Data, want) || p.Src != addr("203.0.113.1") {
		t.Errorf("SNAT TCP:\n got %x\nwant %x", p.Data, want)
	}

	r = ruleOf(t, v4, "nat", "POSTROUTING", "-p udp -j SNAT --to-source 203.0.113.1:2000")
	p = packet.Spec{Src: addr("10.0.0.5"), Dst: addr("192.0.2.1"), Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 53}.Build()
	p.Data[20+6], p.Data[20+7] = 0, 0 // no checksum
	runTarget(r, v4, "nat", translator.PostRouting, p, nil)
	if l4 := p.L4(); l4[0] != 0x07 || l4[1] != 0xd0 || l4[6] != 0 || l4[7] != 0 {
		t.Errorf("UDP without checksum after SNAT to port 2000: header %x", l4[:8])
	}
}
