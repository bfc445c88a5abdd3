// Package packet decodes and builds the packets bpftables judges: the
// fields iptables matches on, from the IP header onward, together with what
// the kernel knows about a packet besides its bytes (interfaces, mark,
// connection state, owning socket).
//
// The same bytes go to the Go evaluator and, through BPF_PROG_TEST_RUN, to
// the compiled programs, so both judge exactly the same packet.
package packet

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// IP protocol numbers used in decoding.
const (
	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	ProtoDCCP    = 33
	ProtoICMPv6  = 58
	ProtoSCTP    = 132
	ProtoUDPLite = 136
	ProtoESP     = 50
	ProtoAH      = 51
	ProtoGRE     = 47
)

// PktType is the link-layer class of a received packet (skb->pkt_type).
type PktType uint8

// Packet types, as the kernel's PACKET_* constants.
const (
	Host      PktType = 0
	Broadcast PktType = 1
	Multicast PktType = 2
	OtherHost PktType = 3
	Outgoing  PktType = 4
	// Loopback is a multicast or broadcast packet the host sent itself.
	Loopback PktType = 5
)

// CTState is a connection tracking state bit set, as -m conntrack's
// --ctstate sees it.
type CTState uint16

// Conntrack states (XT_CONNTRACK_STATE_* bits of xt_conntrack).
const (
	CTInvalid     CTState = 1 << 0
	CTEstablished CTState = 1 << 1
	CTRelated     CTState = 1 << 2
	CTNew         CTState = 1 << 3
	CTUntracked   CTState = 1 << 8
	CTSNAT        CTState = 1 << 9
	CTDNAT        CTState = 1 << 10
)

// Tuple is one direction of a connection.
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

// Conntrack is what connection tracking knows of the packet's connection.
// The zero value is a packet no connection tracking saw (state INVALID
// unless State says otherwise).
type Conntrack struct {
	State   CTState
	Status  uint32 // IPS_* status bits
	Reply   bool   // packet travels in the reply direction
	Proto   uint8
	Orig    Tuple
	Repl    Tuple
	Mark    uint32
	Expires uint32 // seconds left
}

// Socket is the local socket a packet belongs to, when known.
type Socket struct {
	UID, GID    uint32
	SupplGroups []uint32
	Transparent bool
	Wildcard    bool   // bound to a wildcard address
	Mark        uint32 // SO_MARK, which -m socket --restore-skmark copies
}

// Packet is one packet with the fields iptables matches on.
type Packet struct {
	// Data holds the packet from the IP header on.
	Data []byte

	// IPv6 reports an IPv6 packet; otherwise IPv4.
	IPv6 bool

	Src, Dst netip.Addr
	// Proto is the layer 4 protocol: for IPv6, the header after the
	// extension headers.
	Proto uint8
	// Len is the IP packet length (IPv4 total length, IPv6 payload
	// length plus 40).
	Len uint16
	TTL uint8 // IPv4 TTL or IPv6 hop limit
	TOS uint8 // IPv4 TOS byte or IPv6 traffic class

	// FragOffset is the fragment offset in 8-byte units (IPv4) and
	// MoreFrags the MF bit; for IPv6, from the fragment header if any.
	FragOffset uint16
	MoreFrags  bool
	// Fragment is true when this is not the first fragment (iptables -f).
	Fragment bool

	// L4Off is the offset of the layer 4 header in Data.
	L4Off int
	// L4Truncated is set when Data ends inside the layer 4 header the
	// protocol needs.
	L4Truncated bool

	SrcPort, DstPort uint16 // TCP, UDP, SCTP, DCCP, UDP-Lite
	TCPFlags         uint8  // FIN SYN RST PSH ACK URG (low 6 bits)
	ICMPType         uint8
	ICMPCode         uint8
	ICMPID           uint16 // echo id

	// Metadata the kernel keeps beside the bytes.
	InIface, OutIface string
	// PhysIn and PhysOut are the bridge ports of a bridged packet.
	PhysIn, PhysOut string
	Bridged         bool
	SrcMAC          net.HardwareAddr
	PktType         PktType
	Mark            uint32
	CT              Conntrack
	Sock            *Socket
}

// Errors of Parse.
var (
	ErrShort   = errors.New("packet too short for its IP header")
	ErrVersion = errors.New("not an IPv4 or IPv6 packet")
)

// Parse decodes an IP packet (no link-layer header). It fails only when the
// IP header itself is unusable; a short layer 4 header sets L4Truncated.
func Parse(data []byte) (*Packet, error) {
	if len(data) < 1 {
		return nil, ErrShort
	}
	p := &Packet{Data: data}
	switch data[0] >> 4 {
	case 4:
		if err := p.parse4(); err != nil {
			return nil, err
		}
	case 6:
		if err := p.parse6(); err != nil {
			return nil, err
		}
	default:
		return nil, ErrVersion
	}
	p.parseL4()
	return p, nil
}

