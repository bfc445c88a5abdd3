package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// ConnMark is the connmark match: the mark of the packet's conntrack
// entry, masked, compared with a value (struct xt_connmark_mtinfo1).
type ConnMark struct {
	Mark, Mask uint32
	Invert     bool
}

func init() {
	RegisterMatch(&MatchDef{
		Name: "connmark",
		Options: []Option{
			{Name: "mark", Type: MarkMask32, Flags: Mand | Invert},
		},
		New: func(translator.Family) MatchParser { return &ConnMark{} },
	})
}

// Name returns "connmark".
func (m *ConnMark) Name() string { return "connmark" }

// Parse takes --mark value[/mask].
func (m *ConnMark) Parse(c *Call) error {
	m.Mark, m.Mask, m.Invert = c.Mark, c.MarkMask, c.Invert
	return nil
}

// Final has nothing to check.
func (m *ConnMark) Final(*Final) error { return nil }

// Save prints [!] --mark value[/mask].
func (m *ConnMark) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	b.WriteString(" --mark")
	SaveValMask(b, m.Mark, m.Mask)
}

// Check accepts the match anywhere.
func (m *ConnMark) Check(*translator.CheckContext) error { return nil }

// Match compares the conntrack mark as connmark_mt does. A packet without
// a conntrack entry matches neither the test nor its inversion.
func (m *ConnMark) Match(c *translator.Context) bool {
	if _, tracked := ctLookup(&c.Packet.CT); !tracked {
		return false
	}
	return (c.Packet.CT.Mark&m.Mask == m.Mark) != m.Invert
}
