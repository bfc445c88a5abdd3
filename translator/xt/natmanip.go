package xt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"net/netip"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// This file is the kernel's side of the NAT targets (nf_nat_core.c,
// nf_nat_proto.c): which address and port a new connection is mapped to,
// and the rewriting of the packet.
//
// The evaluator judges one packet with no other connection around, so the
// mapping is the one the kernel makes when the translated tuple clashes
// with nothing. Where the kernel then still draws a random port (SNAT out
// of range, --random, --random-fully), the lowest candidate is taken and
// the effect says the real port is random. The conntrack zone is taken to
// be 0, and the kernel's hash is computed as a little-endian machine
// computes it, as on x86 and arm64.

// natManip says which end of the connection a NAT target changes.
type natManip uint8

const (
	natSrc natManip = iota // SNAT, MASQUERADE
	natDst                 // DNAT, REDIRECT
)

// natKey is what NAT maps besides the address: a port, or the ICMP echo
// id, which conntrack keeps in the source half of the tuple for both
// directions.
type natKey uint8

const (
	natKeyNone natKey = iota
	natKeyPort
	natKeyICMPID
)

func natKeyOf(p *packet.Packet) natKey {
	if p.Fragment || p.L4Truncated {
		return natKeyNone
	}
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP:
		return natKeyPort
	case packet.ProtoICMP, packet.ProtoICMPv6:
		// conntrack reads the whole 8-byte header for the id.
		if len(p.L4()) >= 8 {
			return natKeyICMPID
		}
	}
	return natKeyNone
}

// natChoice is the mapping chosen for a connection.
type natChoice struct {
	Addr netip.Addr // invalid: the address is not known to the evaluator
	Key  uint16     // new port or ICMP id
	// Random is set when the kernel picks Key at random out of
	// [RandMin, RandMin+RandSize-1]; Key is then RandMin.
	Random            bool
	RandMin, RandSize uint32
}

// natChoose returns the mapping the kernel's get_unique_tuple makes for a
// new connection whose translation clashes with nothing. r.MinAddr is
// invalid (with NATMapIPs set) where the address is one of an interface's,
// unknown here (MASQUERADE, REDIRECT from PREROUTING).
func natChoose(r *NATRange, p *packet.Packet, manip natManip) natChoice {
	kind := natKeyOf(p)
	key := natOrigKey(p, kind, manip)
	cur := p.Dst
	if manip == natSrc {
		cur = p.Src
	}
	randomAll := r.Flags&natRandomAll != 0

	// 1) A source mapping keeps the original tuple if it is in range.
	if manip == natSrc && !randomAll && natAddrInRange(r, p.Src) &&
		(r.Flags&NATProtoSpecified == 0 || natKeyInRange(r, kind, key)) {
		return natChoice{Addr: p.Src, Key: key}
	}

	// 2) The address.
	ch := natChoice{Addr: natBestAddr(r, p, manip, cur), Key: key}

	// 3) The port, left alone if already in range.
	if !randomAll {
		if r.Flags&NATProtoSpecified != 0 {
			if r.Flags&NATProtoOffset == 0 && natKeyInRange(r, kind, key) {
				return ch
			}
		} else {
			return ch
		}
	}
	return natUniqueKey(r, kind, key, manip, ch)
}

// natOrigKey is the port or id of the original tuple that the manip
// changes.
func natOrigKey(p *packet.Packet, kind natKey, manip natManip) uint16 {
	switch {
	case kind == natKeyICMPID:
		return p.ICMPID
	case kind == natKeyPort && manip == natSrc:
		return p.SrcPort
	case kind == natKeyPort:
		return p.DstPort
	}
	return 0
}

// natAddrInRange is the address part of the kernel's in_range: true when
// no addresses are mapped.
func natAddrInRange(r *NATRange, a netip.Addr) bool {
	if r.Flags&NATMapIPs == 0 {
		return true
	}
	if !r.MinAddr.IsValid() {
		// An interface address: in range only if the packet already
		// has it, which the evaluator cannot tell. The port comes out
		// the same either way: one in range (or any, without a port
		// range) is kept by step 3 too, and one out of range fails
		// this test anyway.
		return false
	}
	return a.Compare(r.MinAddr) >= 0 && a.Compare(r.MaxAddr) <= 0
}

// natKeyInRange is l4proto_in_range: protocols without ports are always
// in range.
func natKeyInRange(r *NATRange, kind natKey, key uint16) bool {
	if kind == natKeyNone {
		return true
	}
	return key >= r.MinPort && key <= r.MaxPort
}

