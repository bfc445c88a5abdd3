package xt_test

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

var addr = netip.MustParseAddr

// DNAT is refused outside the nat table and from hooks other than
// PREROUTING and OUTPUT, also when its user chain is reached from one.
func TestDNATWhereAllowed(t *testing.T) {
	tests := []struct {
		name, input, msg string
	}{
		{"PREROUTING", oneRule("nat", "PREROUTING", "-j DNAT --to-destination 10.0.0.1"), ""},
		{"OUTPUT", oneRule("nat", "OUTPUT", "-j DNAT --to-destination 10.0.0.1"), ""},
		{"INPUT", oneRule("nat", "INPUT", "-j DNAT --to-destination 10.0.0.1"),
			"DNAT target: used from hooks INPUT, but only usable from PREROUTING,OUTPUT"},
		{"POSTROUTING", oneRule("nat", "POSTROUTING", "-j DNAT --to-destination 10.0.0.1"),
			"DNAT target: used from hooks POSTROUTING, but only usable from PREROUTING,OUTPUT"},
		{"filter table", oneRule("filter", "FORWARD", "-j DNAT --to-destination 10.0.0.1"),
			"DNAT target: only valid in nat table, not filter"},
		{"mangle table", oneRule("mangle", "PREROUTING", "-j DNAT --to-destination 10.0.0.1"),
			"DNAT target: only valid in nat table, not mangle"},
		{"user chain from PREROUTING and OUTPUT", "*nat\n:web - [0:0]\n-A PREROUTING -j web\n-A OUTPUT -j web\n-A web -j DNAT --to-destination 10.0.0.1\nCOMMIT\n", ""},
		{"user chain from INPUT", "*nat\n:web - [0:0]\n-A PREROUTING -j web\n-A INPUT -j web\n-A web -j DNAT --to-destination 10.0.0.1\nCOMMIT\n",
			"DNAT target: used from hooks PREROUTING,INPUT, but only usable from PREROUTING,OUTPUT"},
		{"user chain reached from nowhere", "*nat\n:web - [0:0]\n-A web -j DNAT --to-destination 10.0.0.1\nCOMMIT\n", ""},
	}
	for _, tt := range tests {
		msg, kernel := natLoadError(v4, tt.input, nil)
		if msg != tt.msg || (msg != "" && !kernel) {
			t.Errorf("%s: got %q (kernel refusal: %v), want %q", tt.name, msg, kernel, tt.msg)
		}
	}
}

