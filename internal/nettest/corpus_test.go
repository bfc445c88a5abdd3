package nettest

import (
	"encoding/binary"
	"net/netip"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// oddPackets is a probe batch for the hook that strays as far from an
// ordinary packet as a probe can carry: every TCP flag combination worth
// naming, every ICMP or ICMPv6 type, fragments, cut layer 4 headers,
// lengths, TTLs, TOS values, broken IP headers and odd addresses.
// Packets the probe cannot observe at the hook are left out.
func oddPackets(hook translator.Hook, f translator.Family) [][]byte {
	src, dst := Endpoints(hook, f)
	icmp := uint8(packet.ProtoICMP)
	if f == v6 {
		icmp = packet.ProtoICMPv6
	}
	l3 := 20
	if f == v6 {
		l3 = 40
	}
	udp := packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 53, Payload: []byte("probe")}
	var out [][]byte
	add := func(s packet.Spec) { out = append(out, s.Bytes()) }
	edit := func(s packet.Spec, f func(b []byte)) {
		b := s.Bytes()
		f(b)
		out = append(out, b)
	}

	add(udp)
	for _, f := range []uint8{0, packet.SYN, packet.SYN | packet.ACK, packet.ACK, packet.RST, packet.RST | packet.ACK,
		packet.FIN | packet.ACK, packet.SYN | packet.FIN, packet.SYN | packet.RST, packet.FIN | packet.PSH | packet.URG, 0x3f, 0xff} {
		add(packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22, TCPFlags: f})
	}
	add(packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22, TCPFlags: packet.SYN,
		TCPOptions: []byte{2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7}})
	for t := 0; t < 256; t++ {
		add(packet.Spec{Src: src, Dst: dst, Proto: icmp, ICMPType: uint8(t), ICMPCode: uint8(t % 4), ICMPID: 7})
	}
	for _, p := range []uint8{packet.ProtoSCTP, packet.ProtoDCCP, packet.ProtoUDPLite, packet.ProtoESP, packet.ProtoAH, 47, 59, 253} {
		add(packet.Spec{Src: src, Dst: dst, Proto: p, SrcPort: 1, DstPort: 2, Payload: make([]byte, 16)})
	}

	// Fragments: first, middle, last, and IPv6's atomic fragment.
	add(packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, MoreFrags: true, Payload: make([]byte, 16)})
	add(packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, FragOffset: 3, MoreFrags: true, Payload: make([]byte, 16)})
	add(packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, FragOffset: 1, Payload: make([]byte, 8)})
	if f == v6 {
		edit(packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, MoreFrags: true}, func(b []byte) {
			b[43] = 0 // fragment header with neither offset nor M flag
		})
	}

	// Layer 4 headers cut short.
	for _, n := range []int{1, 4, 10, 19} {
		out = append(out, packet.Truncate(packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22, TCPFlags: packet.SYN}.Bytes(), l3+n))
	}
	out = append(out, packet.Truncate(udp.Bytes(), l3+4), packet.Truncate(udp.Bytes(), l3))
	for _, n := range []int{4, 7} {
		out = append(out, packet.Truncate(packet.Spec{Src: src, Dst: dst, Proto: icmp, ICMPType: 8}.Bytes(), l3+n))
	}

	// Lengths, TTLs, TOS.
	for _, n := range []int{0, 1, 100, 999, 1500 - l3 - 8} {
		s := udp
		s.Payload = make([]byte, n)
		add(s)
	}
	for _, ttl := range []uint8{1, 2, 3, 128, 255} {
		s := udp
		s.TTL = ttl
		add(s)
	}
	edit(udp, func(b []byte) { setTTL(b, 0) })
	for _, tos := range []uint8{0x01, 0x02, 0x03, 0x10, 0xb8, 0xfc, 0xff} {
		s := udp
		s.TOS = tos
		add(s)
	}

	// Broken IP headers.
	if f == v6 {
		edit(udp, func(b []byte) { binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40+1)) }) // says more than there is
		edit(udp, func(b []byte) { binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40-2)) }) // says less
		edit(udp, func(b []byte) { binary.BigEndian.PutUint16(b[4:], 0) })
	} else {
		edit(udp, func(b []byte) { b[10] ^= 0x5a })                                              // header checksum
		edit(udp, func(b []byte) { setLength4(b, len(b)+1) })                                    // says more than there is
		edit(udp, func(b []byte) { setLength4(b, len(b)-2) })                                    // says less
		edit(udp, func(b []byte) { setLength4(b, 19) })                                          // inside the header
		edit(udp, func(b []byte) { b[0] = 0x44; setChecksum4(b) })                               // header length 16
		out = append(out, withOptions(udp.Bytes(), []byte{1, 1, 1, 0}))                          // NOP NOP NOP END
		edit(udp, func(b []byte) { binary.BigEndian.PutUint16(b[6:], 0x4000); setChecksum4(b) }) // DF
		edit(udp, func(b []byte) { binary.BigEndian.PutUint16(b[6:], 0x8000); setChecksum4(b) }) // the reserved flag
	}

	// Odd addresses.
	var odd []string
	if f == v6 {
		odd = []string{"::", "::1", "fe80::1", "ff02::1", "ff0e::1", "::ffff:192.0.2.9", "fec0::1", "2001:db8:99::1", "2001:db8:2::"}
	} else {
		odd = []string{"0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.1", "239.1.2.3", "255.255.255.255", "240.0.0.1",
			"169.254.1.1", "203.0.113.7", "198.51.100.0", "198.51.100.255", "192.0.2.1", "198.51.100.1", "10.1.2.3"}
	}
	for _, a := range odd {
		s := udp
		s.Src = netip.MustParseAddr(a)
		add(s)
		s = udp
		s.Dst = netip.MustParseAddr(a)
		add(s)
	}
	if hook == input {
		s := udp
		s.Dst = FirewallServerLink.Addr(f) // the far side's address, reached from the near side
		add(s)
	}

	kept := out[:0]
	for _, p := range out {
		if Unobservable(hook, p) == "" {
			kept = append(kept, p)
		}
	}
	return kept
}

func setTTL(b []byte, ttl uint8) {
	if b[0]>>4 == 6 {
		b[7] = ttl
		return
	}
	b[8] = ttl
	setChecksum4(b)
}

func setLength4(b []byte, n int) {
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	setChecksum4(b)
}

func setChecksum4(b []byte) {
	n := min(int(b[0]&0xf)*4, len(b))
	binary.BigEndian.PutUint16(b[10:], 0)
	binary.BigEndian.PutUint16(b[10:], packet.Checksum(b[:n], 0))
}

// withOptions inserts IPv4 options (a multiple of 4 bytes) after the fixed
// header.
func withOptions(b, opts []byte) []byte {
	o := append(append(append([]byte(nil), b[:20]...), opts...), b[20:]...)
	o[0] = 0x40 | byte((20+len(opts))/4)
	setLength4(o, len(o))
	return o
}
