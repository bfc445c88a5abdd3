package packet

import (
	"encoding/binary"
	"net/netip"
)

// OnesSum adds b, as big-endian 16-bit words, to sum: the one's complement
// sum of the Internet checksum (RFC 1071), not yet folded. An odd last
// byte is padded with zero.
func OnesSum(b []byte, sum uint32) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// Fold folds an accumulated sum to 16 bits, not complemented.
func Fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// Checksum is the Internet checksum of b added to sum: the value a header's
// checksum field holds.
func Checksum(b []byte, sum uint32) uint16 { return ^Fold(OnesSum(b, sum)) }

// PseudoSum is the sum of the pseudo-header of a layer 4 segment of n
// bytes: both addresses, the protocol and the length.
func PseudoSum(src, dst netip.Addr, proto uint8, n int) uint32 {
	sum := OnesSum(src.AsSlice(), 0)
	sum = OnesSum(dst.AsSlice(), sum)
	return sum + uint32(proto) + uint32(n)
}

// ChecksumReplace updates a checksum field for one 16-bit word of the
// summed data changing from old to new (RFC 1624 eqn. 3, the kernel's
// csum_replace2).
func ChecksumReplace(check, old, new uint16) uint16 {
	return ^Fold(uint32(^check) + uint32(^old) + uint32(new))
}

// ChecksumReplaceBytes is ChecksumReplace for a run of words (an address,
// a port) changing from old to new; both have the same even length.
func ChecksumReplaceBytes(check uint16, old, new []byte) uint16 {
	sum := uint32(^check)
	for i := 0; i+1 < len(old); i += 2 {
		sum += uint32(^binary.BigEndian.Uint16(old[i:]))
		sum += uint32(binary.BigEndian.Uint16(new[i:]))
	}
	return ^Fold(sum)
}