// Where a range has several addresses the kernel picks one by a hash of
// the connection's addresses (only the source with --persistent). The
// expected addresses are what Linux 6.18 chose for these connections
// (read from /proc/net/nf_conntrack).
func TestDNATAddressFromRangeAsTheKernelPicks(t *testing.T) {
	const (
		plain      = "-p udp -j DNAT --to-destination 10.0.0.1-10.0.0.100"
		persistent = "-p udp -j DNAT --to-destination 10.0.0.1-10.0.0.100 --persistent"
		wide       = "-p udp -j DNAT --to-destination 10.1.0.0-10.3.255.255:2000-3000"
		plain6     = "-p udp -j DNAT --to-destination fd10::1-fd10::ff"
		wide6      = "-p udp -j DNAT --to-destination [fd10::1:0:0-fd10::3:ffff:0]:7000-7100"
		shifted6   = "-p udp -j DNAT --to-destination [fd10::1-fd10::ff]:7000-7100/5000 --persistent"
	)
	tests := []struct {
		rule     string
		src, dst string
		want     string // address:port
	}{
		{plain, "192.168.50.1", "198.51.100.7", "10.0.0.71:5353"},
		{plain, "192.168.50.1", "198.51.100.200", "10.0.0.44:5353"},
		{plain, "192.168.50.2", "198.51.100.7", "10.0.0.53:5353"},
		{plain, "192.168.50.2", "198.51.100.200", "10.0.0.26:5353"},
		{plain, "192.168.50.77", "198.51.100.7", "10.0.0.54:5353"},
		{plain, "192.168.50.77", "198.51.100.200", "10.0.0.66:5353"},
		{persistent, "192.168.50.1", "198.51.101.7", "10.0.0.11:5353"},
		{persistent, "192.168.50.1", "198.51.101.200", "10.0.0.11:5353"},
		{persistent, "192.168.50.2", "198.51.101.7", "10.0.0.75:5353"},
		{persistent, "192.168.50.77", "198.51.101.7", "10.0.0.47:5353"},
		{wide, "192.168.50.1", "198.51.102.9", "10.2.65.222:2000"},
		{wide, "192.168.50.2", "198.51.102.9", "10.3.183.200:2000"},
		{wide, "192.168.50.77", "198.51.102.9", "10.3.204.194:2000"},
		{plain6, "fd00::1", "2001:db8:1::7", "[fd10::d3]:5353"},
		{plain6, "fd00::1", "2001:db8:1::1:200", "[fd10::cb]:5353"},
		{plain6, "fd00::abcd", "2001:db8:1::7", "[fd10::f6]:5353"},
		{plain6, "fd00::abcd", "2001:db8:1::1:200", "[fd10::4b]:5353"},
		{wide6, "fd00::1", "2001:db8:2::9", "[fd10::2:685b:9dff]:7000"},
		{wide6, "fd00::abcd", "2001:db8:2::9", "[fd10::1:4e19:98c9]:7000"},
		// 5353 is 353 above the base 5000: 353 % 101 = 50 into 7000-7100.
		{shifted6, "fd00::1", "2001:db8:3::5", "[fd10::d8]:7050"},
		{shifted6, "fd00::abcd", "2001:db8:3::5", "[fd10::eb]:7050"},
	}
	for _, tt := range tests {
		fam := v4
		if addr(tt.src).Is6() {
			fam = v6
		}
		r := ruleOf(t, fam, "nat", "OUTPUT", tt.rule)
		p := packet.Spec{Src: addr(tt.src), Dst: addr(tt.dst), Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 5353}.Build()
		c, v := runTarget(r, fam, "nat", translator.Output, p, nil)
		got := netip.AddrPortFrom(p.Dst, p.DstPort).String()
		if v != translator.Accept || got != tt.want {
			t.Errorf("%s, %s -> %s: %v to %s, want ACCEPT to %s (%v)", tt.rule, tt.src, tt.dst, v, got, tt.want, effects(c))
		}
	}
}