func (p *Packet) parse4() error {
	d := p.Data
	if len(d) < 20 {
		return ErrShort
	}
	ihl := int(d[0]&0x0f) * 4
	if ihl < 20 || len(d) < ihl {
		return ErrShort
	}
	p.TOS = d[1]
	p.Len = binary.BigEndian.Uint16(d[2:])
	frag := binary.BigEndian.Uint16(d[6:])
	p.FragOffset = frag & 0x1fff
	p.MoreFrags = frag&0x2000 != 0
	p.Fragment = p.FragOffset != 0
	p.TTL = d[8]
	p.Proto = d[9]
	p.Src = netip.AddrFrom4([4]byte(d[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(d[16:20]))
	p.L4Off = ihl
	return nil
}

// IPv6 extension headers that Parse skips to find the layer 4 protocol.
const (
	nextHopByHop = 0
	nextRouting  = 43
	nextFragment = 44
	nextDestOpts = 60
	nextNone     = 59
)

func (p *Packet) parse6() error {
	d := p.Data
	if len(d) < 40 {
		return ErrShort
	}
	p.IPv6 = true
	p.TOS = byte(binary.BigEndian.Uint16(d[0:]) >> 4)
	p.Len = binary.BigEndian.Uint16(d[4:]) + 40
	p.TTL = d[7]
	p.Src = netip.AddrFrom16([16]byte(d[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(d[24:40]))
	next, off := d[6], 40
	for {
		switch next {
		case nextHopByHop, nextRouting, nextDestOpts, ProtoAH:
			if len(d) < off+2 {
				p.Proto, p.L4Off, p.L4Truncated = next, off, true
				return nil
			}
			n := (int(d[off+1]) + 1) * 8
			if next == ProtoAH {
				n = (int(d[off+1]) + 2) * 4
			}
			next, off = d[off], off+n
			continue
		case nextFragment:
			if len(d) < off+8 {
				p.Proto, p.L4Off, p.L4Truncated = next, off, true
				return nil
			}
			fo := binary.BigEndian.Uint16(d[off+2:])
			p.FragOffset = fo >> 3
			p.MoreFrags = fo&1 != 0
			p.Fragment = p.FragOffset != 0
			next, off = d[off], off+8
			continue
		}
		break
	}
	p.Proto, p.L4Off = next, off
	return nil
}

func (p *Packet) parseL4() {
	if p.Fragment {
		return
	}
	d, off := p.Data, p.L4Off
	need := 0
	switch p.Proto {
	case ProtoTCP:
		need = 20
	case ProtoUDP, ProtoUDPLite:
		need = 8
	case ProtoSCTP:
		need = 12
	case ProtoDCCP:
		need = 12
	case ProtoICMP, ProtoICMPv6:
		need = 4
	default:
		return
	}
	if len(d) < off+need {
		p.L4Truncated = true
		// Ports are still readable from a short header, as skb_header_pointer
		// of the first four bytes would allow.
		if len(d) >= off+4 && p.Proto != ProtoICMP && p.Proto != ProtoICMPv6 {
			p.SrcPort = binary.BigEndian.Uint16(d[off:])
			p.DstPort = binary.BigEndian.Uint16(d[off+2:])
		}
		return
	}
	switch p.Proto {
	case ProtoTCP:
		p.SrcPort = binary.BigEndian.Uint16(d[off:])
		p.DstPort = binary.BigEndian.Uint16(d[off+2:])
		p.TCPFlags = d[off+13] & 0x3f
	case ProtoUDP, ProtoUDPLite, ProtoSCTP, ProtoDCCP:
		p.SrcPort = binary.BigEndian.Uint16(d[off:])
		p.DstPort = binary.BigEndian.Uint16(d[off+2:])
	case ProtoICMP, ProtoICMPv6:
		p.ICMPType = d[off]
		p.ICMPCode = d[off+1]
		if len(d) >= off+6 {
			p.ICMPID = binary.BigEndian.Uint16(d[off+4:])
		}
	}
}

// L4 returns the bytes from the layer 4 header to the end of the IP
// packet (its length field, not trailing link-layer padding, which the
// kernel trims before netfilter sees the packet).
func (p *Packet) L4() []byte {
	end := int(p.Len)
	if end > len(p.Data) || end < p.L4Off {
		end = len(p.Data)
	}
	if p.L4Off > end {
		return nil
	}
	return p.Data[p.L4Off:end]
}

// TCPOptions returns the option bytes of a TCP header, or nil.
func (p *Packet) TCPOptions() []byte {
	if p.Proto != ProtoTCP || p.Fragment || p.L4Truncated {
		return nil
	}
	l4 := p.L4()
	doff := int(l4[12]>>4) * 4
	if doff <= 20 || doff > len(l4) {
		return nil
	}
	return l4[20:doff]
}