// natUniqueKey is nf_nat_l4proto_unique_tuple with no clash: the first
// candidate is taken.
func natUniqueKey(r *NATRange, kind natKey, key uint16, manip natManip, ch natChoice) natChoice {
	var min, size uint32
	switch kind {
	case natKeyNone:
		return ch
	case natKeyICMPID:
		if r.Flags&NATProtoSpecified == 0 {
			min, size = 0, 65536
		} else {
			min = uint32(r.MinPort)
			size = uint32(r.MaxPort) - uint32(r.MinPort) + 1
		}
	default:
		switch {
		case r.Flags&NATProtoSpecified != 0:
			lo, hi := uint32(r.MinPort), uint32(r.MaxPort)
			if hi < lo {
				lo, hi = hi, lo
			}
			min, size = lo, hi-lo+1
		case manip == natDst:
			return ch // a destination port is never changed unasked
		case key < 512:
			min, size = 1, 511
		case key < 1024:
			min, size = 600, 424
		default:
			min, size = 1024, 64512
		}
	}
	var off uint16
	switch {
	case r.Flags&NATProtoOffset != 0:
		off = key - r.BasePort
	case r.Flags&natRandomAll != 0 || manip != natDst:
		ch.Random, ch.RandMin, ch.RandSize = true, min, size
	}
	ch.Key = uint16(min + uint32(off)%size)
	return ch
}

// natBestAddr is find_best_ips_proto: the one address of the range, or
// one picked by a hash of the source address (and, unless --persistent,
// of the destination), so that a client keeps its mapping.
func natBestAddr(r *NATRange, p *packet.Packet, manip natManip, cur netip.Addr) netip.Addr {
	if r.Flags&NATMapIPs == 0 {
		return cur
	}
	if !r.MinAddr.IsValid() || r.MinAddr == r.MaxAddr {
		return r.MinAddr
	}
	src, dst := natAddrBytes(p.Src), natAddrBytes(p.Dst)
	minB, maxB := natAddrBytes(r.MinAddr), natAddrBytes(r.MaxAddr)
	last := 0
	if p.IPv6 {
		last = 3
	}
	persistent := r.Flags&NATPersistent != 0
	var init uint32
	if !persistent {
		init = natRawWord(dst, last) // ^ zone id, which is 0
	}
	var srcWords [4]uint32
	for i := range srcWords {
		srcWords[i] = natRawWord(src, i)
	}
	j := jhash2(srcWords[:], init)

	// The kernel rewrites the tuple's address word by word while it
	// hashes the destination's words in: for DNAT it mixes in the new
	// words.
	v := cur
	vb := natAddrBytes(v)
	if manip == natDst {
		dst = vb
	}
	full := false
	for i := 0; i <= last; i++ {
		var minip, dist uint32
		if !full {
			minip = binary.BigEndian.Uint32(minB[4*i:])
			dist = binary.BigEndian.Uint32(maxB[4*i:]) - minip + 1
		} else {
			minip, dist = 0, ^uint32(0)
		}
		hi, _ := bits.Mul32(j, dist) // reciprocal_scale
		binary.BigEndian.PutUint32(vb[4*i:], minip+hi)
		if manip == natDst {
			dst = vb
		}
		if binary.BigEndian.Uint32(vb[4*i:]) != binary.BigEndian.Uint32(maxB[4*i:]) {
			full = true
		}
		if !persistent {
			j ^= natRawWord(dst, i)
		}
	}
	if last == 0 {
		return netip.AddrFrom4([4]byte(vb[:4]))
	}
	return netip.AddrFrom16(vb)
}

// natAddrBytes lays an address out as union nf_inet_addr: IPv4 in the
// first four bytes, the rest zero.
func natAddrBytes(a netip.Addr) [16]byte {
	var b [16]byte
	if a.Is4() {
		a4 := a.As4()
		copy(b[:], a4[:])
		return b
	}
	return a.As16()
}

// natRawWord reads word i of an address as the kernel's u32 view of a
// __be32 on a little-endian machine.
func natRawWord(b [16]byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }

// jhash2 is the kernel's jhash2 (Bob Jenkins' lookup3 on 32-bit words).
func jhash2(k []uint32, initval uint32) uint32 {
	a := 0xdeadbeef + uint32(len(k))<<2 + initval
	b, c := a, a
	for len(k) > 3 {
		a += k[0]
		b += k[1]
		c += k[2]
		a -= c
		a ^= bits.RotateLeft32(c, 4)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 6)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 8)
		b += a
		a -= c
		a ^= bits.RotateLeft32(c, 16)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 19)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 4)
		b += a
		k = k[3:]
	}
	switch len(k) {
	case 3:
		c += k[2]
		fallthrough
	case 2:
		b += k[1]
		fallthrough
	case 1:
		a += k[0]
		c ^= b
		c -= bits.RotateLeft32(b, 14)
		a ^= c
		a -= bits.RotateLeft32(c, 11)
		b ^= a
		b -= bits.RotateLeft32(a, 25)
		c ^= b
		c -= bits.RotateLeft32(b, 16)
		a ^= c
		a -= bits.RotateLeft32(c, 4)
		b ^= a
		b -= bits.RotateLeft32(a, 14)
		c ^= b
		c -= bits.RotateLeft32(b, 24)
	}
	return c
}

