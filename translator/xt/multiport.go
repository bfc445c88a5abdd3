package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// MultiportFlags says which port of a packet multiport compares
// (enum xt_multiport_flags).
type MultiportFlags uint8

// Which ports multiport looks at.
const (
	MultiportSource      MultiportFlags = iota // --sports
	MultiportDestination                       // --dports
	MultiportEither                            // --ports: source or destination
)

// MultiportMax is XT_MULTI_PORTS: a list holds at most 15 ports, a range
// taking two.
const MultiportMax = 15

// Multiport is the multiport match, revision 1: a list of ports and port
// ranges (struct xt_multiport_v1). Ports[i] with PFlags[i] set starts a
// range that Ports[i+1] ends.
type Multiport struct {
	Flags  MultiportFlags
	Count  uint8
	Ports  [MultiportMax]uint16
	PFlags [MultiportMax]bool
	Invert bool
}

const (
	multiportSource = iota
	multiportDest
	multiportEither
)

// Every option excludes all three, itself included, so that only one
// list can be given, once.
const multiportAny = 1<<multiportSource | 1<<multiportDest | 1<<multiportEither

var multiportOptions = []Option{
	{Name: "source-ports", Type: String, ID: multiportSource, Excl: multiportAny, Flags: Invert},
	{Name: "sports", Type: String, ID: multiportSource, Excl: multiportAny, Flags: Invert},
	{Name: "destination-ports", Type: String, ID: multiportDest, Excl: multiportAny, Flags: Invert},
	{Name: "dports", Type: String, ID: multiportDest, Excl: multiportAny, Flags: Invert},
	{Name: "ports", Type: String, ID: multiportEither, Excl: multiportAny, Flags: Invert},
}

func init() {
	RegisterMatch(&MatchDef{
		Name:    "multiport",
		Options: multiportOptions,
		New:     func(translator.Family) MatchParser { return &Multiport{} },
	})
}

// Name returns "multiport".
func (m *Multiport) Name() string { return "multiport" }

// multiportProtoName is proto_to_name: the protocols whose ports
// multiport understands, by the name services are looked up with.
func multiportProtoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoUDPLite:
		return "udplite"
	case packet.ProtoSCTP:
		return "sctp"
	case packet.ProtoDCCP:
		return "dccp"
	}
	return ""
}

// multiportCheckProto is check_proto: the rule must say -p with one of
// the protocols multiport knows, not inverted.
func multiportCheckProto(r *translator.Rule) (string, error) {
	if r.InvProto {
		return "", Errorf("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP")
	}
	if name := multiportProtoName(r.Proto); name != "" {
		return name, nil
	}
	if r.Proto == 0 {
		return "", Errorf("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
	}
	return "", Errorf("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP")
}

// Parse takes one of the port lists, as parse_multi_ports_v1 reads it:
// comma-separated ports or "lo:hi" ranges, 15 ports at most.
func (m *Multiport) Parse(c *Call) error {
	proto, err := multiportCheckProto(c.Rule)
	if err != nil {
		return err
	}
	m.PFlags = [MultiportMax]bool{}
	items := strings.Split(c.Arg, ",")
	i := 0
	for _, item := range items {
		if i == MultiportMax {
			return c.Errorf("too many ports specified")
		}
		lo, hi, isRange := strings.Cut(item, ":")
		if isRange && i == MultiportMax-1 {
			return c.Errorf("too many ports specified")
		}
		if m.Ports[i], err = ParsePort(lo, proto); err != nil {
			return err
		}
		if isRange {
			m.PFlags[i] = true
			i++
			if m.Ports[i], err = ParsePort(hi, proto); err != nil {
				return err
			}
			if m.Ports[i-1] >= m.Ports[i] {
				return c.Errorf("invalid portrange specified")
			}
		}
		i++
	}
	m.Count = uint8(i)
	switch c.Opt.ID {
	case multiportSource:
		m.Flags = MultiportSource
	case multiportDest:
		m.Flags = MultiportDestination
	default:
		m.Flags = MultiportEither
	}
	if c.Invert {
		m.Invert = true
	}
	return nil
}

// Final requires a port list.
func (m *Multiport) Final(f *Final) error {
	if f.Seen == 0 {
		return f.Errorf("no ports specified")
	}
	return nil
}

// Save prints the match as multiport_save_v1 does, ports as numbers.
func (m *Multiport) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	switch m.Flags {
	case MultiportSource:
		b.WriteString(" --sports ")
	case MultiportDestination:
		b.WriteString(" --dports ")
	case MultiportEither:
		b.WriteString(" --ports ")
	}
	for i := 0; i < int(m.Count) && i < MultiportMax; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		Savef(b, "%d", m.Ports[i])
		if m.PFlags[i] && i+1 < MultiportMax {
			i++
			Savef(b, ":%d", m.Ports[i])
		}
	}
}

// Check makes the kernel's multiport_mt_check: a protocol with ports,
// not inverted, a known mode and at most 15 ports.
func (m *Multiport) Check(c *translator.CheckContext) error {
	if multiportProtoName(c.Rule.Proto) == "" || c.Rule.InvProto {
		return c.Errorf("multiport match: only valid for protocols TCP, UDP, UDP-Lite, SCTP and DCCP, not inverted")
	}
	if m.Flags > MultiportEither {
		return c.Errorf("multiport match: unknown mode %d", m.Flags)
	}
	if m.Count > MultiportMax {
		return c.Errorf("multiport match: %d ports, at most %d allowed", m.Count, MultiportMax)
	}
	return nil
}

// Match evaluates the match as the kernel's multiport_mt: fragments other
// than the first never match, a first fragment too short for the two
// ports is dropped, and the first port or range that matches decides.
func (m *Multiport) Match(c *translator.Context) bool {
	p := c.Packet
	if p.Fragment {
		return false
	}
	h := l4Header(p, 4)
	if h == nil {
		c.HotDrop = true
		return false
	}
	src := uint16(h[0])<<8 | uint16(h[1])
	dst := uint16(h[2])<<8 | uint16(h[3])
	for i := 0; i < int(m.Count) && i < MultiportMax; i++ {
		r := PortRange{m.Ports[i], m.Ports[i]}
		if m.PFlags[i] && i+1 < MultiportMax {
			i++
			r[1] = m.Ports[i]
		}
		switch m.Flags {
		case MultiportSource:
			if r.Contains(src) {
				return !m.Invert
			}
		case MultiportDestination:
			if r.Contains(dst) {
				return !m.Invert
			}
		case MultiportEither:
			if r.Contains(src) || r.Contains(dst) {
				return !m.Invert
			}
		}
	}
	return m.Invert
}

// Lower compiles the match as multiport_mt runs: later fragments fail,
// fewer than four bytes of ports are dropped, then the port list.
func (m *Multiport) Lower(b *plan.Builder) error {
	b.NotFragment()
	b.NeedL4(4)
	var ranges [][2]uint16
	for i := 0; i < int(m.Count) && i < MultiportMax; i++ {
		r := [2]uint16{m.Ports[i], m.Ports[i]}
		if m.PFlags[i] && i+1 < MultiportMax {
			i++
			r[1] = m.Ports[i]
		}
		ranges = append(ranges, r)
	}
	switch m.Flags {
	case MultiportSource:
		b.Set(plan.FieldSport, ranges, m.Invert)
	case MultiportDestination:
		b.Set(plan.FieldDport, ranges, m.Invert)
	default:
		b.SetEither(ranges, m.Invert)
	}
	return nil
}
