package xt

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// NATFlags are the flags of a NAT range (the kernel's NF_NAT_RANGE_*).
type NATFlags uint32

// NAT range flags, with the kernel's values.
const (
	NATMapIPs           NATFlags = 1 << iota // an address range is given
	NATProtoSpecified                        // a port (or ICMP id) range is given
	NATProtoRandom                           // --random
	NATPersistent                            // --persistent
	NATProtoRandomFully                      // --random-fully
	NATProtoOffset                           // a base port is given: "shifted" port mapping
)

// natRandomAll is NF_NAT_RANGE_PROTO_RANDOM_ALL.
const natRandomAll = NATProtoRandom | NATProtoRandomFully

// NATRange is the mapping of a NAT target (struct nf_nat_range2): DNAT,
// SNAT, MASQUERADE and REDIRECT share it and its "addr[-addr][:port[-port[/base]]]"
// syntax.
type NATRange struct {
	Flags NATFlags
	// MinAddr and MaxAddr bound the addresses to map to when NATMapIPs is
	// set. iptables takes them as given: MinAddr may be above MaxAddr.
	MinAddr, MaxAddr netip.Addr
	// MinPort and MaxPort bound the ports (ICMP ids for ICMP) when
	// NATProtoSpecified is set.
	MinPort, MaxPort uint16
	// BasePort is the port mapped to MinPort when NATProtoOffset is set.
	BasePort uint16
}

// Option IDs of the NAT targets, as libxt_NAT numbers them.
const (
	natOptToDest = iota
	natOptToSrc
	natOptToPorts
	natOptRandom
	natOptRandomFully
	natOptPersistent
)

// natPortOK reports whether the rule's protocol lets a NAT target map
// ports. libxt_NAT looks at the -p protocol only, inverted or not, and
// counts ICMP (whose echo id conntrack maps like a port) but not UDP-Lite.
func natPortOK(r *translator.Rule) bool {
	switch r.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoSCTP, packet.ProtoDCCP, packet.ProtoICMP:
		return true
	}
	return false
}

// parseOption takes one option of a NAT target (__NAT_parse).
func (r *NATRange) parseOption(c *Call) error {
	portOK := natPortOK(c.Rule)
	switch c.Opt.ID {
	case natOptToDest, natOptToSrc:
		return r.parseTo(c.Arg, portOK, c.Family)
	case natOptToPorts:
		return r.parsePorts(c.Arg, portOK)
	case natOptPersistent:
		r.Flags |= NATPersistent
	case natOptRandom:
		r.Flags |= NATProtoRandom
	case natOptRandomFully:
		r.Flags |= NATProtoRandomFully
	}
	return nil
}

// parseStrtoui reads a number as xtables_strtoui with an end pointer does:
// the number may be followed by anything, which is returned.
func parseStrtoui(s string, min uint64) (uint16, string, bool) {
	v, rest, ok := translator.ParseUintPrefix(s, min, 65535)
	return uint16(v), rest, ok
}

// parsePorts parses "port[-port[/base]]" as libxt_NAT's parse_ports does.
// Only the first port may be a service name, and then alone.
func (r *NATRange) parsePorts(arg string, portOK bool) error {
	if !portOK {
		return Errorf("Need TCP, UDP, SCTP or DCCP with port specification")
	}
	r.Flags |= NATProtoSpecified

	port, end, ok := parseStrtoui(arg, 0)
	if !ok {
		p, found := translator.ServicePort(arg, "")
		if !found {
			return Errorf("Port `%s' not valid", arg)
		}
		port, end = p, ""
	}
	switch {
	case end == "":
		r.MinPort, r.MaxPort = port, port
		return nil
	case end[0] == '-':
		arg = end[1:]
	case end[0] == ':':
		return Errorf("Invalid port:port syntax - use dash")
	default:
		return Errorf("Garbage after port value: `%s'", end)
	}

	maxPort, end, ok := parseStrtoui(arg, 0)
	if !ok {
		return Errorf("Port `%s' not valid", arg)
	}
	if maxPort < port {
		return Errorf("Port range `%s' funky", arg)
	}
	r.MinPort, r.MaxPort = port, maxPort
	switch {
	case end == "":
		return nil
	case end[0] == '/':
		arg = end[1:]
	default:
		return Errorf("Garbage after port range: `%s'", end)
	}

	// The base port may have trailing garbage: parse_ports passes an end
	// pointer it never looks at.
	base, _, ok := parseStrtoui(arg, 1)
	if !ok {
		p, found := translator.ServicePort(arg, "")
		if !found {
			return Errorf("Port `%s' not valid", arg)
		}
		base = p
	}
	r.Flags |= NATProtoOffset
	r.BasePort = base
	return nil
}

