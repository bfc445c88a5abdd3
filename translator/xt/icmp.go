package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// ICMP is the icmp match (-p icmp --icmp-type): an ICMP type and a range
// of codes (struct ipt_icmp). Type 0xFF is "any" and matches every ICMP
// packet.
type ICMP struct {
	Type uint8
	// Code is the inclusive range [min, max] of codes.
	Code   [2]uint8
	Invert bool
}

// icmpAny is the type iptables stores for "--icmp-type any".
const icmpAny = 0xFF

func init() {
	RegisterMatch(&MatchDef{
		Name:   "icmp",
		Family: translator.IPv4,
		Options: []Option{
			{Name: "icmp-type", Type: String, Flags: Mand | Invert},
		},
		// icmp_init: "any" with every code, so that "-m icmp" alone
		// would not match only echo replies (type 0).
		New: func(translator.Family) MatchParser {
			return &ICMP{Type: icmpAny, Code: [2]uint8{0, 0xFF}}
		},
	})
}

// Name returns "icmp".
func (m *ICMP) Name() string { return "icmp" }

// Parse takes --icmp-type.
func (m *ICMP) Parse(c *Call) error {
	t, code, err := parseICMPType(icmpNames, "ICMP", c.Arg)
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
func (m *ICMP) Final(*Final) error { return nil }

// Save prints the match as icmp_save does: "any", or the type number
// with the first code when the codes are not all of them.
func (m *ICMP) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	if m.Type == icmpAny && m.Code == [2]uint8{0, 0xFF} {
		b.WriteString(" --icmp-type any")
		return
	}
	Savef(b, " --icmp-type %d", m.Type)
	if m.Code != [2]uint8{0, 0xFF} {
		Savef(b, "/%d", m.Code[0])
	}
}

// Check requires -p icmp, as the kernel's icmp match (.proto) does.
func (m *ICMP) Check(c *translator.CheckContext) error {
	return c.RequireProto("icmp match", packet.ProtoICMP)
}

// Match evaluates the match as the kernel's icmp_match: fragments other
// than the first never match, and a first fragment without a whole
// 8-byte ICMP header is dropped.
func (m *ICMP) Match(c *translator.Context) bool {
	p := c.Packet
	if p.Fragment {
		return false
	}
	h := l4Header(p, 8)
	if h == nil {
		c.HotDrop = true
		return false
	}
	hit := m.Type == icmpAny || (h[0] == m.Type && m.Code[0] <= h[1] && h[1] <= m.Code[1])
	return hit != m.Invert
}

// Lower compiles the match as icmp_mt runs: later fragments fail, a
// header shorter than 8 bytes is dropped, then type and code, as one
// 16-bit field so that an inverted type-and-code range stays one test.
func (m *ICMP) Lower(b *plan.Builder) error {
	b.NotFragment()
	b.NeedL4(8)
	if m.Type == icmpAny {
		if m.Invert {
			b.Never()
		}
		return nil
	}
	t := uint64(m.Type) << 8
	b.RangeUint(plan.FieldICMP, t|uint64(m.Code[0]), t|uint64(m.Code[1]), m.Invert)
	return nil
}
