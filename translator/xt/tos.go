package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// TOS is the tos match, revision 1: the IPv4 TOS byte or IPv6 traffic
// class, masked, compared with a value (struct xt_tos_match_info).
type TOS struct {
	Value, Mask uint8
	Invert      bool
}

func init() {
	RegisterMatch(&MatchDef{
		Name: "tos",
		Options: []Option{
			// Max is the mask a symbolic name gets: revision 1 compares
			// only the six bits the names were defined in.
			{Name: "tos", Type: TOSMask, Flags: Invert | Mand, Max: 0x3F},
		},
		New: func(translator.Family) MatchParser { return &TOS{} },
	})
}

// Name returns "tos".
func (m *TOS) Name() string { return "tos" }

// Parse takes --tos value[/mask] or a symbolic name.
func (m *TOS) Parse(c *Call) error {
	m.Value, m.Mask, m.Invert = c.TOS, c.TOSMask, c.Invert
	return nil
}

// Final has nothing to check.
func (m *TOS) Final(*Final) error { return nil }

// Save prints [!] --tos 0xVV/0xMM, as tos_mt_save does.
func (m *TOS) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	Savef(b, " --tos 0x%02x/0x%02x", m.Value, m.Mask)
}

// Check accepts the match anywhere.
func (m *TOS) Check(*translator.CheckContext) error { return nil }

// Match compares the TOS byte (IPv4) or traffic class (IPv6), masked, as
// tos_mt does.
func (m *TOS) Match(c *translator.Context) bool {
	return (c.Packet.TOS&m.Mask == m.Value) != m.Invert
}

// Lower compiles the masked comparison of the TOS byte.
func (m *TOS) Lower(b *plan.Builder) error {
	b.EqUint(plan.FieldTOS, uint64(m.Value), uint64(m.Mask), m.Invert)
	return nil
}
