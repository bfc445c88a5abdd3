package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// Physdev is the physdev match: the bridge ports of a packet that crosses
// a bridge (struct xt_physdev_info).
type Physdev struct {
	// PhysIn and PhysOut are port names; a trailing "+" matches every name
	// with that prefix.
	PhysIn, PhysOut string
	// Flags has a Physdev* bit for every option given, Invert one for
	// every option given with "!".
	Flags, Invert uint8
}

// Physdev option bits (XT_PHYSDEV_OP_*), in Physdev.Flags and Invert.
const (
	PhysdevIn      = 1 << 0
	PhysdevOut     = 1 << 1
	PhysdevBridged = 1 << 2
	PhysdevIsIn    = 1 << 3
	PhysdevIsOut   = 1 << 4
)

const (
	physdevOptIn = iota
	physdevOptOut
	physdevOptIsIn
	physdevOptIsOut
	physdevOptIsBridged
)

// ifNameSize is IFNAMSIZ: names hold at most 15 bytes.
const ifNameSize = 16

func init() {
	RegisterMatch(&MatchDef{
		Name: "physdev",
		Options: []Option{
			{Name: "physdev-in", Type: String, ID: physdevOptIn, Flags: Invert},
			{Name: "physdev-out", Type: String, ID: physdevOptOut, Flags: Invert},
			{Name: "physdev-is-in", Type: None, ID: physdevOptIsIn, Flags: Invert},
			{Name: "physdev-is-out", Type: None, ID: physdevOptIsOut, Flags: Invert},
			{Name: "physdev-is-bridged", Type: None, ID: physdevOptIsBridged, Flags: Invert},
		},
		New: func(translator.Family) MatchParser { return &Physdev{} },
	})
}

// Name returns "physdev".
func (m *Physdev) Name() string { return "physdev" }

// Parse takes one physdev option; names are checked as
// xtables_parse_interface does.
func (m *Physdev) Parse(c *Call) error {
	var bit uint8
	switch c.Opt.ID {
	case physdevOptIn, physdevOptOut:
		if len(c.Arg)+1 > ifNameSize {
			return c.Errorf("interface name `%s' must be shorter than IFNAMSIZ (%d)", c.Arg, ifNameSize-1)
		}
		if c.Opt.ID == physdevOptIn {
			bit, m.PhysIn = PhysdevIn, c.Arg
		} else {
			bit, m.PhysOut = PhysdevOut, c.Arg
		}
	case physdevOptIsIn:
		bit = PhysdevIsIn
	case physdevOptIsOut:
		bit = PhysdevIsOut
	case physdevOptIsBridged:
		bit = PhysdevBridged
	}
	m.Flags |= bit
	if c.Invert {
		m.Invert |= bit
	}
	return nil
}

// Final requires at least one option.
func (m *Physdev) Final(c *Final) error {
	if c.Seen == 0 {
		return c.Errorf("PHYSDEV: no physdev option specified")
	}
	return nil
}

// Save prints the match as physdev_save does; names are printed bare.
func (m *Physdev) Save(b *strings.Builder, _ translator.Family) {
	item := func(bit uint8, text string) {
		if m.Flags&bit != 0 {
			SaveInv(b, m.Invert&bit != 0)
			b.WriteString(text)
		}
	}
	item(PhysdevIsIn, " --physdev-is-in")
	item(PhysdevIn, " --physdev-in"+word(m.PhysIn))
	item(PhysdevIsOut, " --physdev-is-out")
	item(PhysdevOut, " --physdev-out"+word(m.PhysOut))
	item(PhysdevBridged, " --physdev-is-bridged")
}

// Check makes physdev_mt_check's check: the output port is only known
// for bridged packets, and in OUTPUT a packet is never known to be
// bridged, so testing it there without requiring a bridged packet is
// refused.
func (m *Physdev) Check(c *translator.CheckContext) error {
	if m.Flags&(PhysdevOut|PhysdevIsOut) != 0 &&
		(m.Flags&PhysdevBridged == 0 || m.Invert&PhysdevBridged != 0) &&
		c.Hooks.Has(translator.Output) {
		return c.Errorf("physdev match: --physdev-out and --physdev-is-out only supported in the FORWARD and POSTROUTING chains with bridged traffic")
	}
	return nil
}

// Match evaluates the match as physdev_mt does. A packet has bridge
// information when Bridged is set or it has a bridge port; it is bridged
// (--physdev-is-bridged) when it has an output port.
func (m *Physdev) Match(c *translator.Context) bool {
	p := c.Packet
	has := func(bit uint8) bool { return m.Flags&bit != 0 }
	inv := func(bit uint8) bool { return m.Invert&bit != 0 }
	if !p.Bridged && p.PhysIn == "" && p.PhysOut == "" {
		// Without bridge information only inverted tests hold.
		for _, bit := range []uint8{PhysdevBridged, PhysdevIsIn, PhysdevIsOut, PhysdevIn, PhysdevOut} {
			if has(bit) && !inv(bit) {
				return false
			}
		}
		return true
	}
	in, out := p.PhysIn != "", p.PhysOut != ""
	if has(PhysdevBridged) && out == inv(PhysdevBridged) {
		return false
	}
	if (has(PhysdevIsIn) && in == inv(PhysdevIsIn)) || (has(PhysdevIsOut) && out == inv(PhysdevIsOut)) {
		return false
	}
	// Without an input port the --physdev-in test is skipped, not failed.
	if has(PhysdevIn) && in && translator.IfaceMatch(m.PhysIn, p.PhysIn) == inv(PhysdevIn) {
		return false
	}
	if !has(PhysdevOut) {
		return true
	}
	if !out {
		return false
	}
	return translator.IfaceMatch(m.PhysOut, p.PhysOut) != inv(PhysdevOut)
}

// word returns a name as SaveWord prints it.
func word(s string) string {
	var b strings.Builder
	SaveWord(&b, s)
	return b.String()
}
