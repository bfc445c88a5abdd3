package xt

import (
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// IPRange is the iprange match, revision 1: source and destination
// address ranges, each inclusive (struct xt_iprange_mtinfo).
type IPRange struct {
	SrcMin, SrcMax netip.Addr
	DstMin, DstMax netip.Addr
	// Src and Dst say which ranges are given (IPRANGE_SRC, IPRANGE_DST).
	Src, Dst       bool
	InvSrc, InvDst bool
}

const (
	iprangeSrc = iota
	iprangeDst
)

func init() {
	RegisterMatch(&MatchDef{
		Name: "iprange",
		Options: []Option{
			{Name: "src-range", Type: String, ID: iprangeSrc, Flags: Invert},
			{Name: "dst-range", Type: String, ID: iprangeDst, Flags: Invert},
		},
		New: func(translator.Family) MatchParser { return &IPRange{} },
	})
}

// Name returns "iprange".
func (m *IPRange) Name() string { return "iprange" }

// parseIPRangeAddr parses one end of a range as iprange_parse_spec does:
// xtables_numeric_to_ipaddr for IPv4, inet_pton for IPv6.
func parseIPRangeAddr(s string, f translator.Family) (netip.Addr, bool) {
	if f == translator.IPv6 {
		a, err := netip.ParseAddr(s)
		return a, err == nil && a.Is6() && a.Zone() == ""
	}
	// __numeric_to_ipaddr reads the address from a 20-byte buffer:
	// whatever is longer is cut to 19 bytes first.
	if len(s) > 19 {
		s = s[:19]
	}
	return ParseIPv4Dotted(s)
}

// parseIPRange parses "ip[-ip]" as iprange_parse_range does. A single
// address is a range of one. A reversed range is accepted: iptables only
// warns that it will never match.
func parseIPRange(s string, f translator.Family, opt string) (lo, hi netip.Addr, err error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		to = from
	}
	for i, spec := range []string{from, to} {
		a, ok := parseIPRangeAddr(spec, f)
		if !ok {
			return lo, hi, Errorf("iprange: Bad value for \"%s\" option: \"%s\"", opt, spec)
		}
		if i == 0 {
			lo = a
		} else {
			hi = a
		}
	}
	return lo, hi, nil
}

// Parse takes --src-range or --dst-range.
func (m *IPRange) Parse(c *Call) error {
	switch c.Opt.ID {
	case iprangeSrc:
		lo, hi, err := parseIPRange(c.Arg, c.Family, "--src-range")
		if err != nil {
			return err
		}
		m.SrcMin, m.SrcMax, m.Src = lo, hi, true
		m.InvSrc = m.InvSrc || c.Invert
	case iprangeDst:
		lo, hi, err := parseIPRange(c.Arg, c.Family, "--dst-range")
		if err != nil {
			return err
		}
		m.DstMin, m.DstMax, m.Dst = lo, hi, true
		m.InvDst = m.InvDst || c.Invert
	}
	return nil
}

// Final requires a range.
func (m *IPRange) Final(f *Final) error {
	if f.Seen == 0 {
		return f.Errorf("iprange match: You must specify `--src-range' or `--dst-range'")
	}
	return nil
}

// Save prints the match as iprange_mt4_save and iprange_mt6_save do.
func (m *IPRange) Save(b *strings.Builder, _ translator.Family) {
	if m.Src {
		SaveInv(b, m.InvSrc)
		Savef(b, " --src-range %s-%s", translator.InetNtop(m.SrcMin), translator.InetNtop(m.SrcMax))
	}
	if m.Dst {
		SaveInv(b, m.InvDst)
		Savef(b, " --dst-range %s-%s", translator.InetNtop(m.DstMin), translator.InetNtop(m.DstMax))
	}
}

// Check accepts the match anywhere: the kernel checks nothing.
func (m *IPRange) Check(*translator.CheckContext) error { return nil }

// Match evaluates the match as iprange_mt4 and iprange_mt6: each given
// range must hold its address (or not, inverted). Addresses compare as
// big-endian numbers.
func (m *IPRange) Match(c *translator.Context) bool {
	p := c.Packet
	if m.Src && inRange(p.Src, m.SrcMin, m.SrcMax) == m.InvSrc {
		return false
	}
	if m.Dst && inRange(p.Dst, m.DstMin, m.DstMax) == m.InvDst {
		return false
	}
	return true
}

func inRange(a, lo, hi netip.Addr) bool {
	return a.Compare(lo) >= 0 && a.Compare(hi) <= 0
}

// Lower compiles the address ranges.
func (m *IPRange) Lower(b *plan.Builder) error {
	if m.Src {
		b.Range(plan.FieldSrc, m.SrcMin.AsSlice(), m.SrcMax.AsSlice(), m.InvSrc)
	}
	if m.Dst {
		b.Range(plan.FieldDst, m.DstMin.AsSlice(), m.DstMax.AsSlice(), m.InvDst)
	}
	return nil
}