// The port a new connection gets: its own when in range, else the first
// of the range; with a base port, the offset from the base; with --random
// one the kernel draws, reported as such.
func TestDNATPorts(t *testing.T) {
	tests := []struct {
		rule    string
		dport   uint16
		effects []string
	}{
		{"-p tcp -j DNAT --to-destination 10.0.0.1", 80,
			[]string{"DNAT: dst 192.0.2.1:80 -> 10.0.0.1:80"}},
		{"-p tcp -j DNAT --to-destination 10.0.0.1:8080", 80,
			[]string{"DNAT: dst 192.0.2.1:80 -> 10.0.0.1:8080"}},
		{"-p tcp -j DNAT --to-destination 10.0.0.1:1000-2000", 1500,
			[]string{"DNAT: dst 192.0.2.1:1500 -> 10.0.0.1:1500"}},
		{"-p tcp -j DNAT --to-destination 10.0.0.1:1000-2000", 80,
			[]string{"DNAT: dst 192.0.2.1:80 -> 10.0.0.1:1000"}},
		{"-p tcp -j DNAT --to-destination 10.0.0.1:1000-1999/80", 85,
			[]string{"DNAT: dst 192.0.2.1:85 -> 10.0.0.1:1005"}},
		// The base applies even to ports within the range.
		{"-p tcp -j DNAT --to-destination 10.0.0.1:1000-1999/80", 1500,
			[]string{"DNAT: dst 192.0.2.1:1500 -> 10.0.0.1:1420"}},
		// A port below the base wraps around 65536.
		{"-p tcp -j DNAT --to-destination 10.0.0.1:1000-1999/80", 79,
			[]string{"DNAT: dst 192.0.2.1:79 -> 10.0.0.1:1535"}},
		{"-p tcp -j DNAT --to-destination :8080", 80,
			[]string{"DNAT: dst 192.0.2.1:80 -> 192.0.2.1:8080"}},
		{"-p tcp -j DNAT --to-destination 10.0.0.1:1000-2000 --random", 1500,
			[]string{"DNAT: dst 192.0.2.1:1500 -> 10.0.0.1:1000 (the kernel picks the port at random in 1000-2000)"}},
	}
	for _, tt := range tests {
		r := ruleOf(t, v4, "nat", "PREROUTING", tt.rule)
		p := packet.Spec{Src: addr("198.51.100.9"), Dst: addr("192.0.2.1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: tt.dport, TCPFlags: packet.SYN}.Build()
		c, v := runTarget(r, v4, "nat", translator.PreRouting, p, nil)
		if v != translator.Accept || !reflect.DeepEqual(effects(c), tt.effects) {
			t.Errorf("%s, dport %d: %v %q, want ACCEPT %q", tt.rule, tt.dport, v, effects(c), tt.effects)
		}
	}
}

// The translated packet is what the kernel sends on: the bytes are those
// of the same packet built with the new destination, checksums included,
// and what the rules after DNAT see is the new destination.
func TestDNATRewritesThePacket(t *testing.T) {
	tests := []struct {
		fam       translator.Family
		rule      string
		orig, nat packet.Spec
	}{
		{v4, "-p tcp -j DNAT --to-destination 10.0.0.1:8080",
			packet.Spec{Src: addr("198.51.100.9"), Dst: addr("192.0.2.1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.SYN, Payload: []byte("GET /")},
			packet.Spec{Src: addr("198.51.100.9"), Dst: addr("10.0.0.1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 8080, TCPFlags: packet.SYN, Payload: []byte("GET /")}},
		{v4, "-p udp -j DNAT --to-destination 10.0.0.1:5353",
			packet.Spec{Src: addr("198.51.100.9"), Dst: addr("192.0.2.1"), Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 53, Payload: []byte{1, 2, 3}},
			packet.Spec{Src: addr("198.51.100.9"), Dst: addr("10.0.0.1"), Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 5353, Payload: []byte{1, 2, 3}}},
		// The echo id is ICMP's port: conntrack maps it like one.
		{v4, "-p icmp -j DNAT --to-destination 10.0.0.1:7",
			packet.Spec{Src: addr("198.51.100.9"), Dst: addr("192.0.2.1"), Proto: packet.ProtoICMP, ICMPType: 8, ICMPID: 1234},
			packet.Spec{Src: addr("198.51.100.9"), Dst: addr("10.0.0.1"), Proto: packet.ProtoICMP, ICMPType: 8, ICMPID: 7}},
		{v6, "-p udp -j DNAT --to-destination [2001:db8::53]:5353",
			packet.Spec{Src: addr("2001:db8:1::9"), Dst: addr("2001:db8::1"), Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 53, Payload: []byte{1, 2, 3}},
			packet.Spec{Src: addr("2001:db8:1::9"), Dst: addr("2001:db8::53"), Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 5353, Payload: []byte{1, 2, 3}}},
		{v6, "-p tcp -j DNAT --to-destination 2001:db8::80",
			packet.Spec{Src: addr("2001:db8:1::9"), Dst: addr("2001:db8::1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: packet.SYN},
			packet.Spec{Src: addr("2001:db8:1::9"), Dst: addr("2001:db8::80"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: packet.SYN}},
		// ICMPv6's checksum covers the addresses.
		{v6, "-p icmp -j DNAT --to-destination 2001:db8::80",
			packet.Spec{Src: addr("2001:db8:1::9"), Dst: addr("2001:db8::1"), Proto: packet.ProtoICMPv6, ICMPType: 128, ICMPID: 9},
			packet.Spec{Src: addr("2001:db8:1::9"), Dst: addr("2001:db8::80"), Proto: packet.ProtoICMPv6, ICMPType: 128, ICMPID: 9}},
	}
	for _, tt := range tests {
		r := ruleOf(t, tt.fam, "nat", "PREROUTING", tt.rule)
		orig := tt.orig.Bytes()
		p, err := packet.Parse(orig)
		if err != nil {
			t.Fatal(err)
		}
		runTarget(r, tt.fam, "nat", translator.PreRouting, p, nil)
		if want := tt.nat.Bytes(); !bytes.Equal(p.Data, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.rule, p.Data, want)
		}
		if !bytes.Equal(orig, tt.orig.Bytes()) {
			t.Errorf("%s: the caller's bytes were changed", tt.rule)
		}
		if want := tt.nat.Build(); p.Dst != want.Dst || p.DstPort != want.DstPort || p.ICMPID != want.ICMPID {
			t.Errorf("%s: decoded fields %s %d %d, want %s %d %d", tt.rule, p.Dst, p.DstPort, p.ICMPID, want.Dst, want.DstPort, want.ICMPID)
		}
	}

	// A rule after the DNAT, in the filter table's FORWARD chain, sees
	// the new destination port.
	dnat := ruleOf(t, v4, "nat", "PREROUTING", "-p tcp -j DNAT --to-destination 10.0.0.1:8080")
	fwd := ruleOf(t, v4, "filter", "FORWARD", "-p tcp -m tcp --dport 8080 -j ACCEPT")
	p := packet.Spec{Src: addr("198.51.100.9"), Dst: addr("192.0.2.1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.SYN}.Build()
	c, _ := runTarget(dnat, v4, "nat", translator.PreRouting, p, nil)
	c.Hook, c.Table = translator.Forward, "filter"
	if !fwd.Matches[0].Match(c) {
		t.Errorf("-m tcp --dport 8080 does not match the packet DNATed to port 8080")
	}
}

// SCTP's checksum is a CRC32c of the whole SCTP packet, which the kernel
// computes anew after changing a port.
func TestDNATSCTPChecksum(t *testing.T) {
	r := ruleOf(t, v4, "nat", "PREROUTING", "-p sctp -j DNAT --to-destination 10.0.0.1:3868")
	p := packet.Spec{Src: addr("198.51.100.9"), Dst: addr("192.0.2.1"), Proto: packet.ProtoSCTP, SrcPort: 5000, DstPort: 38412, Payload: []byte{1, 0, 0, 4}}.Build()
	runTarget(r, v4, "nat", translator.PreRouting, p, nil)
	l4 := p.L4()
	// CRC32c of the SCTP common header with a zero checksum and the
	// chunk, stored little-endian as Linux does (seen on a DNATed packet
	// captured on Linux 6.18); computed here with a bitwise CRC.
	want := []byte{0x13, 0x88, 0x0f, 0x1c, 0, 0, 0, 0}
	sum := sctpCRC32c(append(append(append([]byte{}, l4[:8]...), 0, 0, 0, 0), l4[12:]...))
	if !bytes.Equal(l4[:8], want) || !bytes.Equal(l4[8:12], []byte{byte(sum), byte(sum >> 8), byte(sum >> 16), byte(sum >> 24)}) {
		t.Errorf("SCTP header %x, want ports %x and checksum %08x", l4[:12], want[:4], sum)
	}
}

// sctpCRC32c is CRC-32C (reflected polynomial 0x82F63B78) bit by bit.
func sctpCRC32c(b []byte) uint32 {
	crc := ^uint32(0)
	for _, x := range b {
		crc ^= uint32(x)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x82f63b78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}
