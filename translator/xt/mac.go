package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// MAC is the mac match: the Ethernet source address of a received packet
// (struct xt_mac_info).
type MAC struct {
	SrcAddr [6]byte
	Invert  bool
}

// macHooks are the hooks where a received packet still has its Ethernet
// header: the kernel's .hooks of the mac match.
const macHooks translator.HookMask = 1<<translator.PreRouting | 1<<translator.Input | 1<<translator.Forward

func init() {
	RegisterMatch(&MatchDef{
		Name: "mac",
		Options: []Option{
			{Name: "mac-source", Type: EtherMAC, Flags: Mand | Invert},
		},
		New: func(translator.Family) MatchParser { return &MAC{} },
	})
}

// Name returns "mac".
func (m *MAC) Name() string { return "mac" }

// Parse takes --mac-source XX:XX:XX:XX:XX:XX.
func (m *MAC) Parse(c *Call) error {
	m.SrcAddr, m.Invert = c.MAC, c.Invert
	return nil
}

// Final has nothing to check.
func (m *MAC) Final(*Final) error { return nil }

// Save prints [!] --mac-source in lower-case hex, as xtables_print_mac.
func (m *MAC) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	a := m.SrcAddr
	Savef(b, " --mac-source %02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5])
}

// Check allows the match only where packets come in from a device.
func (m *MAC) Check(c *translator.CheckContext) error {
	return c.RequireHooks("mac match", macHooks)
}

// Match compares the source address as mac_mt does. A packet without an
// Ethernet header (SrcMAC unset: sent by this host, or received on a
// device of another type) never matches, inverted or not.
func (m *MAC) Match(c *translator.Context) bool {
	src := c.Packet.SrcMAC
	if len(src) != 6 {
		return false
	}
	return (string(src) == string(m.SrcAddr[:])) != m.Invert
}

// Lower compiles the source MAC test; a packet without an Ethernet header
// never matches, inverted or not.
func (m *MAC) Lower(b *plan.Builder) error {
	b.EqUint(plan.FieldHasMAC, 1, 0xff, false)
	b.Eq(plan.FieldSrcMAC, m.SrcAddr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, m.Invert)
	return nil
}
