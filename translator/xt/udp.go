package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// UDP is the udp match (-p udp -m udp): source and destination port
// ranges (struct xt_udp).
type UDP struct {
	SrcPorts, DstPorts PortRange
	InvSrc, InvDst     bool
}

const (
	udpSport = iota
	udpDport
)

var udpOptions = []Option{
	{Name: "source-port", Type: PortRC, ID: udpSport, Flags: Invert},
	{Name: "sport", Type: PortRC, ID: udpSport, Flags: Invert},
	{Name: "destination-port", Type: PortRC, ID: udpDport, Flags: Invert},
	{Name: "dport", Type: PortRC, ID: udpDport, Flags: Invert},
}

func init() {
	RegisterMatch(&MatchDef{
		Name:    "udp",
		Options: udpOptions,
		New: func(translator.Family) MatchParser {
			return &UDP{SrcPorts: AllPorts, DstPorts: AllPorts}
		},
	})
}

// Name returns "udp".
func (m *UDP) Name() string { return "udp" }

// Parse takes --sport or --dport.
func (m *UDP) Parse(c *Call) error {
	r := PortRange{uint16(c.Range[0]), uint16(c.Range[1])}
	if c.Opt.ID == udpSport {
		m.SrcPorts, m.InvSrc = r, c.Invert
	} else {
		m.DstPorts, m.InvDst = r, c.Invert
	}
	return nil
}

// Final has nothing to check.
func (m *UDP) Final(*Final) error { return nil }

// Save prints the match as udp_save does.
func (m *UDP) Save(b *strings.Builder, _ translator.Family) {
	savePorts(b, "sport", m.SrcPorts, m.InvSrc)
	savePorts(b, "dport", m.DstPorts, m.InvDst)
}

// Check requires -p udp.
func (m *UDP) Check(c *translator.CheckContext) error {
	return c.RequireProto("udp match", packet.ProtoUDP)
}

// Match evaluates the match as the kernel's udp_mt.
func (m *UDP) Match(c *translator.Context) bool {
	p := c.Packet
	if p.Fragment {
		return false
	}
	if p.L4Truncated {
		c.HotDrop = true
		return false
	}
	return m.SrcPorts.Contains(p.SrcPort) != m.InvSrc && m.DstPorts.Contains(p.DstPort) != m.InvDst
}

// Lower compiles the match as udp_mt runs: later fragments fail, a short
// header is dropped, then the ports.
func (m *UDP) Lower(b *plan.Builder) error {
	b.NotFragment()
	b.NeedL4(8)
	b.RangeUint(plan.FieldSport, uint64(m.SrcPorts[0]), uint64(m.SrcPorts[1]), m.InvSrc)
	b.RangeUint(plan.FieldDport, uint64(m.DstPorts[0]), uint64(m.DstPorts[1]), m.InvDst)
	return nil
}
