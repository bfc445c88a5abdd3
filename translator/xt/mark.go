package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// Mark is the mark match: the packet mark, masked, compared with a value
// (struct xt_mark_mtinfo1).
type Mark struct {
	Mark, Mask uint32
	Invert     bool
}

func init() {
	RegisterMatch(&MatchDef{
		Name: "mark",
		Options: []Option{
			{Name: "mark", Type: MarkMask32, Flags: Mand | Invert},
		},
		New: func(translator.Family) MatchParser { return &Mark{} },
	})
}

// Name returns "mark".
func (m *Mark) Name() string { return "mark" }

// Parse takes --mark value[/mask].
func (m *Mark) Parse(c *Call) error {
	m.Mark, m.Mask, m.Invert = c.Mark, c.MarkMask, c.Invert
	return nil
}

// Final has nothing to check.
func (m *Mark) Final(*Final) error { return nil }

// Save prints [!] --mark value[/mask].
func (m *Mark) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	b.WriteString(" --mark")
	SaveValMask(b, m.Mark, m.Mask)
}

// Check accepts the match anywhere.
func (m *Mark) Check(*translator.CheckContext) error { return nil }

// Match compares the packet mark: (mark & mask) == value.
func (m *Mark) Match(c *translator.Context) bool {
	return (c.Packet.Mark&m.Mask == m.Mark) != m.Invert
}

// Lower compiles the masked comparison of the packet mark.
func (m *Mark) Lower(b *plan.Builder) error {
	b.EqUint(plan.FieldMark, uint64(m.Mark), uint64(m.Mask), m.Invert)
	return nil
}
