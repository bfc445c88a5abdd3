package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// TCP is the tcp match (-p tcp -m tcp): ports, flags and an option
// (struct xt_tcp).
type TCP struct {
	SrcPorts, DstPorts PortRange
	// Option is a TCP option kind that must be present; 0 for none.
	Option uint8
	// FlagMask and FlagCmp: the flags in FlagMask must equal FlagCmp.
	FlagMask, FlagCmp uint8
	InvSrc, InvDst    bool
	InvOption         bool
	InvFlags          bool
}

const (
	tcpSport = iota
	tcpDport
	tcpSyn
	tcpFlags
	tcpOption
)

// The tcp extension parses in the old style (tcp_parse): its own checks
// and messages, hence Multi and Invert on every option.
var tcpOptions = []Option{
	{Name: "source-port", Type: Raw, ID: tcpSport, Flags: Multi | Invert},
	{Name: "sport", Type: Raw, ID: tcpSport, Flags: Multi | Invert},
	{Name: "destination-port", Type: Raw, ID: tcpDport, Flags: Multi | Invert},
	{Name: "dport", Type: Raw, ID: tcpDport, Flags: Multi | Invert},
	{Name: "syn", Type: None, ID: tcpSyn, Flags: Multi | Invert},
	{Name: "tcp-flags", Type: Raw, ID: tcpFlags, Flags: Multi | Invert},
	{Name: "tcp-option", Type: Raw, ID: tcpOption, Flags: Multi | Invert},
}

func init() {
	RegisterMatch(&MatchDef{
		Name:    "tcp",
		Options: tcpOptions,
		New: func(translator.Family) MatchParser {
			return &TCP{SrcPorts: AllPorts, DstPorts: AllPorts}
		},
	})
}

// Name returns "tcp".
func (m *TCP) Name() string { return "tcp" }

// ParsePortRange parses "port", "port:port", "port:" or ":port" for the
// protocol's services, as parse_tcp_ports and parse_udp_ports do.
func ParsePortRange(s, proto string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, ":")
	if !isRange {
		p, err := ParsePort(s, proto)
		return PortRange{p, p}, err
	}
	r := AllPorts
	var err error
	if lo != "" {
		if r[0], err = ParsePort(lo, proto); err != nil {
			return r, err
		}
	}
	if hi != "" {
		if r[1], err = ParsePort(hi, proto); err != nil {
			return r, err
		}
	}
	if r[0] > r[1] {
		return r, Errorf("invalid portrange (min > max)")
	}
	return r, nil
}

var tcpFlagNames = []struct {
	name string
	flag uint8
}{
	{"FIN", 0x01}, {"SYN", 0x02}, {"RST", 0x04}, {"PSH", 0x08},
	{"ACK", 0x10}, {"URG", 0x20}, {"ALL", 0x3f}, {"NONE", 0},
}

// ParseTCPFlags parses a comma-separated list of TCP flag names.
func ParseTCPFlags(s string) (uint8, error) {
	var f uint8
	for _, name := range strings.Split(s, ",") {
		if name == "" {
			continue // strtok skips empty fields
		}
		found := false
		for _, n := range tcpFlagNames {
			if strings.EqualFold(n.name, name) {
				f |= n.flag
				found = true
				break
			}
		}
		if !found {
			return 0, Errorf("Unknown TCP flag `%s'", name)
		}
	}
	return f, nil
}

// SaveTCPFlags appends flags as names in iptables' order, or NONE.
func SaveTCPFlags(b *strings.Builder, flags uint8) {
	first := true
	for _, n := range tcpFlagNames[:6] {
		if flags&n.flag != 0 {
			if !first {
				b.WriteByte(',')
			}
			b.WriteString(n.name)
			first = false
		}
	}
	if first {
		b.WriteString("NONE")
	}
}

// Parse takes one tcp option.
func (m *TCP) Parse(c *Call) error {
	switch c.Opt.ID {
	case tcpSport:
		if c.Has(tcpSport) {
			return c.Errorf("Only one `--source-port' allowed")
		}
		r, err := ParsePortRange(c.Arg, "tcp")
		m.SrcPorts, m.InvSrc = r, c.Invert
		return err
	case tcpDport:
		if c.Has(tcpDport) {
			return c.Errorf("Only one `--destination-port' allowed")
		}
		r, err := ParsePortRange(c.Arg, "tcp")
		m.DstPorts, m.InvDst = r, c.Invert
		return err
	case tcpSyn, tcpFlags:
		if c.Has(tcpSyn) || c.Has(tcpFlags) {
			return c.Errorf("Only one of `--syn' or `--tcp-flags'  allowed")
		}
		mask, cmp := "SYN,RST,ACK,FIN", "SYN"
		if c.Opt.ID == tcpFlags {
			second, ok := c.TakeArg()
			if !ok {
				return c.Errorf("--tcp-flags requires two args.")
			}
			mask, cmp = c.Arg, second
		}
		var err error
		if m.FlagMask, err = ParseTCPFlags(mask); err != nil {
			return err
		}
		if m.FlagCmp, err = ParseTCPFlags(cmp); err != nil {
			return err
		}
		m.InvFlags = c.Invert
		// --syn and --tcp-flags share one flag bit in tcp_parse.
		c.Seen |= Bit(tcpSyn) | Bit(tcpFlags)
		return nil
	case tcpOption:
		if c.Has(tcpOption) {
			return c.Errorf("Only one `--tcp-option' allowed")
		}
		v, ok := translator.ParseUint(c.Arg, 1, 255)
		if !ok {
			return c.Errorf("Bad TCP option \"%s\"", c.Arg)
		}
		m.Option, m.InvOption = uint8(v), c.Invert
	}
	return nil
}

