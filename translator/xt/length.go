package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// Length is the length match: the IP packet length within an inclusive
// range (struct xt_length_info).
type Length struct {
	Min, Max uint16
	Invert   bool
}

func init() {
	RegisterMatch(&MatchDef{
		Name: "length",
		Options: []Option{
			{Name: "length", Type: Uint16RC, Flags: Mand | Invert},
		},
		New: func(translator.Family) MatchParser { return &Length{} },
	})
}

// Name returns "length".
func (m *Length) Name() string { return "length" }

// Parse takes --length min[:max]; a single value is a range of one.
func (m *Length) Parse(c *Call) error {
	m.Min, m.Max = uint16(c.Range[0]), uint16(c.Range[0])
	if c.NVals >= 2 {
		m.Max = uint16(c.Range[1])
	}
	m.Invert = c.Invert
	return nil
}

// Final has nothing to check.
func (m *Length) Final(*Final) error { return nil }

// Save prints [!] --length min[:max], one number when min equals max.
func (m *Length) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	b.WriteString(" --length ")
	b.WriteString(PortRange{m.Min, m.Max}.String())
}

// Check accepts the match anywhere.
func (m *Length) Check(*translator.CheckContext) error { return nil }

// Match compares the length the IP header gives: the IPv4 total length,
// or the IPv6 payload length plus the 40-byte header (in 16 bits, as the
// kernel adds them).
func (m *Length) Match(c *translator.Context) bool {
	n := c.Packet.Len
	return (m.Min <= n && n <= m.Max) != m.Invert
}

// Lower compiles the length range on the IP packet length.
func (m *Length) Lower(b *plan.Builder) error {
	b.RangeUint(plan.FieldLen, uint64(m.Min), uint64(m.Max), m.Invert)
	return nil
}
