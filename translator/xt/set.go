package xt

import (
	"encoding/binary"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// Set is the set match: the packet's addresses or ports, picked by
// direction, tested against an ipset (struct xt_set_info_match_v4, the
// revision iptables 1.8 uses on current kernels).
type Set struct {
	SetName string
	// Dim is the number of directions given (1 to 6).
	Dim int
	// Src has bit i (1 <= i <= Dim) set when dimension i of the element
	// is taken from the packet's source, clear for its destination (the
	// direction bits of struct xt_set_info's flags).
	Src    uint8
	Invert bool
	// ReturnNomatch makes an element added as "nomatch" match and a
	// normal element not match (IPSET_FLAG_RETURN_NOMATCH).
	ReturnNomatch bool
	// NoCounterUpdate and NoSubcounterUpdate are "! --update-counters"
	// and "! --update-subcounters".
	NoCounterUpdate, NoSubcounterUpdate bool
	// Packets and Bytes compare the matching element's counters.
	Packets, Bytes SetCounterMatch

	// set is the set the rule was checked against, as the kernel binds a
	// rule to its set by index when it loads it; nil when not checked
	// against known sets.
	set *translator.IPSetInfo
}

// SetCounterMatch compares an ipset element counter (struct
// ip_set_counter_match).
type SetCounterMatch struct {
	Op    SetCounterOp
	Value uint64
}

// SetCounterOp is IPSET_COUNTER_*.
type SetCounterOp uint8

// Counter comparisons.
const (
	SetCounterNone SetCounterOp = iota
	SetCounterEq
	SetCounterNe
	SetCounterLt
	SetCounterGt
)

// Matches reports whether a counter value passes the comparison.
func (m SetCounterMatch) Matches(v uint64) bool {
	switch m.Op {
	case SetCounterEq:
		return v == m.Value
	case SetCounterNe:
		return v != m.Value
	case SetCounterLt:
		return v < m.Value
	case SetCounterGt:
		return v > m.Value
	}
	return true
}

const (
	ipsetDimMax     = 6  // IPSET_DIM_MAX
	ipsetMaxNameLen = 32 // IPSET_MAXNAMELEN, with the NUL
)

const (
	setMatchSet = iota
	setReturnNomatch
	setUpdateCounters
	setUpdateSubcounters
	setPacketsEq
	setPacketsLt
	setPacketsGt
	setBytesEq
	setBytesLt
	setBytesGt
)

// The set extension parses in the old style (set_parse_v4): its own checks
// and messages, so every option may repeat and be inverted.
var setOptions = []Option{
	{Name: "match-set", Type: Raw, ID: setMatchSet, Flags: Multi | Invert},
	{Name: "set", Type: Raw, ID: setMatchSet, Flags: Multi | Invert},
	{Name: "return-nomatch", Type: None, ID: setReturnNomatch, Flags: Multi | Invert},
	{Name: "update-counters", Type: None, ID: setUpdateCounters, Flags: Multi | Invert},
	{Name: "update-subcounters", Type: None, ID: setUpdateSubcounters, Flags: Multi | Invert},
	{Name: "packets-eq", Type: Raw, ID: setPacketsEq, Flags: Multi | Invert},
	{Name: "packets-lt", Type: Raw, ID: setPacketsLt, Flags: Multi | Invert},
	{Name: "packets-gt", Type: Raw, ID: setPacketsGt, Flags: Multi | Invert},
	{Name: "bytes-eq", Type: Raw, ID: setBytesEq, Flags: Multi | Invert},
	{Name: "bytes-lt", Type: Raw, ID: setBytesLt, Flags: Multi | Invert},
	{Name: "bytes-gt", Type: Raw, ID: setBytesGt, Flags: Multi | Invert},
}

func init() {
	RegisterMatch(&MatchDef{
		Name:    "set",
		Options: setOptions,
		New:     func(translator.Family) MatchParser { return &Set{} },
	})
}

// Name returns "set".
func (m *Set) Name() string { return "set" }

// parseSetDirs is parse_dirs: up to six "src"/"dst" separated by commas,
// each recognised by its first three letters.
func (m *Set) parseSetDirs(arg string) error {
	rest, more := arg, true
	for m.Dim < ipsetDimMax && more {
		var dir string
		dir, rest, more = strings.Cut(rest, ",")
		m.Dim++
		switch {
		case strings.HasPrefix(dir, "src"):
			m.Src |= 1 << m.Dim
		case strings.HasPrefix(dir, "dst"):
		default:
			return Errorf("You must specify (the comma separated list of) 'src' or 'dst'.")
		}
	}
	if more {
		return Errorf("Can't be more src/dst options than %d.", ipsetDimMax)
	}
	return nil
}

// parseSetCounter is parse_counter: a whole unsigned 64-bit number.
func parseSetCounter(s string) (uint64, error) {
	v, ok := translator.ParseUint(s, 0, 0)
	if !ok {
		return 0, Errorf("Cannot parse %s as a counter value", s)
	}
	return v, nil
}

// Parse takes one option, with the checks of set_parse_v4.
func (m *Set) Parse(c *Call) error {
	switch id := c.Opt.ID; id {
	case setMatchSet:
		if m.Dim != 0 {
			return c.Errorf("--match-set can be specified only once")
		}
		if c.Invert {
			m.Invert = true
		}
		dirs, ok := c.TakeArg()
		if !ok {
			return c.Errorf("--match-set requires two args.")
		}
		if len(c.Arg) > ipsetMaxNameLen-1 {
			return c.Errorf("setname `%s' too long, max %d characters.", c.Arg, ipsetMaxNameLen-1)
		}
		m.SetName = c.Arg
		return m.parseSetDirs(dirs)
	case setReturnNomatch:
		if c.Invert {
			return c.Errorf("--return-nomatch flag cannot be inverted")
		}
		m.ReturnNomatch = true
	case setUpdateCounters:
		if c.Invert {
			m.NoCounterUpdate = true
		}
	case setUpdateSubcounters:
		if c.Invert {
			m.NoSubcounterUpdate = true
		}
	case setPacketsEq, setPacketsLt, setPacketsGt, setBytesEq, setBytesLt, setBytesGt:
		cm, what := &m.Packets, "packets"
		if id >= setBytesEq {
			cm, what = &m.Bytes, "bytes"
		}
		if cm.Op != SetCounterNone {
			return c.Errorf("only one of the --%s-[eq|lt|gt] is allowed", what)
		}
		switch id {
		case setPacketsEq, setBytesEq:
			cm.Op = SetCounterEq
			if c.Invert {
				cm.Op = SetCounterNe
			}
		case setPacketsLt, setBytesLt, setPacketsGt, setBytesGt:
			if c.Invert {
				return c.Errorf("--%s option cannot be inverted", c.Opt.Name)
			}
			cm.Op = SetCounterLt
			if id == setPacketsGt || id == setBytesGt {
				cm.Op = SetCounterGt
			}
		}
		v, err := parseSetCounter(c.Arg)
		if err != nil {
			return err
		}
		cm.Value = v
	}
	return nil
}

// Final is set_check_v0: --match-set is needed.
func (m *Set) Final(c *Final) error {
	if !c.Has(setMatchSet) {
		return c.Errorf("You must specify `--match-set' with proper arguments")
	}
	return nil
}

func saveSetCounter(b *strings.Builder, name string, cm SetCounterMatch) {
	switch cm.Op {
	case SetCounterEq:
		Savef(b, " --%s-eq %d", name, cm.Value)
	case SetCounterNe:
		Savef(b, " ! --%s-eq %d", name, cm.Value)
	case SetCounterLt:
		Savef(b, " --%s-lt %d", name, cm.Value)
	case SetCounterGt:
		Savef(b, " --%s-gt %d", name, cm.Value)
	}
}

// Save prints the match as set_save_v4 does.
func (m *Set) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	b.WriteString(" --match-set")
	SaveWord(b, m.SetName)
	for i := 1; i <= m.Dim; i++ {
		sep := ","
		if i == 1 {
			sep = " "
		}
		dir := "dst"
		if m.Src&(1<<i) != 0 {
			dir = "src"
		}
		b.WriteString(sep + dir)
	}
	if m.ReturnNomatch {
		b.WriteString(" --return-nomatch")
	}
	if m.NoCounterUpdate {
		b.WriteString(" ! --update-counters")
	}
	if m.NoSubcounterUpdate {
		b.WriteString(" ! --update-subcounters")
	}
	saveSetCounter(b, "packets", m.Packets)
	saveSetCounter(b, "bytes", m.Bytes)
}

