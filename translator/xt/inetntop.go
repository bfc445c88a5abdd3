package xt

import (
	"net/netip"
	"strconv"
)

// InetNtop formats an address as glibc's inet_ntop does, which is what
// iptables prints in extension options. It differs from netip's String in
// one case: an IPv6 address whose first six words are zero and seventh is
// not (an "IPv4-compatible" address) ends in dotted quad, "::0.1.0.2" for
// ::1:2.
func InetNtop(a netip.Addr) string {
	if !a.Is6() || a.Is4In6() {
		return a.String()
	}
	b := a.As16()
	for _, x := range b[:12] {
		if x != 0 {
			return a.String()
		}
	}
	if b[12] == 0 && b[13] == 0 {
		return a.String()
	}
	return "::" + strconv.Itoa(int(b[12])) + "." + strconv.Itoa(int(b[13])) + "." +
		strconv.Itoa(int(b[14])) + "." + strconv.Itoa(int(b[15]))
}