// natApply chooses the mapping, rewrites the packet as the kernel's
// nf_nat_manip_pkt does and records the translation as an effect of the
// target. An unknown address (an interface's) is left as it is in the
// packet.
func natApply(c *translator.Context, target string, r *NATRange, manip natManip, unknownAddr string) {
	p := c.Packet
	kind := natKeyOf(p)
	ch := natChoose(r, p, manip)
	what, oldAddr := "dst", p.Dst
	if manip == natSrc {
		what, oldAddr = "src", p.Src
	}
	oldKey := natOrigKey(p, kind, manip)
	from := natEndpoint(oldAddr.String(), oldAddr, kind, oldKey)
	newAddr := ch.Addr
	addrText := unknownAddr
	if newAddr.IsValid() {
		addrText = newAddr.String()
	} else {
		newAddr = oldAddr
	}
	detail := fmt.Sprintf("%s %s -> %s", what, from, natEndpoint(addrText, ch.Addr, kind, ch.Key))
	if ch.Random {
		detail += fmt.Sprintf(" (the kernel picks the port at random in %d-%d)", ch.RandMin, ch.RandMin+ch.RandSize-1)
	}
	c.Effect(target, "%s", detail)
	natRewrite(p, manip, newAddr, kind, ch.Key)
}

// natEndpoint formats an address and its port or ICMP id.
func natEndpoint(text string, a netip.Addr, kind natKey, key uint16) string {
	switch kind {
	case natKeyPort:
		if a.Is6() {
			text = "[" + text + "]"
		}
		return fmt.Sprintf("%s:%d", text, key)
	case natKeyICMPID:
		return fmt.Sprintf("%s id %d", text, key)
	}
	return text
}

// natRewrite writes the new address and port (or ICMP id) into the packet
// and fixes the checksums as the kernel's l3 and l4 manip functions do.
// The bytes are copied first: the caller's buffer stays as it was.
func natRewrite(p *packet.Packet, manip natManip, addr netip.Addr, kind natKey, key uint16) {
	p.Data = append([]byte(nil), p.Data...)
	d := p.Data
	var addrOff int
	switch {
	case p.IPv6 && manip == natSrc:
		addrOff = 8
	case p.IPv6:
		addrOff = 24
	case manip == natSrc:
		addrOff = 12
	default:
		addrOff = 16
	}
	addrLen := 16
	if !p.IPv6 {
		addrLen = 4
	}
	oldAddr := append([]byte(nil), d[addrOff:addrOff+addrLen]...)
	newAddr := oldAddr
	// An address of the other family (a rule of one family applied to
	// a packet of the other) cannot be written; the packet keeps its own.
	if addr.Is4() == !p.IPv6 {
		b := natAddrBytes(addr)
		newAddr = b[:addrLen:addrLen]
		copy(d[addrOff:], newAddr)
		if manip == natSrc {
			p.Src = addr
		} else {
			p.Dst = addr
		}
	}
	if !p.IPv6 {
		ihl := int(d[0]&0x0f) * 4
		binary.BigEndian.PutUint16(d[10:], 0)
		binary.BigEndian.PutUint16(d[10:], packet.Checksum(d[:ihl], 0))
	}

	l4 := p.L4()
	var keyOff int
	switch {
	case kind == natKeyICMPID:
		keyOff = 4
		p.ICMPID = key
	case kind == natKeyPort && manip == natSrc:
		keyOff = 0
		p.SrcPort = key
	case kind == natKeyPort:
		keyOff = 2
		p.DstPort = key
	}
	var oldKey [2]byte
	if kind != natKeyNone {
		copy(oldKey[:], l4[keyOff:keyOff+2])
		binary.BigEndian.PutUint16(l4[keyOff:], key)
	}
	if p.Fragment || p.L4Truncated {
		return
	}

	// csumOff is where the layer 4 checksum is; pseudo says whether it
	// covers the addresses.
	csumOff, pseudo := -1, true
	switch p.Proto {
	case packet.ProtoTCP:
		csumOff = 16
	case packet.ProtoUDP:
		csumOff = 6
		if !p.IPv6 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			// An IPv4 UDP datagram without checksum keeps none.
			csumOff = -1
		}
	case packet.ProtoUDPLite, packet.ProtoDCCP:
		csumOff = 6
	case packet.ProtoICMP:
		csumOff, pseudo = 2, false
	case packet.ProtoICMPv6:
		csumOff = 2
	case packet.ProtoSCTP:
		// SCTP's CRC32c covers the ports, not the addresses; the
		// kernel computes it anew.
		binary.LittleEndian.PutUint32(l4[8:], 0)
		binary.LittleEndian.PutUint32(l4[8:], crc32.Checksum(l4, natSCTPTable))
		return
	}
	if csumOff < 0 || len(l4) < csumOff+2 {
		return
	}
	sum := binary.BigEndian.Uint16(l4[csumOff:])
	if pseudo {
		sum = packet.ChecksumReplaceBytes(sum, oldAddr, newAddr)
	}
	if kind != natKeyNone {
		sum = packet.ChecksumReplaceBytes(sum, oldKey[:], l4[keyOff:keyOff+2])
	}
	if sum == 0 && (p.Proto == packet.ProtoUDP || p.Proto == packet.ProtoUDPLite) {
		sum = 0xffff // CSUM_MANGLED_0: zero means "no checksum"
	}
	binary.BigEndian.PutUint16(l4[csumOff:], sum)
}

var natSCTPTable = crc32.MakeTable(crc32.Castagnoli)
