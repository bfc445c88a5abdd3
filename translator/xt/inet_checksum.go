package xt

import (
	"encoding/binary"

	"github.com/bpftables/bpftables/translator/packet"
)

// The Internet checksum (RFC 1071) as the targets that verify or rewrite
// packets need it: REJECT verifies the packet it answers, as the kernel
// does before it sends anything back; DSCP, TCPMSS and CHECKSUM rewrite
// headers and keep the checksums right, incrementally (RFC 1624) where
// the kernel does so, so that a wrong checksum stays wrong.

// ipEnd is where the IP packet ends in p.Data: its own length field, cut
// to the bytes there are.
func ipEnd(p *packet.Packet) int {
	end := int(p.Len)
	if end > len(p.Data) || end < p.L4Off {
		end = len(p.Data)
	}
	return end
}

// l4Bytes returns the layer 4 header and payload of the packet.
func l4Bytes(p *packet.Packet) []byte {
	end := ipEnd(p)
	if p.L4Off > end {
		return nil
	}
	return p.Data[p.L4Off:end]
}

// pseudoSum is the sum of the pseudo-header of a layer 4 segment of n
// bytes of protocol proto.
func pseudoSum(p *packet.Packet, proto uint8, n int) uint32 {
	return packet.PseudoSum(p.Src, p.Dst, proto, n)
}

// l4ChecksumOK reports whether the layer 4 bytes of the packet sum to
// zero, with the pseudo-header when pseudo is set, as nf_ip_checksum and
// nf_ip6_checksum verify a packet whose checksum the device left unchecked.
func l4ChecksumOK(p *packet.Packet, pseudo bool) bool {
	l4 := l4Bytes(p)
	var sum uint32
	if pseudo {
		sum = pseudoSum(p, p.Proto, len(l4))
	}
	return packet.Fold(packet.OnesSum(l4, sum)) == 0xffff
}

// l4ChecksumOffset returns where the checksum field of the packet's TCP or
// UDP header is, relative to the layer 4 header.
func l4ChecksumOffset(proto uint8) (int, bool) {
	switch proto {
	case packet.ProtoTCP:
		return 16, true
	case packet.ProtoUDP:
		return 6, true
	}
	return 0, false
}

// ownData gives the packet a private copy of its bytes before a target
// rewrites them, so the caller's buffer is never changed behind its back.
func ownData(p *packet.Packet) []byte {
	p.Data = append([]byte(nil), p.Data...)
	return p.Data
}

// setIPv4Word changes the 16-bit word at off of an IPv4 header and
// updates the header checksum incrementally, as csum_replace2 does.
func setIPv4Word(d []byte, off int, v uint16) {
	old := binary.BigEndian.Uint16(d[off:])
	binary.BigEndian.PutUint16(d[off:], v)
	binary.BigEndian.PutUint16(d[10:], packet.ChecksumReplace(binary.BigEndian.Uint16(d[10:]), old, v))
}
