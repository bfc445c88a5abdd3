package packet

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

var (
	v4a, v4b = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	v6a, v6b = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
)

func TestBuildParse(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		chk  func(*Packet) bool
	}{
		{"tcp4", Spec{Src: v4a, Dst: v4b, Proto: ProtoTCP, SrcPort: 1234, DstPort: 22, TCPFlags: SYN | ACK},
			func(p *Packet) bool {
				return !p.IPv6 && p.Src == v4a && p.Dst == v4b && p.SrcPort == 1234 && p.DstPort == 22 && p.TCPFlags == SYN|ACK && p.Len == 40 && p.TTL == 64
			}},
		{"udp6", Spec{Src: v6a, Dst: v6b, Proto: ProtoUDP, SrcPort: 53, DstPort: 5353, Payload: []byte("abc")},
			func(p *Packet) bool {
				return p.IPv6 && p.Proto == ProtoUDP && p.DstPort == 5353 && p.Len == 40+8+3 && p.L4Off == 40
			}},
		{"icmp4 echo", Spec{Src: v4a, Dst: v4b, Proto: ProtoICMP, ICMPType: 8, ICMPID: 77},
			func(p *Packet) bool { return p.ICMPType == 8 && p.ICMPCode == 0 && p.ICMPID == 77 }},
		{"icmp6 fragment header first fragment", Spec{Src: v6a, Dst: v6b, Proto: ProtoICMPv6, ICMPType: 128, MoreFrags: true},
			func(p *Packet) bool {
				return p.Proto == ProtoICMPv6 && p.L4Off == 48 && p.MoreFrags && !p.Fragment && p.ICMPType == 128
			}},
		{"v4 later fragment", Spec{Src: v4a, Dst: v4b, Proto: ProtoTCP, FragOffset: 3, Payload: make([]byte, 8)},
			func(p *Packet) bool { return p.Fragment && p.FragOffset == 3 && p.SrcPort == 0 && !p.L4Truncated }},
		{"v6 later fragment", Spec{Src: v6a, Dst: v6b, Proto: ProtoUDP, FragOffset: 2, Payload: make([]byte, 8)},
			func(p *Packet) bool { return p.Fragment && p.Proto == ProtoUDP && p.FragOffset == 2 }},
		{"tos and ttl", Spec{Src: v4a, Dst: v4b, Proto: ProtoUDP, TOS: 0xb8, TTL: 3},
			func(p *Packet) bool { return p.TOS == 0xb8 && p.TTL == 3 }},
		{"traffic class", Spec{Src: v6a, Dst: v6b, Proto: ProtoUDP, TOS: 0xb8, TTL: 255},
			func(p *Packet) bool { return p.TOS == 0xb8 && p.TTL == 255 }},
	}
	for _, tt := range tests {
		p, err := Parse(tt.spec.Bytes())
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.chk(p) {
			t.Errorf("%s: decoded %+v", tt.name, p)
		}
	}
}

func TestChecksums(t *testing.T) {
	b := Spec{Src: v4a, Dst: v4b, Proto: ProtoTCP, SrcPort: 1, DstPort: 2, TCPFlags: SYN, Payload: []byte("x")}.Bytes()
	if Checksum(b[:20], 0) != 0 {
		t.Error("IPv4 header checksum does not verify")
	}
	if Checksum(b[20:], PseudoSum(v4a, v4b, ProtoTCP, len(b)-20)) != 0 {
		t.Error("TCP checksum does not verify")
	}
	b6 := Spec{Src: v6a, Dst: v6b, Proto: ProtoUDP, SrcPort: 1, DstPort: 2, Payload: []byte("xyz")}.Bytes()
	if Checksum(b6[40:], PseudoSum(v6a, v6b, ProtoUDP, len(b6)-40)) != 0 {
		t.Error("UDP/IPv6 checksum does not verify")
	}
}

func TestTruncated(t *testing.T) {
	b := Spec{Src: v4a, Dst: v4b, Proto: ProtoTCP, SrcPort: 7, DstPort: 9}.Bytes()
	p, err := Parse(b[:20+6])
	if err != nil || !p.L4Truncated || p.SrcPort != 7 || p.DstPort != 9 {
		t.Errorf("short TCP header: %+v, %v", p, err)
	}
	if _, err := Parse(b[:19]); err != ErrShort {
		t.Errorf("short IP header: %v", err)
	}
	bad := append([]byte(nil), b...)
	bad[0] = 0x55
	if _, err := Parse(bad); err != ErrVersion {
		t.Errorf("version 5: %v", err)
	}
	// a hop-by-hop header before UDP is skipped
	b6 := Spec{Src: v6a, Dst: v6b, Proto: ProtoUDP, SrcPort: 1, DstPort: 2}.Bytes()
	hbh := []byte{ProtoUDP, 0, 1, 4, 0, 0, 0, 0}
	withExt := append(append(append([]byte(nil), b6[:40]...), hbh...), b6[40:]...)
	withExt[6] = 0
	binary.BigEndian.PutUint16(withExt[4:], uint16(len(withExt)-40))
	p6, err := Parse(withExt)
	if err != nil || p6.Proto != ProtoUDP || p6.L4Off != 48 || p6.DstPort != 2 {
		t.Errorf("hop-by-hop: %+v, %v", p6, err)
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec Spec
		n    int
	}{
		{"tcp4 to 10 header bytes", Spec{Src: v4a, Dst: v4b, Proto: ProtoTCP, SrcPort: 1, DstPort: 22, TCPFlags: SYN}, 30},
		{"tcp6 to 18 header bytes", Spec{Src: v6a, Dst: v6b, Proto: ProtoTCP, SrcPort: 1, DstPort: 22, TCPFlags: SYN}, 58},
		{"udp6 to 6 bytes", Spec{Src: v6a, Dst: v6b, Proto: ProtoUDP, SrcPort: 53, DstPort: 53}, 46},
		{"udp4 to 4 bytes", Spec{Src: v4a, Dst: v4b, Proto: ProtoUDP, SrcPort: 53, DstPort: 53}, 24},
	} {
		b := Truncate(tt.spec.Bytes(), tt.n)
		p, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(b) != tt.n || int(p.Len) != tt.n || !p.L4Truncated {
			t.Errorf("%s: %d bytes, length field %d, truncated %v", tt.name, len(b), p.Len, p.L4Truncated)
		}
		if !p.IPv6 && Checksum(b[:20], 0) != 0 {
			t.Errorf("%s: IPv4 header checksum does not verify", tt.name)
		}
		l4 := b[p.L4Off:]
		var sum uint32
		if p.Proto != ProtoICMP {
			sum = PseudoSum(p.Src, p.Dst, p.Proto, len(l4))
		}
		if csumOff := map[uint8]int{ProtoTCP: 16}[p.Proto]; csumOff != 0 && len(l4) >= csumOff+2 && Checksum(l4, sum) != 0 {
			t.Errorf("%s: layer 4 checksum does not verify", tt.name)
		}
	}
}
