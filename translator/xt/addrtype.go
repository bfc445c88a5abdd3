package xt

import (
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// AddrType is a set of address types: the kernel's route types (RTN_*),
// each as the bit 1<<RTN_type (XT_ADDRTYPE_*).
type AddrType uint16

// Address types, in the order of the kernel's RTN_* numbers.
const (
	AddrTypeUnspec AddrType = 1 << iota
	AddrTypeUnicast
	AddrTypeLocal
	AddrTypeBroadcast
	AddrTypeAnycast
	AddrTypeMulticast
	AddrTypeBlackhole
	AddrTypeUnreachable
	AddrTypeProhibit
	AddrTypeThrow
	AddrTypeNAT
	AddrTypeXResolve
)

// addrTypeNames are the names --src-type and --dst-type take, bit i
// named by addrTypeNames[i] (rtn_names).
var addrTypeNames = []string{
	"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST",
	"BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE",
}

// AddrTypes is what the addrtype match needs to know of the routing state
// of the network namespace a packet is judged in. The kernel answers from
// its routing tables; bpftables' model of a ruleset has none, so an
// evaluator that knows the host's addresses and routes provides them
// through LocalAddrTypes.
type AddrTypes interface {
	// Type4 returns the type inet_dev_addr_type gives an IPv4 address:
	// the type of its route in the local routing table (LOCAL for the
	// host's own addresses, BROADCAST for subnet broadcast addresses),
	// or UNICAST when it has none there or, dev being set, that route
	// is through another device. It is never asked about 0.0.0.0,
	// 255.255.255.255 or multicast addresses, whose type is fixed.
	Type4(addr netip.Addr, dev string) AddrType
	// Route6 returns what match_lookup_rt6 finds for an IPv6 address,
	// routed out of dev when dev is set: UNREACHABLE when there is no
	// route or a reject route (and then nothing else), LOCAL for an
	// address of the host (of dev, when set), ANYCAST for an anycast
	// address of the host.
	Route6(addr netip.Addr, dev string) AddrType
}

// LocalAddrTypes is the routing state addrtype is evaluated against. When
// it is nil, types are decided from the addresses alone, as for a network
// namespace that owns no address and has a route to everywhere: the
// types the kernel fixes by address (IPv4 0.0.0.0 and 255.255.255.255
// BROADCAST, 224.0.0.0/4 MULTICAST; IPv6 "::" UNSPEC, ff00::/8 MULTICAST,
// the rest but IPv4-mapped addresses UNICAST) come out as the kernel's,
// every other IPv4 address is UNICAST, and no IPv6 address is LOCAL,
// ANYCAST or UNREACHABLE. Rules such as "--dst-type LOCAL" need a real
// view to mean anything.
var LocalAddrTypes AddrTypes

// Addrtype is the addrtype match, revision 1: the types of the source
// and destination addresses (struct xt_addrtype_info_v1).
type Addrtype struct {
	Source, Dest   AddrType
	InvSrc, InvDst bool
	// LimitIn and LimitOut restrict the lookup to the input or output
	// device: an address is LOCAL only if it is an address of it.
	LimitIn, LimitOut bool
}

const (
	addrtypeSrc = iota
	addrtypeDst
	addrtypeLimitIn
	addrtypeLimitOut
)

func init() {
	RegisterMatch(&MatchDef{
		Name: "addrtype",
		Options: []Option{
			{Name: "src-type", Type: String, ID: addrtypeSrc, Flags: Invert},
			{Name: "dst-type", Type: String, ID: addrtypeDst, Flags: Invert},
			{Name: "limit-iface-in", Type: None, ID: addrtypeLimitIn, Excl: 1 << addrtypeLimitOut},
			{Name: "limit-iface-out", Type: None, ID: addrtypeLimitOut, Excl: 1 << addrtypeLimitIn},
		},
		New: func(translator.Family) MatchParser { return &Addrtype{} },
	})
}

// Name returns "addrtype".
func (m *Addrtype) Name() string { return "addrtype" }

// addrTypeByPrefix is parse_type: the first type whose name the word
// begins, in any case ("LOC" is LOCAL, "U" is UNSPEC).
func addrTypeByPrefix(word string) (AddrType, bool) {
	for i, n := range addrTypeNames {
		if len(word) <= len(n) && strings.EqualFold(n[:len(word)], word) {
			return 1 << i, true
		}
	}
	return 0, false
}

// parseAddrTypes is parse_types: a comma-separated list of types. A bad
// word before a comma is reported with the rest of the list, in the
// quotes iptables uses there.
func parseAddrTypes(arg string) (AddrType, error) {
	var mask AddrType
	for {
		word, rest, more := strings.Cut(arg, ",")
		if !more {
			break
		}
		t, ok := addrTypeByPrefix(word)
		if word == "" || !ok {
			return 0, Errorf("addrtype: bad type `%s'", arg)
		}
		mask |= t
		arg = rest
	}
	t, ok := addrTypeByPrefix(arg)
	if arg == "" || !ok {
		return 0, Errorf("addrtype: bad type \"%s\"", arg)
	}
	return mask | t, nil
}

// Parse takes one option.
func (m *Addrtype) Parse(c *Call) error {
	var err error
	switch c.Opt.ID {
	case addrtypeSrc:
		m.Source, err = parseAddrTypes(c.Arg)
		m.InvSrc = c.Invert
	case addrtypeDst:
		m.Dest, err = parseAddrTypes(c.Arg)
		m.InvDst = c.Invert
	case addrtypeLimitIn:
		m.LimitIn = true
	case addrtypeLimitOut:
		m.LimitOut = true
	}
	return err
}

// Final requires a type to match.
func (m *Addrtype) Final(f *Final) error {
	if !f.Has(addrtypeSrc) && !f.Has(addrtypeDst) {
		return f.Errorf("addrtype: you must specify --src-type or --dst-type")
	}
	return nil
}

func saveAddrTypes(b *strings.Builder, mask AddrType) {
	sep := ""
	for i, n := range addrTypeNames {
		if mask&(1<<i) != 0 {
			b.WriteString(sep + n)
			sep = ","
		}
	}
}

// Save prints the match as addrtype_save_v1 does.
func (m *Addrtype) Save(b *strings.Builder, _ translator.Family) {
	if m.Source != 0 {
		SaveInv(b, m.InvSrc)
		b.WriteString(" --src-type ")
		saveAddrTypes(b, m.Source)
	}
	if m.Dest != 0 {
		SaveInv(b, m.InvDst)
		b.WriteString(" --dst-type ")
		saveAddrTypes(b, m.Dest)
	}
	if m.LimitIn {
		b.WriteString(" --limit-iface-in")
	}
	if m.LimitOut {
		b.WriteString(" --limit-iface-out")
	}
}

// Check makes the kernel's addrtype_mt_checkentry_v1: one device limit
// at most, each only from hooks that have that device, and for IPv6 only
// the types IPv6 routing knows.
func (m *Addrtype) Check(c *translator.CheckContext) error {
	const (
		inHooks  = 1<<translator.PreRouting | 1<<translator.Input
		outHooks = 1<<translator.PostRouting | 1<<translator.Output
	)
	if m.LimitIn && m.LimitOut {
		return c.Errorf("addrtype match: both incoming and outgoing interface limitation cannot be selected")
	}
	if c.Hooks&inHooks != 0 && m.LimitOut {
		return c.Errorf("addrtype match: output interface limitation not valid in PREROUTING and INPUT")
	}
	if c.Hooks&outHooks != 0 && m.LimitIn {
		return c.Errorf("addrtype match: input interface limitation not valid in POSTROUTING and OUTPUT")
	}
	if c.Family == translator.IPv6 {
		types := m.Source | m.Dest
		switch {
		case types&AddrTypeBlackhole != 0:
			return c.Errorf("addrtype match: ipv6 BLACKHOLE matching not supported")
		case types >= AddrTypeProhibit:
			return c.Errorf("addrtype match: ipv6 PROHIBIT (THROW, NAT ..) matching not supported")
		case types&AddrTypeBroadcast != 0:
			return c.Errorf("addrtype match: ipv6 does not support BROADCAST matching")
		}
	}
	return nil
}

// Match evaluates the match as addrtype_mt_v1: the source test first, the
// destination only if the source one passed.
func (m *Addrtype) Match(c *translator.Context) bool {
	p := c.Packet
	dev := ""
	if m.LimitIn {
		dev = p.InIface
	} else if m.LimitOut {
		dev = p.OutIface
	}
	typeOf := addrType4
	if c.Family == translator.IPv6 {
		typeOf = addrType6
	}
	if m.Source != 0 && typeOf(p.Src, dev, m.Source) == m.InvSrc {
		return false
	}
	if m.Dest != 0 && typeOf(p.Dst, dev, m.Dest) == m.InvDst {
		return false
	}
	return true
}

// addrType4 is match_type: whether the type inet_dev_addr_type gives the
// address is in mask.
func addrType4(a netip.Addr, dev string, mask AddrType) bool {
	var t AddrType
	switch {
	// Modern kernels take only 0.0.0.0 of 0.0.0.0/8 as broadcast
	// (ipv4_is_zeronet); 0.1.2.3 is unicast.
	case a == netip.IPv4Unspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		t = AddrTypeBroadcast
	case a.IsMulticast():
		t = AddrTypeMulticast
	case LocalAddrTypes != nil:
		t = LocalAddrTypes.Type4(a, dev)
	default:
		t = AddrTypeUnicast
	}
	return mask&t != 0
}

// addrType6 is match_type6: every one of MULTICAST, UNICAST and UNSPEC
// in mask must hold of the address (decided by ipv6_addr_type), and if
// mask asks for LOCAL, ANYCAST or UNREACHABLE, the route lookup must
// find one of those it asks for.
func addrType6(a netip.Addr, dev string, mask AddrType) bool {
	b := a.As16()
	multicast := b[0] == 0xff
	unspec := a == netip.IPv6Unspecified()
	// ipv6_addr_type gives IPv4-mapped addresses no UNICAST flag.
	unicast := !multicast && !unspec && !a.Is4In6()
	if mask&AddrTypeMulticast != 0 && !multicast {
		return false
	}
	if mask&AddrTypeUnicast != 0 && !unicast {
		return false
	}
	if mask&AddrTypeUnspec != 0 && !unspec {
		return false
	}
	const routed = AddrTypeLocal | AddrTypeAnycast | AddrTypeUnreachable
	if mask&routed == 0 {
		return true
	}
	var found AddrType
	if LocalAddrTypes != nil {
		found = LocalAddrTypes.Route6(a, dev)
	}
	return mask&found != 0
}
