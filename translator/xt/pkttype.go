package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// PktType is the pkttype match: the link-layer class of the packet
// (struct xt_pkttype_info).
type PktType struct {
	PktType packet.PktType
	Invert  bool
}

// pktTypeNames are the names --pkt-type takes; saving prints the first
// with the value, so the aliases come last.
var pktTypeNames = []struct {
	name string
	typ  packet.PktType
}{
	{"unicast", packet.Host},
	{"broadcast", packet.Broadcast},
	{"multicast", packet.Multicast},
	{"otherhost", packet.OtherHost},
	{"bcast", packet.Broadcast},
	{"mcast", packet.Multicast},
	{"host", packet.Host},
}

func init() {
	RegisterMatch(&MatchDef{
		Name: "pkttype",
		Options: []Option{
			{Name: "pkt-type", Type: String, Flags: Mand | Invert},
		},
		New: func(translator.Family) MatchParser { return &PktType{} },
	})
}

// Name returns "pkttype".
func (m *PktType) Name() string { return "pkttype" }

// Parse takes --pkt-type, a name in any case.
func (m *PktType) Parse(c *Call) error {
	for _, n := range pktTypeNames {
		if strings.EqualFold(c.Arg, n.name) {
			m.PktType = n.typ
			m.Invert = c.Invert
			return nil
		}
	}
	return c.Errorf("Bad packet type '%s'", c.Arg)
}

// Final has nothing to check.
func (m *PktType) Final(*Final) error { return nil }

// Save prints [!] --pkt-type NAME, or the number for a type without one.
func (m *PktType) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	b.WriteString(" --pkt-type ")
	for _, n := range pktTypeNames {
		if n.typ == m.PktType {
			b.WriteString(n.name)
			return
		}
	}
	Savef(b, "%d", m.PktType)
}

// Check accepts the match anywhere.
func (m *PktType) Check(*translator.CheckContext) error { return nil }

// Match compares the packet type as pkttype_mt does: a looped-back packet
// counts as multicast when it is IPv6 or goes to an IPv4 multicast
// address, and as broadcast otherwise.
func (m *PktType) Match(c *translator.Context) bool {
	p := c.Packet
	t := p.PktType
	if t == packet.Loopback {
		switch {
		case c.Family == translator.IPv4 && p.Dst.Is4() && p.Dst.IsMulticast():
			t = packet.Multicast
		case c.Family == translator.IPv6:
			t = packet.Multicast
		default:
			t = packet.Broadcast
		}
	}
	return (t == m.PktType) != m.Invert
}

// Lower compiles the packet type; the hook program classifies looped-back
// packets as the match does.
func (m *PktType) Lower(b *plan.Builder) error {
	b.EqUint(plan.FieldPktType, uint64(m.PktType), 0xff, m.Invert)
	return nil
}
