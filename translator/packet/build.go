package packet

import (
	"encoding/binary"
	"net/netip"
)

// Spec describes a packet to build. Zero fields take sensible defaults: TTL
// 64, TCP window 65535.
type Spec struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	TCPFlags         uint8
	TCPOptions       []byte // padded with zero bytes (end of options) to a multiple of four
	ICMPType         uint8
	ICMPCode         uint8
	ICMPID           uint16
	TTL              uint8
	TOS              uint8
	// FragOffset (8-byte units) and MoreFrags make a fragment; the layer 4
	// header is then omitted when FragOffset is not zero.
	FragOffset uint16
	MoreFrags  bool
	ID         uint16
	Payload    []byte
}

// TCP flag bits.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
)

// Bytes builds the IP packet, with valid checksums.
func (s Spec) Bytes() []byte {
	l4 := s.l4()
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64
	}
	if s.Src.Is4() {
		b := make([]byte, 20, 20+len(l4))
		b[0] = 0x45
		b[1] = s.TOS
		binary.BigEndian.PutUint16(b[2:], uint16(20+len(l4)))
		binary.BigEndian.PutUint16(b[4:], s.ID)
		frag := s.FragOffset & 0x1fff
		if s.MoreFrags {
			frag |= 0x2000
		}
		binary.BigEndian.PutUint16(b[6:], frag)
		b[8] = ttl
		b[9] = s.Proto
		copy(b[12:16], s.Src.AsSlice())
		copy(b[16:20], s.Dst.AsSlice())
		binary.BigEndian.PutUint16(b[10:], Checksum(b, 0))
		if s.FragOffset == 0 {
			s.fixL4Checksum(l4)
		}
		return append(b, l4...)
	}
	hdr := make([]byte, 40)
	binary.BigEndian.PutUint32(hdr[0:], 6<<28|uint32(s.TOS)<<20)
	hdr[7] = ttl
	copy(hdr[8:24], s.Src.AsSlice())
	copy(hdr[24:40], s.Dst.AsSlice())
	var ext []byte
	next := s.Proto
	if s.FragOffset != 0 || s.MoreFrags {
		ext = make([]byte, 8)
		ext[0] = s.Proto
		fo := s.FragOffset << 3
		if s.MoreFrags {
			fo |= 1
		}
		binary.BigEndian.PutUint16(ext[2:], fo)
		binary.BigEndian.PutUint32(ext[4:], uint32(s.ID))
		next = nextFragment
	}
	hdr[6] = next
	binary.BigEndian.PutUint16(hdr[4:], uint16(len(ext)+len(l4)))
	if s.FragOffset == 0 {
		s.fixL4Checksum(l4)
	}
	return append(append(hdr, ext...), l4...)
}

func (s Spec) l4() []byte {
	if s.FragOffset != 0 {
		return append([]byte(nil), s.Payload...)
	}
	var h []byte
	switch s.Proto {
	case ProtoTCP:
		opts := append([]byte(nil), s.TCPOptions...)
		for len(opts)%4 != 0 {
			opts = append(opts, 0)
		}
		h = make([]byte, 20+len(opts))
		binary.BigEndian.PutUint16(h[0:], s.SrcPort)
		binary.BigEndian.PutUint16(h[2:], s.DstPort)
		binary.BigEndian.PutUint32(h[4:], 1)
		if s.TCPFlags&ACK != 0 {
			binary.BigEndian.PutUint32(h[8:], 1)
		}
		h[12] = byte((20+len(opts))/4) << 4
		h[13] = s.TCPFlags
		binary.BigEndian.PutUint16(h[14:], 65535)
		copy(h[20:], opts)
	case ProtoUDP, ProtoUDPLite:
		h = make([]byte, 8)
		binary.BigEndian.PutUint16(h[0:], s.SrcPort)
		binary.BigEndian.PutUint16(h[2:], s.DstPort)
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(s.Payload)))
	case ProtoSCTP:
		h = make([]byte, 12)
		binary.BigEndian.PutUint16(h[0:], s.SrcPort)
		binary.BigEndian.PutUint16(h[2:], s.DstPort)
	case ProtoDCCP:
		h = make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], s.SrcPort)
		binary.BigEndian.PutUint16(h[2:], s.DstPort)
		h[4] = 4 // data offset in 32-bit words
	case ProtoICMP, ProtoICMPv6:
		h = make([]byte, 8)
		h[0] = s.ICMPType
		h[1] = s.ICMPCode
		binary.BigEndian.PutUint16(h[4:], s.ICMPID)
		binary.BigEndian.PutUint16(h[6:], 1)
	}
	return append(h, s.Payload...)
}

// fixL4Checksum fills the layer 4 checksum, with the pseudo-header where
// the protocol has one, whatever the field held before.
func (s Spec) fixL4Checksum(l4 []byte) {
	var off int
	pseudo := true
	switch s.Proto {
	case ProtoTCP:
		off = 16
	case ProtoUDP, ProtoUDPLite:
		off = 6
	case ProtoICMP:
		off, pseudo = 2, false
	case ProtoICMPv6:
		off = 2
	default:
		return
	}
	if len(l4) < off+2 {
		return
	}
	binary.BigEndian.PutUint16(l4[off:], 0)
	var sum uint32
	if pseudo {
		sum = PseudoSum(s.Src, s.Dst, s.Proto, len(l4))
	}
	c := Checksum(l4, sum)
	if c == 0 && s.Proto == ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}

// Build builds the packet and decodes it, for tests that need both.
func (s Spec) Build() *Packet {
	p, err := Parse(s.Bytes())
	if err != nil {
		panic(err)
	}
	return p
}

// Ethernet prepends an Ethernet header to an IP packet.
func Ethernet(src, dst [6]byte, ip []byte) []byte {
	b := make([]byte, 14, 14+len(ip))
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	if len(ip) > 0 && ip[0]>>4 == 6 {
		binary.BigEndian.PutUint16(b[12:], 0x86dd)
	} else {
		binary.BigEndian.PutUint16(b[12:], 0x0800)
	}
	return append(b, ip...)
}
