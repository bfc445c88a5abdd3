package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// DSCP is the dscp match: the six DSCP bits of the IPv4 TOS byte or IPv6
// traffic class (struct xt_dscp_info).
type DSCP struct {
	DSCP   uint8
	Invert bool
}

// dscpMax is XT_DSCP_MAX, the largest six-bit codepoint.
const dscpMax = 0x3F

const (
	dscpValue = iota
	dscpClass
)

// dscpClasses maps DiffServ class names to codepoints (dscp_helper.c),
// in the order class_to_dscp tries them.
var dscpClasses = []struct {
	name string
	dscp uint8
}{
	{"CS0", 0x00}, {"CS1", 0x08}, {"CS2", 0x10}, {"CS3", 0x18},
	{"CS4", 0x20}, {"CS5", 0x28}, {"CS6", 0x30}, {"CS7", 0x38},
	{"BE", 0x00},
	{"AF11", 0x0a}, {"AF12", 0x0c}, {"AF13", 0x0e},
	{"AF21", 0x12}, {"AF22", 0x14}, {"AF23", 0x16},
	{"AF31", 0x1a}, {"AF32", 0x1c}, {"AF33", 0x1e},
	{"AF41", 0x22}, {"AF42", 0x24}, {"AF43", 0x26},
	{"EF", 0x2e},
}

func init() {
	RegisterMatch(&MatchDef{
		Name: "dscp",
		Options: []Option{
			{Name: "dscp", Type: Uint8, ID: dscpValue, Excl: 1 << dscpClass, Max: dscpMax, Flags: Invert},
			{Name: "dscp-class", Type: String, ID: dscpClass, Excl: 1 << dscpValue, Flags: Invert},
		},
		New: func(translator.Family) MatchParser { return &DSCP{} },
	})
}

// Name returns "dscp".
func (m *DSCP) Name() string { return "dscp" }

// dscpFromClass is class_to_dscp with the match's error message.
func dscpFromClass(s string) (uint8, error) {
	if v, ok := DSCPClass(s); ok {
		return v, nil
	}
	return 0, Errorf("Invalid DSCP value `%s'", s)
}

// Parse takes --dscp or --dscp-class.
func (m *DSCP) Parse(c *Call) error {
	switch c.Opt.ID {
	case dscpValue:
		m.DSCP = uint8(c.U64)
	case dscpClass:
		v, err := dscpFromClass(c.Arg)
		if err != nil {
			return err
		}
		m.DSCP = v
	}
	if c.Invert {
		m.Invert = true
	}
	return nil
}

// Final requires one of the options.
func (m *DSCP) Final(f *Final) error {
	if f.Seen == 0 {
		return f.Errorf("DSCP match: Parameter --dscp is required")
	}
	return nil
}

// Save prints [!] --dscp 0xNN: a class prints as its codepoint.
func (m *DSCP) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	Savef(b, " --dscp 0x%02x", m.DSCP)
}

// Check refuses a codepoint over six bits, as dscp_mt_check does.
func (m *DSCP) Check(c *translator.CheckContext) error {
	if m.DSCP > dscpMax {
		return c.Errorf("dscp match: DSCP 0x%x out of range", m.DSCP)
	}
	return nil
}

// Match compares the top six bits of the TOS byte or traffic class.
func (m *DSCP) Match(c *translator.Context) bool {
	return (c.Packet.TOS>>2 == m.DSCP) != m.Invert
}

// Lower compiles the code point as the upper six bits of the TOS byte.
func (m *DSCP) Lower(b *plan.Builder) error {
	b.EqUint(plan.FieldTOS, uint64(m.DSCP)<<2, 0xfc, m.Invert)
	return nil
}
