package packet

import "encoding/binary"

// Truncate returns the first n bytes of an IP packet as a packet of its
// own, for tests of short layer 4 headers: the IP length field says n, and
// the IPv4 header checksum and the layer 4 checksum (where its field is
// still there) are computed afresh over what is left. Length fields inside
// the layer 4 header, such as UDP's, keep their values. A cut inside the
// IP header leaves the bytes as they are.
func Truncate(ip []byte, n int) []byte {
	b := append([]byte(nil), ip[:min(n, len(ip))]...)
	p, err := Parse(b)
	if err != nil {
		return b
	}
	if p.IPv6 {
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	} else {
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		binary.BigEndian.PutUint16(b[10:], 0)
		binary.BigEndian.PutUint16(b[10:], Checksum(b[:p.L4Off], 0))
	}
	if !p.Fragment && p.L4Off <= len(b) {
		Spec{Src: p.Src, Dst: p.Dst, Proto: p.Proto}.fixL4Checksum(b[p.L4Off:])
	}
	return b
}
