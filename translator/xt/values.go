package xt

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// ParseHost parses a numeric address of the family, as getaddrinfo with a
// numeric host does (IPv4 in inet_aton's forms: "10.1" is 10.0.0.1).
// bpftables never resolves host names: a name is refused with iptables'
// "not found" message and a hint.
func ParseHost(s string, f translator.Family) (netip.Addr, error) {
	if f == translator.IPv6 {
		a, err := netip.ParseAddr(s)
		if err == nil && a.Is6() && a.Zone() == "" {
			return a, nil
		}
	} else if a, ok := parseInetAton(s); ok {
		return a, nil
	}
	return netip.Addr{}, HostError(s)
}

// HostError is the error for an address that is not numeric.
func HostError(s string) error {
	return Errorf("host/network `%s' not found (bpftables resolves no host names; give a numeric address)", s)
}

// parseInetAton parses IPv4 in the forms inet_aton accepts: a, a.b, a.b.c,
// a.b.c.d, each part decimal, octal or hex.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		v, rest, ok := translator.ParseUintPrefix(p, 0, math.MaxUint32)
		if !ok || rest != "" || p == "" || p[0] == ' ' || p[0] == '+' {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var a uint32
	last := vals[len(vals)-1]
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		a |= uint32(v) << (24 - 8*i)
	}
	if last >= 1<<(32-8*(len(vals)-1)) {
		return netip.Addr{}, false
	}
	a |= uint32(last)
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), true
}

// ParseIPv4Dotted parses an IPv4 address as -s and -d take it
// (xtables_numeric_to_ipaddr): up to four dotted parts, each 0-255 in
// decimal, octal or hex; missing trailing parts are zero ("10" is
// 10.0.0.0).
func ParseIPv4Dotted(s string) (netip.Addr, bool) {
	var b [4]byte
	for i := range b {
		// as strings.SplitN(s, ".", 4): the fourth part is the rest
		p, rest, more := strings.Cut(s, ".")
		if i == len(b)-1 {
			p, more = s, false
		}
		v, ok := translator.ParseUint(p, 0, 255)
		if !ok {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
		if !more {
			break
		}
		s = rest
	}
	return netip.AddrFrom4(b), true
}

// ParseIPv4Mask parses a dotted mask (xtables_numeric_to_ipmask): exactly
// four parts.
func ParseIPv4Mask(s string) (netip.Addr, bool) {
	if strings.Count(s, ".") != 3 {
		return netip.Addr{}, false
	}
	return ParseIPv4Dotted(s)
}

// ParsePort parses a port as xtables_parse_port does: a number (0-65535,
// any base) or a service name of the protocol from /etc/services.
func ParsePort(s, proto string) (uint16, error) {
	if v, ok := translator.ParseUint(s, 0, math.MaxUint16); ok {
		return uint16(v), nil
	}
	if p, ok := translator.ServicePort(s, proto); ok {
		return p, nil
	}
	return 0, Errorf("invalid port/service `%s' specified", s)
}

// ServicePort resolves a port as getaddrinfo does for a service: decimal
// digits (0-65535) or a service name of any protocol.
func ServicePort(s string) (uint16, bool) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		v, err := strconv.ParseUint(s, 10, 16)
		return uint16(v), err == nil
	}
	return translator.ServicePort(s, "")
}

// SaveString appends a string option value as xtables_save_string does:
// bare when it is only letters, digits, "-" and "_", otherwise in double
// quotes with `"`, `\` and `'` escaped.
func SaveString(b *strings.Builder, s string) {
	b.WriteByte(' ')
	if s != "" && strings.Trim(s, "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for _, c := range []byte(s) {
		if c == '"' || c == '\\' || c == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}

// SaveInv appends " !" when inv is set: the form iptables-save uses before
// an inverted option.
func SaveInv(b *strings.Builder, inv bool) {
	if inv {
		b.WriteString(" !")
	}
}

// Savef appends formatted text.
func Savef(b *strings.Builder, format string, args ...any) {
	fmt.Fprintf(b, format, args...)
}

// PortRange is an inclusive range of ports. The zero value is the single
// port 0; the full range is {0, 65535}.
type PortRange [2]uint16

// AllPorts is the range that matches every port.
var AllPorts = PortRange{0, math.MaxUint16}

// Contains reports whether p is in the range.
func (r PortRange) Contains(p uint16) bool { return r[0] <= p && p <= r[1] }

// String prints "a" for a single port and "a:b" for a range.
func (r PortRange) String() string {
	if r[0] == r[1] {
		return strconv.Itoa(int(r[0]))
	}
	return fmt.Sprintf("%d:%d", r[0], r[1])
}

// SaveValMask appends " 0xVAL" or " 0xVAL/0xMASK" as
// xtables_print_val_mask does: the mask only when it is not all ones.
func SaveValMask(b *strings.Builder, val, mask uint32) {
	if mask != math.MaxUint32 {
		Savef(b, " 0x%x/0x%x", val, mask)
		return
	}
	Savef(b, " 0x%x", val)
}

// SaveWord appends a name as iptables-save prints it - bare - unless it
// holds white space, quotes or a backslash: then iptables would print a
// rule that does not parse back, and SaveString's quoting is used instead.
func SaveWord(b *strings.Builder, s string) {
	if s != "" && !strings.ContainsAny(s, " \t\n\v\f\r\"'\\") {
		b.WriteByte(' ')
		b.WriteString(s)
		return
	}
	SaveString(b, s)
}