// parseTo parses "[addr[-addr]][:ports]" or, for IPv6, "[addr[-addr]]:ports"
// with brackets, as libxt_NAT's parse_to does, quirks included: without
// brackets a second colon means the whole is an IPv6 address, and a colon
// at offset 0 or 2 means no address at all (":80", "[]:80").
func (r *NATRange) parseTo(arg string, portOK bool, f translator.Family) error {
	var addrs string
	colon := -1
	if open := strings.IndexByte(arg, '['); open < 0 {
		colon = strings.IndexByte(arg, ':')
		if colon >= 0 && strings.IndexByte(arg[colon+1:], ':') >= 0 {
			colon = -1
		}
		addrs = arg
		if colon >= 0 {
			addrs = arg[:colon]
		}
	} else {
		start := open + 1
		end := strings.IndexByte(arg[start:], ']')
		if end < 0 || f != translator.IPv6 {
			return Errorf("Invalid address format")
		}
		end += start
		addrs = arg[start:end]
		if c := strings.IndexByte(arg[end+1:], ':'); c >= 0 {
			colon = end + 1 + c
		}
	}

	if colon >= 0 {
		if err := r.parsePorts(arg[colon+1:], portOK); err != nil {
			return err
		}
		if colon == 0 || colon == 2 {
			return nil
		}
	}

	r.Flags |= NATMapIPs
	lo, hi, isRange := strings.Cut(addrs, "-")
	min, ok := parseInetPton(lo, f)
	if !ok {
		return Errorf("Bad IP address \"%s\"", lo)
	}
	max := min
	if isRange {
		if max, ok = parseInetPton(hi, f); !ok {
			return Errorf("Bad IP address \"%s\"", hi)
		}
	}
	r.MinAddr, r.MaxAddr = min, max
	return nil
}

// parseInetPton parses an address as inet_pton does: dotted quad for
// IPv4, the RFC 4291 forms without zone for IPv6.
func parseInetPton(s string, f translator.Family) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	if f == translator.IPv6 {
		return a, a.Is6()
	}
	return a, a.Is4()
}

// String prints the range as libxt_NAT's sprint_range does; IPv6 addresses
// are bracketed when ports follow.
func (r *NATRange) String() string {
	var b strings.Builder
	brackets := r.MinAddr.Is6() && r.Flags&NATProtoSpecified != 0
	if r.Flags&NATMapIPs != 0 {
		if brackets {
			b.WriteByte('[')
		}
		b.WriteString(translator.InetNtop(r.MinAddr))
		if r.MinAddr != r.MaxAddr {
			b.WriteByte('-')
			b.WriteString(translator.InetNtop(r.MaxAddr))
		}
		if brackets {
			b.WriteByte(']')
		}
	}
	if r.Flags&NATProtoSpecified != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(r.MinPort)))
		if r.MaxPort != r.MinPort {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(r.MaxPort)))
		}
		if r.Flags&NATProtoOffset != 0 {
			b.WriteByte('/')
			b.WriteString(strconv.Itoa(int(r.BasePort)))
		}
	}
	return b.String()
}

// save appends the range option and the flags as __NAT_print does. opt is
// "--to-destination ", "--to-source " or "--to-ports "; portsOnly drops
// the colon before the ports (MASQUERADE, REDIRECT).
func (r *NATRange) save(b *strings.Builder, opt string, portsOnly bool) {
	s := r.String()
	if strings.HasPrefix(s, ":") && portsOnly {
		s = s[1:]
	}
	if s != "" {
		b.WriteString(" " + opt + s)
	}
	if r.Flags&NATProtoRandom != 0 {
		b.WriteString(" --random")
	}
	if r.Flags&NATProtoRandomFully != 0 {
		b.WriteString(" --random-fully")
	}
	if r.Flags&NATPersistent != 0 {
		b.WriteString(" --persistent")
	}
}
