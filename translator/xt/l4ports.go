package xt

import (
	"encoding/binary"

	"github.com/bpftables/bpftables/translator/packet"
)

// IPv6 extension headers as ipv6_skip_exthdr knows them.
const (
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6NoNext   = 59
	ipv6DestOpts = 60
)

// ipv6SkipExthdr is the kernel's ipv6_skip_exthdr from the end of the IPv6
// header: the offset and number of the first header that is not an
// extension header, and the fragment offset field of a fragment header
// met on the way. A non-first fragment stops the walk at its fragment
// header. ok is false for "no next header" and for a truncated chain.
//
// It differs from packet.Parse, which always walks past a fragment header,
// in the places where matches that call ipv6_skip_exthdr see a difference.
func ipv6SkipExthdr(data []byte) (off int, next uint8, fragOff uint16, ok bool) {
	if len(data) < 40 {
		return 0, 0, 0, false
	}
	next, off = data[6], 40
	for {
		switch next {
		case ipv6HopByHop, ipv6Routing, ipv6Fragment, packet.ProtoAH, ipv6DestOpts:
		case ipv6NoNext:
			return 0, 0, 0, false
		default:
			return off, next, fragOff, true
		}
		if len(data) < off+2 {
			return 0, 0, 0, false
		}
		var n int
		switch next {
		case ipv6Fragment:
			if len(data) < off+4 {
				return 0, 0, 0, false
			}
			fragOff = binary.BigEndian.Uint16(data[off+2:])
			if fragOff&^7 != 0 {
				return off, next, fragOff, true
			}
			n = 8
		case packet.ProtoAH:
			n = (int(data[off+1]) + 2) << 2
		default:
			n = (int(data[off+1]) + 1) << 3
		}
		next, off = data[off], off+n
	}
}

// protoPortsOffset is the kernel's proto_ports_offset: where in the layer
// 4 header the 32 bits taken as "ports" are, or -1 for protocols without
// ports (ESP and AH give their SPI).
func protoPortsOffset(proto uint8) int {
	switch proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoDCCP, packet.ProtoESP, packet.ProtoSCTP, packet.ProtoUDPLite:
		return 0
	case packet.ProtoAH:
		return 4
	}
	return -1
}