// Check refuses a set that does not exist or is of the other family, as
// iptables does when it looks the set up, and too many directions, as
// set_match_v1_checkentry does. With known sets it binds the rule to its
// set, so that evaluation builds elements of the set's type.
func (m *Set) Check(c *translator.CheckContext) error {
	if m.Dim > ipsetDimMax {
		return c.Errorf("set: Protocol error: set match dimension is over the limit!")
	}
	if c.Objects == nil {
		return nil
	}
	info, ok := c.Objects.IPSet(m.SetName)
	if !ok {
		return c.Errorf("Set %s doesn't exist.", m.SetName)
	}
	if info.Family != 0 && info.Family != c.Family {
		fam := "IPv4"
		if info.Family == translator.IPv6 {
			fam = "IPv6"
		}
		return c.Errorf("The protocol family of set %s is %s, which is not applicable.", m.SetName, fam)
	}
	m.set = &info
	return nil
}

// IPSetMatcher is implemented by IPSets that model more of ip_set_test than
// membership: elements added as "nomatch" and element counters. The set
// match uses it when Context.IPSets provides it; with a plain IPSets,
// sets behave as ones without nomatch elements and without counters (for
// which the kernel ignores the counter options).
type IPSetMatcher interface {
	translator.IPSets
	// Match tests an element as ip_set_test does with the options of the
	// rule, updating the element's counters unless told not to.
	Match(set string, key []translator.IPSetPart, opt IPSetMatchOpt) bool
}