// Final has nothing to check.
func (m *TCP) Final(*Final) error { return nil }

func savePorts(b *strings.Builder, name string, r PortRange, inv bool) {
	if r == AllPorts && !inv {
		return
	}
	SaveInv(b, inv)
	b.WriteString(" --" + name + " " + r.String())
}

// Save prints the match as tcp_save does.
func (m *TCP) Save(b *strings.Builder, _ translator.Family) {
	savePorts(b, "sport", m.SrcPorts, m.InvSrc)
	savePorts(b, "dport", m.DstPorts, m.InvDst)
	if m.Option != 0 || m.InvOption {
		SaveInv(b, m.InvOption)
		Savef(b, " --tcp-option %d", m.Option)
	}
	if m.FlagMask != 0 || m.InvFlags {
		SaveInv(b, m.InvFlags)
		b.WriteString(" --tcp-flags ")
		SaveTCPFlags(b, m.FlagMask)
		b.WriteByte(' ')
		SaveTCPFlags(b, m.FlagCmp)
	}
}

// Check requires -p tcp, as the kernel does for the tcp match.
func (m *TCP) Check(c *translator.CheckContext) error {
	return c.RequireProto("tcp match", packet.ProtoTCP)
}

// Match evaluates the match as the kernel's tcp_mt: non-first fragments
// never match (an IPv4 offset of 1 is dropped), and a truncated header
// drops the packet.
//
// tcp_mt drops "fragoff == 1", which ip_tables gives in 8-byte units but
// ip6_tables in bytes (ipv6_find_hdr masks the offset field without
// shifting it), so an IPv6 fragment never has it.
func (m *TCP) Match(c *translator.Context) bool {
	p := c.Packet
	if p.Fragment {
		if p.FragOffset == 1 && !p.IPv6 {
			c.HotDrop = true
		}
		return false
	}
	if p.Proto != packet.ProtoTCP || p.L4Truncated {
		c.HotDrop = true
		return false
	}
	if m.SrcPorts.Contains(p.SrcPort) == m.InvSrc || m.DstPorts.Contains(p.DstPort) == m.InvDst {
		return false
	}
	if (p.L4()[13]&m.FlagMask == m.FlagCmp) == m.InvFlags {
		return false
	}
	if m.Option != 0 {
		found, ok := findTCPOption(p, m.Option)
		if !ok {
			c.HotDrop = true
			return false
		}
		return found != m.InvOption
	}
	return true
}

// findTCPOption walks the TCP options as tcp_find_option does. ok is false
// when the header is too short to hold what its data offset claims.
func findTCPOption(p *packet.Packet, kind uint8) (found, ok bool) {
	l4 := p.L4()
	doff := int(l4[12]>>4) * 4
	if doff < 20 {
		return false, false
	}
	if doff == 20 {
		return false, true
	}
	if len(l4) < doff {
		return false, false
	}
	op := l4[20:doff]
	for i := 0; i < len(op); {
		if op[i] == kind {
			return true, true
		}
		if op[i] < 2 || i+1 >= len(op) {
			i++
			continue
		}
		n := int(op[i+1])
		if n == 0 {
			n = 1
		}
		i += n
	}
	return false, true
}

// Lower compiles the match as tcp_mt runs: an IPv4 fragment offset of 1
// is dropped (see Match), later fragments fail, a short header is dropped, then ports and
// flags. --tcp-option needs the options walked, which the datapath does
// not do yet.
func (m *TCP) Lower(b *plan.Builder) error {
	if m.Option != 0 || m.InvOption {
		return Errorf("--tcp-option is %v", plan.ErrNotInDatapath)
	}
	if b.Family == translator.IPv4 {
		b.HotDropIf(plan.FieldFragOff, 1, 1)
	}
	b.NotFragment()
	b.NeedL4(20)
	b.RangeUint(plan.FieldSport, uint64(m.SrcPorts[0]), uint64(m.SrcPorts[1]), m.InvSrc)
	b.RangeUint(plan.FieldDport, uint64(m.DstPorts[0]), uint64(m.DstPorts[1]), m.InvDst)
	if m.FlagMask != 0 || m.InvFlags {
		b.EqUint(plan.FieldTCPFlags, uint64(m.FlagCmp), uint64(m.FlagMask), m.InvFlags)
	}
	return nil
}
