package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// ICMP6 is the icmp6 match (-p ipv6-icmp --icmpv6-type): an ICMPv6 type
// and a range of codes (struct ip6t_icmp). Unlike icmp it has no "any".
type ICMP6 struct {
	Type uint8
	// Code is the inclusive range [min, max] of codes.
	Code   [2]uint8
	Invert bool
}

func init() {
	// -m icmpv6 and -m ipv6-icmp reach this extension too: the rule
	// parser maps those names to icmp6, as ip6tables does.
	RegisterMatch(&MatchDef{
		Name:   "icmp6",
		Family: translator.IPv6,
		Options: []Option{
			{Name: "icmpv6-type", Type: String, Flags: Mand | Invert},
		},
		New: func(translator.Family) MatchParser {
			return &ICMP6{Code: [2]uint8{0, 0xFF}}
		},
	})
}

// Name returns "icmp6".
func (m *ICMP6) Name() string { return "icmp6" }

// Parse takes --icmpv6-type.
func (m *ICMP6) Parse(c *Call) error {
	t, code, err := parseICMPType(icmpv6Names, "ICMPv6", c.Arg)
	if err != nil {
		return err
	}
	m.Type, m.Code = t, code
	if c.Invert {
		m.Invert = true
	}
	return nil
}

// Final has nothing to check.
func (m *ICMP6) Final(*Final) error { return nil }

// Save prints the match as icmp6_save does: the type number, with the
// first code when the codes are not all of them.
func (m *ICMP6) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	Savef(b, " --icmpv6-type %d", m.Type)
	if m.Code != [2]uint8{0, 0xFF} {
		Savef(b, "/%d", m.Code[0])
	}
}

// Check requires -p ipv6-icmp, as the kernel's icmp6 match (.proto) does.
func (m *ICMP6) Check(c *translator.CheckContext) error {
	return c.RequireProto("icmp6 match", packet.ProtoICMPv6)
}

// Match evaluates the match as the kernel's icmp6_match: fragments other
// than the first never match, and a first fragment without a whole
// 8-byte ICMPv6 header is dropped.
func (m *ICMP6) Match(c *translator.Context) bool {
	p := c.Packet
	if p.Fragment {
		return false
	}
	h := l4Header(p, 8)
	if h == nil {
		c.HotDrop = true
		return false
	}
	hit := h[0] == m.Type && m.Code[0] <= h[1] && h[1] <= m.Code[1]
	return hit != m.Invert
}

// Lower compiles the match as icmp6_match runs, like the icmp match.
func (m *ICMP6) Lower(b *plan.Builder) error {
	b.NotFragment()
	b.NeedL4(8)
	t := uint64(m.Type) << 8
	b.RangeUint(plan.FieldICMP, t|uint64(m.Code[0]), t|uint64(m.Code[1]), m.Invert)
	return nil
}