// IPSetMatchOpt is what a set match asks of ip_set_test besides the
// element (the cmdflags and counter comparisons of struct
// ip_set_adt_opt).
type IPSetMatchOpt struct {
	ReturnNomatch                       bool
	NoCounterUpdate, NoSubcounterUpdate bool
	Packets, Bytes                      SetCounterMatch
	// Len is the packet length the byte counter grows by.
	Len uint64
}

// setPartKinds returns what each dimension of a set type is made of: 'a'
// for an address or network, 'p' for a protocol and port, '?' for what
// the set match cannot take from an IP packet here (MAC, interface,
// mark). Nil for types whose dimensions are not known (list:set).
func setPartKinds(typ string) []byte {
	_, dims, ok := strings.Cut(typ, ":")
	if !ok {
		return nil
	}
	var kinds []byte
	for _, d := range strings.Split(dims, ",") {
		switch d {
		case "ip", "net":
			kinds = append(kinds, 'a')
		case "port":
			kinds = append(kinds, 'p')
		case "set":
			return nil
		default:
			kinds = append(kinds, '?')
		}
	}
	return kinds
}

// setPort is ip_set_get_ip4_port/ip_set_get_ip6_port: the protocol and
// port of one side, as port dimensions hold them (ICMP type and code as the
// port of both sides; protocols without ports have port 0). ok is false
// where the kernel finds none: later fragments of protocols with ports,
// truncated headers, IPv4 protocol 0.
func setPort(p *packet.Packet, src bool) (proto uint8, port uint16, ok bool) {
	off, proto := p.L4Off, p.Proto
	if p.IPv6 {
		var fragOff uint16
		if off, proto, fragOff, ok = ipv6SkipExthdr(p.Data); !ok || fragOff&^7 != 0 {
			return 0, 0, false
		}
	} else {
		if proto == 0 {
			return 0, 0, false
		}
		if p.FragOffset != 0 {
			switch proto {
			case packet.ProtoTCP, packet.ProtoSCTP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoICMP:
				return 0, 0, false
			}
			return proto, 0, true
		}
	}
	l4 := p.Data[min(off, len(p.Data)):]
	need := map[uint8]int{packet.ProtoTCP: 20, packet.ProtoSCTP: 12, packet.ProtoUDP: 8, packet.ProtoUDPLite: 8, packet.ProtoICMP: 8, packet.ProtoICMPv6: 8}[proto]
	if len(l4) < need {
		return 0, 0, false
	}
	switch proto {
	case packet.ProtoTCP, packet.ProtoSCTP, packet.ProtoUDP, packet.ProtoUDPLite:
		if src {
			return proto, binary.BigEndian.Uint16(l4), true
		}
		return proto, binary.BigEndian.Uint16(l4[2:]), true
	case packet.ProtoICMP, packet.ProtoICMPv6:
		return proto, uint16(l4[0])<<8 | uint16(l4[1]), true
	}
	return proto, 0, true
}

// key builds the element to test, one part per direction given. For a set
// whose type is known, dimension parts are of its kind (address, or
// protocol and port) and only as many as it has; otherwise every part
// carries both, for the IPSets to take what its set type needs (so do
// MAC, interface and mark dimensions, which an IPSetPart cannot hold). ok
// is false when the kernel would not test: fewer directions than the
// set's dimension, or a port it cannot read.
func (m *Set) key(p *packet.Packet) (key []translator.IPSetPart, ok bool) {
	var kinds []byte
	if m.set != nil {
		if m.Dim < m.set.Dimension {
			return nil, false
		}
		kinds = setPartKinds(m.set.Type)
	}
	n := m.Dim
	if kinds != nil {
		n = min(n, len(kinds))
	}
	for i := 1; i <= n; i++ {
		src := m.Src&(1<<i) != 0
		var part translator.IPSetPart
		kind := byte(0)
		if kinds != nil {
			kind = kinds[i-1]
		}
		if kind != 'p' {
			part.Addr = p.Dst
			if src {
				part.Addr = p.Src
			}
		}
		if kind != 'a' {
			proto, port, ok := setPort(p, src)
			if !ok && kind == 'p' {
				return nil, false
			}
			part.Proto, part.Port = proto, port
		}
		key = append(key, part)
	}
	return key, true
}

// Match is set_match_v4: the element built from the packet tested against
// the set through c.IPSets.
func (m *Set) Match(c *translator.Context) bool {
	if m.set != nil && m.set.Family != 0 && m.set.Family != c.Family {
		return m.Invert
	}
	key, ok := m.key(c.Packet)
	if !ok || c.IPSets == nil {
		return m.Invert
	}
	if sm, ok := c.IPSets.(IPSetMatcher); ok {
		return sm.Match(m.SetName, key, IPSetMatchOpt{
			ReturnNomatch:      m.ReturnNomatch,
			NoCounterUpdate:    m.NoCounterUpdate,
			NoSubcounterUpdate: m.NoSubcounterUpdate,
			Packets:            m.Packets,
			Bytes:              m.Bytes,
			Len:                uint64(len(c.Packet.Data)),
		}) != m.Invert
	}
	return c.IPSets.Test(m.SetName, key) != m.Invert
}
