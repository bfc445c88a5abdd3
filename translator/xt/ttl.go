package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// TTLMode is how the ttl match compares (IPT_TTL_*).
type TTLMode uint8

// TTL comparisons.
const (
	TTLEq TTLMode = iota // --ttl-eq
	TTLNe                // ! --ttl-eq
	TTLLt                // --ttl-lt
	TTLGt                // --ttl-gt
)

// TTL is the ttl match: the IPv4 time to live compared with a value
// (struct ipt_ttl_info).
type TTL struct {
	Mode TTLMode
	TTL  uint8
}

const (
	ttlEq = iota
	ttlLt
	ttlGt
)

// One comparison only: each option excludes all three.
const ttlAny = 1<<ttlEq | 1<<ttlLt | 1<<ttlGt

func init() {
	RegisterMatch(&MatchDef{
		Name:   "ttl",
		Family: translator.IPv4,
		Options: []Option{
			{Name: "ttl-lt", Type: Uint8, ID: ttlLt, Excl: ttlAny},
			{Name: "ttl-gt", Type: Uint8, ID: ttlGt, Excl: ttlAny},
			{Name: "ttl-eq", Type: Uint8, ID: ttlEq, Excl: ttlAny, Flags: Invert},
			{Name: "ttl", Type: Uint8, ID: ttlEq, Excl: ttlAny},
		},
		New: func(translator.Family) MatchParser { return &TTL{} },
	})
}

// Name returns "ttl".
func (m *TTL) Name() string { return "ttl" }

// Parse takes one comparison.
func (m *TTL) Parse(c *Call) error {
	m.TTL = uint8(c.U64)
	switch c.Opt.ID {
	case ttlEq:
		m.Mode = TTLEq
		if c.Invert {
			m.Mode = TTLNe
		}
	case ttlLt:
		m.Mode = TTLLt
	case ttlGt:
		m.Mode = TTLGt
	}
	return nil
}

// Final requires a comparison.
func (m *TTL) Final(f *Final) error {
	if f.Seen&ttlAny == 0 {
		return f.Errorf("TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt")
	}
	return nil
}

// Save prints the comparison as ttl_save does.
func (m *TTL) Save(b *strings.Builder, _ translator.Family) {
	switch m.Mode {
	case TTLEq:
		b.WriteString(" --ttl-eq")
	case TTLNe:
		b.WriteString(" ! --ttl-eq")
	case TTLLt:
		b.WriteString(" --ttl-lt")
	case TTLGt:
		b.WriteString(" --ttl-gt")
	}
	Savef(b, " %d", m.TTL)
}

// Check refuses an unknown mode, as ttl_mt_check does.
func (m *TTL) Check(c *translator.CheckContext) error {
	if m.Mode > TTLGt {
		return c.Errorf("ttl match: Unknown TTL match mode: %d", m.Mode)
	}
	return nil
}

// Match compares the packet's TTL as ttl_mt does.
func (m *TTL) Match(c *translator.Context) bool {
	ttl := c.Packet.TTL
	switch m.Mode {
	case TTLEq:
		return ttl == m.TTL
	case TTLNe:
		return ttl != m.TTL
	case TTLLt:
		return ttl < m.TTL
	case TTLGt:
		return ttl > m.TTL
	}
	return false
}

// Lower compiles the comparison on the TTL.
func (m *TTL) Lower(b *plan.Builder) error {
	lowerHopCount(b, m.Mode == TTLEq, m.Mode == TTLNe, m.Mode == TTLLt, m.TTL)
	return nil
}

// lowerHopCount compiles a TTL or hop limit comparison: equal, not equal,
// less than or (otherwise) greater than v.
func lowerHopCount(b *plan.Builder, eq, ne, lt bool, v uint8) {
	switch {
	case eq, ne:
		b.EqUint(plan.FieldTTL, uint64(v), 0xff, ne)
	case lt && v == 0, !lt && v == 0xff:
		b.Never()
	case lt:
		b.RangeUint(plan.FieldTTL, 0, uint64(v)-1, false)
	default:
		b.RangeUint(plan.FieldTTL, uint64(v)+1, 0xff, false)
	}
}
