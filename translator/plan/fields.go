package plan

import (
	"encoding/binary"
	"net/netip"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// Values are a packet's fields as the hook program extracts them into the
// packet context, each big-endian of its field's size.
type Values [NumFields][]byte

// Extract computes the packet's field values: the Go statement of what the
// hook program must write, and the input of Judge. ifaces are the plan's
// interface patterns.
func Extract(p *packet.Packet, fam translator.Family, ifaces []string) Values {
	var v Values
	num := func(f Field, x uint64) { v[f] = be(x, f.Size(fam)) }
	addr := func(f Field, a []byte) {
		b := make([]byte, f.Size(fam))
		copy(b, a)
		v[f] = b
	}
	addr(FieldSrc, p.Src.AsSlice())
	addr(FieldDst, p.Dst.AsSlice())
	num(FieldProto, uint64(p.Proto))
	num(FieldFragOff, uint64(p.FragOffset))
	l4 := p.L4()
	if p.Fragment {
		l4 = nil
	}
	num(FieldL4Avail, uint64(len(l4)))
	// Ports and the rest of layer 4 are read where the header has them;
	// matches that need them drop shorter packets before looking.
	if len(l4) >= 4 {
		num(FieldSport, uint64(binary.BigEndian.Uint16(l4)))
		num(FieldDport, uint64(binary.BigEndian.Uint16(l4[2:])))
	} else {
		num(FieldSport, 0)
		num(FieldDport, 0)
	}
	if p.Proto == packet.ProtoTCP && len(l4) >= 14 {
		num(FieldTCPFlags, uint64(l4[13]))
	} else {
		num(FieldTCPFlags, 0)
	}
	if len(l4) >= 2 {
		num(FieldICMP, uint64(l4[0])<<8|uint64(l4[1]))
	} else {
		num(FieldICMP, 0)
	}
	num(FieldLen, uint64(p.Len))
	num(FieldTTL, uint64(p.TTL))
	num(FieldTOS, uint64(p.TOS))
	pt := p.PktType
	if pt == packet.Loopback {
		switch {
		case fam == translator.IPv4 && p.Dst.Is4() && p.Dst.IsMulticast():
			pt = packet.Multicast
		case fam == translator.IPv6:
			pt = packet.Multicast
		default:
			pt = packet.Broadcast
		}
	}
	num(FieldPktType, uint64(pt))
	num(FieldMark, uint64(p.Mark))
	mac := make([]byte, 6)
	if len(p.SrcMAC) == 6 {
		copy(mac, p.SrcMAC)
		num(FieldHasMAC, 1)
	} else {
		num(FieldHasMAC, 0)
	}
	v[FieldSrcMAC] = mac
	num(FieldInIface, ifaceBits(p.InIface, ifaces))
	num(FieldOutIface, ifaceBits(p.OutIface, ifaces))
	ct := p.CT.State
	if ct == 0 {
		ct = packet.CTInvalid // no connection tracking saw it
	}
	num(FieldCtState, uint64(CTStateBits(ct)))
	// the connection (zero for a packet without one)
	reply := uint64(0)
	if p.CT.Reply {
		reply = 1
	}
	num(FieldCtDir, reply)
	num(FieldCtStatus, uint64(uint8(p.CT.Status)))
	num(FieldCtProto, uint64(p.CT.Proto))
	ctAddr := func(f Field, a netip.Addr) {
		b := make([]byte, f.Size(fam))
		if a.IsValid() {
			copy(b, a.AsSlice())
		}
		v[f] = b
	}
	ctAddr(FieldCtOrigSrc, p.CT.Orig.Src)
	ctAddr(FieldCtOrigDst, p.CT.Orig.Dst)
	num(FieldCtOrigSport, uint64(p.CT.Orig.SrcPort))
	num(FieldCtOrigDport, uint64(p.CT.Orig.DstPort))
	num(FieldCtReplSport, uint64(p.CT.Repl.SrcPort))
	num(FieldCtReplDport, uint64(p.CT.Repl.DstPort))
	return v
}

// ifaceBits returns the bits of the patterns an interface name matches.
// No interface (an empty name) matches only "+"-less patterns' negations:
// a pattern never matches the empty name except "+", as iptables'
// masked comparison has it.
func ifaceBits(name string, patterns []string) uint64 {
	var bits uint64
	for i, p := range patterns {
		if i < 64 && translator.IfaceMatch(p, name) {
			bits |= 1 << i
		}
	}
	return bits
}
