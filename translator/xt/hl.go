package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// HLMode is how the hl match compares (IP6T_HL_*).
type HLMode uint8

// Hop limit comparisons.
const (
	HLEq HLMode = iota // --hl-eq
	HLNe               // ! --hl-eq
	HLLt               // --hl-lt
	HLGt               // --hl-gt
)

// HL is the hl match: the IPv6 hop limit compared with a value
// (struct ip6t_hl_info).
type HL struct {
	Mode     HLMode
	HopLimit uint8
}

const (
	hlEq = iota
	hlLt
	hlGt
)

// One comparison only: each option excludes all three.
const hlAny = 1<<hlEq | 1<<hlLt | 1<<hlGt

func init() {
	RegisterMatch(&MatchDef{
		Name:   "hl",
		Family: translator.IPv6,
		Options: []Option{
			{Name: "hl-lt", Type: Uint8, ID: hlLt, Excl: hlAny},
			{Name: "hl-gt", Type: Uint8, ID: hlGt, Excl: hlAny},
			{Name: "hl-eq", Type: Uint8, ID: hlEq, Excl: hlAny, Flags: Invert},
			{Name: "hl", Type: Uint8, ID: hlEq, Excl: hlAny},
		},
		New: func(translator.Family) MatchParser { return &HL{} },
	})
}

// Name returns "hl".
func (m *HL) Name() string { return "hl" }

// Parse takes one comparison.
func (m *HL) Parse(c *Call) error {
	m.HopLimit = uint8(c.U64)
	switch c.Opt.ID {
	case hlEq:
		m.Mode = HLEq
		if c.Invert {
			m.Mode = HLNe
		}
	case hlLt:
		m.Mode = HLLt
	case hlGt:
		m.Mode = HLGt
	}
	return nil
}

// Final requires a comparison.
func (m *HL) Final(f *Final) error {
	if f.Seen&hlAny == 0 {
		return f.Errorf("HL match: You must specify one of `--hl-eq', `--hl-lt', `--hl-gt'")
	}
	return nil
}

// Save prints the comparison as hl_save does.
func (m *HL) Save(b *strings.Builder, _ translator.Family) {
	switch m.Mode {
	case HLEq:
		b.WriteString(" --hl-eq")
	case HLNe:
		b.WriteString(" ! --hl-eq")
	case HLLt:
		b.WriteString(" --hl-lt")
	case HLGt:
		b.WriteString(" --hl-gt")
	}
	Savef(b, " %d", m.HopLimit)
}

// Check refuses an unknown mode, as hl_mt6_check does.
func (m *HL) Check(c *translator.CheckContext) error {
	if m.Mode > HLGt {
		return c.Errorf("hl match: Unknown Hop Limit match mode: %d", m.Mode)
	}
	return nil
}

// Match compares the packet's hop limit as hl_mt6 does.
func (m *HL) Match(c *translator.Context) bool {
	hl := c.Packet.TTL
	switch m.Mode {
	case HLEq:
		return hl == m.HopLimit
	case HLNe:
		return hl != m.HopLimit
	case HLLt:
		return hl < m.HopLimit
	case HLGt:
		return hl > m.HopLimit
	}
	return false
}

// Lower compiles the comparison on the hop limit.
func (m *HL) Lower(b *plan.Builder) error {
	lowerHopCount(b, m.Mode == HLEq, m.Mode == HLNe, m.Mode == HLLt, m.HopLimit)
	return nil
}
