package translator

import (
	"fmt"
	"net/netip"
	"strings"
)

// InetNtop formats an address as glibc's inet_ntop, which iptables prints
// with. For IPv6 it differs from netip's String when the first 96 bits
// are zero and the seventh 16-bit word is not: glibc writes the last 32
// bits as dotted IPv4 ("::0.1.0.2" where netip writes "::1:2"), as it does
// for IPv4-mapped addresses.
func InetNtop(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	if a.Is4() {
		return a.String()
	}
	b := a.As16()
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	// The longest run of zero words (the first of equal ones), if two
	// words or more, becomes "::".
	best, bestLen, cur, curLen := -1, 0, -1, 0
	for i := 0; i <= len(w); i++ {
		if i < len(w) && w[i] == 0 {
			if cur < 0 {
				cur, curLen = i, 0
			}
			curLen++
			continue
		}
		if cur >= 0 && (best < 0 || curLen > bestLen) {
			best, bestLen = cur, curLen
		}
		cur = -1
	}
	if bestLen < 2 {
		best = -1
	}
	var s strings.Builder
	for i := 0; i < len(w); i++ {
		if best >= 0 && i >= best && i < best+bestLen {
			if i == best {
				s.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			s.WriteByte(':')
		}
		if i == 6 && best == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			fmt.Fprintf(&s, "%d.%d.%d.%d", b[12], b[13], b[14], b[15])
			return s.String()
		}
		fmt.Fprintf(&s, "%x", w[i])
	}
	if best >= 0 && best+bestLen == len(w) {
		s.WriteByte(':')
	}
	return s.String()
}
