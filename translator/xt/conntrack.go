package xt

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// Conntrack is the conntrack match: what connection tracking knows of the
// packet's connection (struct xt_conntrack_mtinfo3, the revision iptables
// 1.8 uses with every kernel it supports).
type Conntrack struct {
	// Flags has a CT* bit for every option given, Invert one for every
	// option given with "!". For CTDirection, Invert means REPLY.
	Flags, Invert uint16

	StateMask  packet.CTState
	StatusMask uint32 // IPS_* bits
	L4Proto    uint8

	// The addresses are kept as given, unmasked, as iptables prints them;
	// the mask applies to both sides when matching.
	OrigSrc, OrigDst, ReplSrc, ReplDst translator.AddrMask

	OrigSrcPort, OrigDstPort, ReplSrcPort, ReplDstPort PortRange

	ExpiresMin, ExpiresMax uint32 // seconds
}

// Conntrack option bits (XT_CONNTRACK_*), in Conntrack.Flags and Invert.
const (
	CTMatchState       = 1 << 0
	CTMatchProto       = 1 << 1
	CTMatchOrigSrc     = 1 << 2
	CTMatchOrigDst     = 1 << 3
	CTMatchReplSrc     = 1 << 4
	CTMatchReplDst     = 1 << 5
	CTMatchStatus      = 1 << 6
	CTMatchExpires     = 1 << 7
	CTMatchOrigSrcPort = 1 << 8
	CTMatchOrigDstPort = 1 << 9
	CTMatchReplSrcPort = 1 << 10
	CTMatchReplDstPort = 1 << 11
	CTMatchDirection   = 1 << 12
)

const (
	ctOptState = iota
	ctOptProto
	ctOptOrigSrc
	ctOptOrigDst
	ctOptReplSrc
	ctOptReplDst
	ctOptOrigSrcPort
	ctOptOrigDstPort
	ctOptReplSrcPort
	ctOptReplDstPort
	ctOptStatus
	ctOptExpire
	ctOptDir
)

var conntrackOptions = []Option{
	{Name: "ctstate", Type: String, ID: ctOptState, Flags: Invert},
	{Name: "ctproto", Type: Protocol, ID: ctOptProto, Flags: Invert},
	{Name: "ctorigsrc", Type: HostMask, ID: ctOptOrigSrc, Flags: Invert},
	{Name: "ctorigdst", Type: HostMask, ID: ctOptOrigDst, Flags: Invert},
	{Name: "ctreplsrc", Type: HostMask, ID: ctOptReplSrc, Flags: Invert},
	{Name: "ctrepldst", Type: HostMask, ID: ctOptReplDst, Flags: Invert},
	{Name: "ctstatus", Type: String, ID: ctOptStatus, Flags: Invert},
	{Name: "ctexpire", Type: Uint32RC, ID: ctOptExpire, Flags: Invert},
	{Name: "ctorigsrcport", Type: PortRC, ID: ctOptOrigSrcPort, Flags: Invert},
	{Name: "ctorigdstport", Type: PortRC, ID: ctOptOrigDstPort, Flags: Invert},
	{Name: "ctreplsrcport", Type: PortRC, ID: ctOptReplSrcPort, Flags: Invert},
	{Name: "ctrepldstport", Type: PortRC, ID: ctOptReplDstPort, Flags: Invert},
	{Name: "ctdir", Type: String, ID: ctOptDir},
}

func init() {
	RegisterMatch(&MatchDef{
		Name:    "conntrack",
		Options: conntrackOptions,
		New:     func(translator.Family) MatchParser { return &Conntrack{} },
	})
}

// Name returns "conntrack".
func (m *Conntrack) Name() string { return "conntrack" }

// ctStatusNames are the --ctstatus words in the order libxt_conntrack
// tries them (a word is taken as the first name it is a prefix of) and
// prints them.
var ctStatusNames = []struct {
	name string
	bit  uint32
}{
	{"NONE", 0}, {"EXPECTED", ipsExpected}, {"SEEN_REPLY", ipsSeenReply},
	{"ASSURED", ipsAssured}, {"CONFIRMED", ipsConfirmed},
}

func lookupCTStatus(word string) (uint32, bool) {
	for _, n := range ctStatusNames {
		if prefixFold(word, n.name) {
			return n.bit, true
		}
	}
	return 0, false
}

// parseCTList parses a comma-separated list as conntrack_ps_states and
// conntrack_ps_statuses do: an empty word or an unknown one fails with the
// rest of the list in the message.
func parseCTList(arg, what string, word func(string) bool) error {
	for {
		w, rest, more := strings.Cut(arg, ",")
		if w == "" || !word(w) {
			return Errorf("Bad %s \"%s\"", what, arg)
		}
		if !more {
			return nil
		}
		arg = rest
	}
}

// Parse takes one conntrack option.
func (m *Conntrack) Parse(c *Call) error {
	var bit uint16
	switch c.Opt.ID {
	case ctOptState:
		bit = CTMatchState
		err := parseCTList(c.Arg, "ctstate", func(w string) bool {
			s, ok := lookupCTState(w, ctStateParseOrder)
			m.StateMask |= s
			return ok
		})
		if err != nil {
			return err
		}
	case ctOptProto:
		if c.U64 == 0 {
			if c.Invert {
				return c.Errorf("conntrack: condition would always match protocol")
			}
			return c.Errorf("conntrack: rule would never match protocol")
		}
		bit, m.L4Proto = CTMatchProto, uint8(c.U64)
	case ctOptOrigSrc:
		bit, m.OrigSrc = CTMatchOrigSrc, translator.AddrMask{Addr: c.Addr, Mask: c.Mask}
	case ctOptOrigDst:
		bit, m.OrigDst = CTMatchOrigDst, translator.AddrMask{Addr: c.Addr, Mask: c.Mask}
	case ctOptReplSrc:
		bit, m.ReplSrc = CTMatchReplSrc, translator.AddrMask{Addr: c.Addr, Mask: c.Mask}
	case ctOptReplDst:
		bit, m.ReplDst = CTMatchReplDst, translator.AddrMask{Addr: c.Addr, Mask: c.Mask}
	case ctOptStatus:
		bit = CTMatchStatus
		err := parseCTList(c.Arg, "ctstatus", func(w string) bool {
			s, ok := lookupCTStatus(w)
			m.StatusMask |= s
			return ok
		})
		if err != nil {
			return err
		}
	case ctOptExpire:
		bit = CTMatchExpires
		m.ExpiresMin, m.ExpiresMax = uint32(c.Range[0]), uint32(c.Range[0])
		if c.NVals >= 2 {
			m.ExpiresMax = uint32(c.Range[1])
		}
	case ctOptOrigSrcPort, ctOptOrigDstPort, ctOptReplSrcPort, ctOptReplDstPort:
		r := PortRange{uint16(c.Range[0]), uint16(c.Range[0])}
		if c.NVals >= 2 {
			r[1] = uint16(c.Range[1])
		}
		switch c.Opt.ID {
		case ctOptOrigSrcPort:
			bit, m.OrigSrcPort = CTMatchOrigSrcPort, r
		case ctOptOrigDstPort:
			bit, m.OrigDstPort = CTMatchOrigDstPort, r
		case ctOptReplSrcPort:
			bit, m.ReplSrcPort = CTMatchReplSrcPort, r
		default:
			bit, m.ReplDstPort = CTMatchReplDstPort, r
		}
	case ctOptDir:
		switch {
		case strings.EqualFold(c.Arg, "ORIGINAL"):
			m.Invert &^= CTMatchDirection
		case strings.EqualFold(c.Arg, "REPLY"):
			m.Invert |= CTMatchDirection
		default:
			return c.Errorf("conntrack: Bad value for \"--ctdir\" option: \"%s\"", c.Arg)
		}
		m.Flags |= CTMatchDirection
		return nil
	}
	m.Flags |= bit
	if c.Invert {
		m.Invert |= bit
	}
	return nil
}

// Final requires at least one option.
func (m *Conntrack) Final(c *Final) error {
	if c.Seen == 0 {
		return c.Errorf("conntrack: At least one option is required")
	}
	return nil
}

// Save prints the match as conntrack3_mt_save does.
func (m *Conntrack) Save(b *strings.Builder, _ translator.Family) {
	inv := func(bit uint16) bool { return m.Invert&bit != 0 }
	if m.Flags&CTMatchState != 0 {
		SaveInv(b, inv(CTMatchState))
		b.WriteString(" --ctstate")
		saveCTStates(b, m.StateMask)
	}
	if m.Flags&CTMatchProto != 0 {
		SaveInv(b, inv(CTMatchProto))
		Savef(b, " --ctproto %d", m.L4Proto)
	}
	for _, a := range []struct {
		bit  uint16
		name string
		addr translator.AddrMask
	}{
		{CTMatchOrigSrc, "ctorigsrc", m.OrigSrc}, {CTMatchOrigDst, "ctorigdst", m.OrigDst},
		{CTMatchReplSrc, "ctreplsrc", m.ReplSrc}, {CTMatchReplDst, "ctrepldst", m.ReplDst},
	} {
		if m.Flags&a.bit != 0 {
			SaveInv(b, inv(a.bit))
			b.WriteString(" --" + a.name + " ")
			saveAddrMask(b, a.addr)
		}
	}
	for _, p := range []struct {
		bit  uint16
		name string
		r    PortRange
	}{
		{CTMatchOrigSrcPort, "ctorigsrcport", m.OrigSrcPort}, {CTMatchOrigDstPort, "ctorigdstport", m.OrigDstPort},
		{CTMatchReplSrcPort, "ctreplsrcport", m.ReplSrcPort}, {CTMatchReplDstPort, "ctrepldstport", m.ReplDstPort},
	} {
		if m.Flags&p.bit != 0 {
			SaveInv(b, inv(p.bit))
			// conntrack_dump_ports prints a lone port also for a high
			// end of 0, which only a range "n:0" could give.
			if p.r[1] == 0 || p.r[0] == p.r[1] {
				Savef(b, " --%s %d", p.name, p.r[0])
			} else {
				Savef(b, " --%s %d:%d", p.name, p.r[0], p.r[1])
			}
		}
	}
	if m.Flags&CTMatchStatus != 0 {
		SaveInv(b, inv(CTMatchStatus))
		b.WriteString(" --ctstatus")
		sep := " "
		for _, n := range ctStatusNames[1:] {
			if m.StatusMask&n.bit != 0 {
				b.WriteString(sep + n.name)
				sep = ","
			}
		}
		if m.StatusMask == 0 {
			b.WriteString(sep + "NONE")
		}
	}
	if m.Flags&CTMatchExpires != 0 {
		SaveInv(b, inv(CTMatchExpires))
		if m.ExpiresMin == m.ExpiresMax {
			Savef(b, " --ctexpire %d", m.ExpiresMin)
		} else {
			Savef(b, " --ctexpire %d:%d", m.ExpiresMin, m.ExpiresMax)
		}
	}
	if m.Flags&CTMatchDirection != 0 {
		if inv(CTMatchDirection) {
			b.WriteString(" --ctdir REPLY")
		} else {
			b.WriteString(" --ctdir ORIGINAL")
		}
	}
}

// saveAddrMask prints an address and its mask as
// xtables_ipaddr_to_numeric and xtables_ipmask_to_numeric do: no suffix
// for a full mask, /N for a prefix, /MASK for any other mask.
func saveAddrMask(b *strings.Builder, a translator.AddrMask) {
	b.WriteString(a.Addr.String())
	switch n := translator.MaskLen(a.Mask); {
	case n < 0:
		b.WriteString("/" + a.Mask.String())
	case n != a.Addr.BitLen():
		Savef(b, "/%d", n)
	}
}

// Check accepts the match anywhere: the kernel only loads connection
// tracking for it.
func (m *Conntrack) Check(*translator.CheckContext) error { return nil }

// Match evaluates the match as the kernel's conntrack_mt with revision 3.
func (m *Conntrack) Match(c *translator.Context) bool {
	ct := &c.Packet.CT
	state, tracked := ctLookup(ct)
	has := func(bit uint16) bool { return m.Flags&bit != 0 }
	// Each test fails when its outcome equals its inversion.
	fails := func(bit uint16, ok bool) bool { return has(bit) && ok == (m.Invert&bit != 0) }

	if has(CTMatchState) {
		if tracked {
			state |= ctNATState(ct)
		}
		if fails(CTMatchState, m.StateMask&state != 0) {
			return false
		}
	}
	if !tracked {
		return has(CTMatchState)
	}
	if fails(CTMatchDirection, !ct.Reply) {
		return false
	}
	if fails(CTMatchOrigSrc, ctAddrMatch(ct.Orig.Src, m.OrigSrc, c.Family)) ||
		fails(CTMatchOrigDst, ctAddrMatch(ct.Orig.Dst, m.OrigDst, c.Family)) ||
		fails(CTMatchReplSrc, ctAddrMatch(ct.Repl.Src, m.ReplSrc, c.Family)) ||
		fails(CTMatchReplDst, ctAddrMatch(ct.Repl.Dst, m.ReplDst, c.Family)) {
		return false
	}
	if fails(CTMatchProto, ct.Proto == m.L4Proto) ||
		fails(CTMatchOrigSrcPort, m.OrigSrcPort.Contains(ct.Orig.SrcPort)) ||
		fails(CTMatchOrigDstPort, m.OrigDstPort.Contains(ct.Orig.DstPort)) ||
		fails(CTMatchReplSrcPort, m.ReplSrcPort.Contains(ct.Repl.SrcPort)) ||
		fails(CTMatchReplDstPort, m.ReplDstPort.Contains(ct.Repl.DstPort)) {
		return false
	}
	if fails(CTMatchStatus, m.StatusMask&ct.Status != 0) {
		return false
	}
	return !fails(CTMatchExpires, m.ExpiresMin <= ct.Expires && ct.Expires <= m.ExpiresMax)
}

// ctAddrMatch is conntrack_addrcmp: the tuple address and the rule's
// address agree under the rule's mask, over the family's address length.
func ctAddrMatch(k netip.Addr, u translator.AddrMask, f translator.Family) bool {
	kb, ub, mb := addrBytes(k, f), addrBytes(u.Addr, f), addrBytes(u.Mask, f)
	for i := range kb {
		if (kb[i]^ub[i])&mb[i] != 0 {
			return false
		}
	}
	return true
}

// addrBytes returns an address as the family's bytes; an absent address,
// or one of the other family, is all zeros, as the kernel's zeroed tuple
// would be.
func addrBytes(a netip.Addr, f translator.Family) []byte {
	if f == translator.IPv6 {
		if a.Is6() {
			b := a.As16()
			return b[:]
		}
		return make([]byte, 16)
	}
	if a.Is4() {
		b := a.As4()
		return b[:]
	}
	return make([]byte, 4)
}

// ctOptionNames name the options by their Flags bit, for errors.
var ctOptionNames = map[uint16]string{
	CTMatchProto: "--ctproto", CTMatchOrigSrc: "--ctorigsrc", CTMatchOrigDst: "--ctorigdst",
	CTMatchReplSrc: "--ctreplsrc", CTMatchReplDst: "--ctrepldst", CTMatchStatus: "--ctstatus",
	CTMatchExpires: "--ctexpire", CTMatchOrigSrcPort: "--ctorigsrcport", CTMatchOrigDstPort: "--ctorigdstport",
	CTMatchReplSrcPort: "--ctreplsrcport", CTMatchReplDstPort: "--ctrepldstport", CTMatchDirection: "--ctdir",
}

// ctInDatapath are the options the datapath runs: the state, the
// status, and the connection's direction, protocol, addresses and
// ports, which without NAT are the tuple the datapath keys the
// connection by and its inverse (for ICMP, icmp_invert_tuple's). Not
// --ctexpire.
const ctInDatapath = CTMatchState | CTMatchDirection | CTMatchProto | CTMatchOrigSrc | CTMatchOrigDst |
	CTMatchReplSrc | CTMatchReplDst | CTMatchOrigSrcPort | CTMatchOrigDstPort | CTMatchReplSrcPort |
	CTMatchReplDstPort | CTMatchStatus

// Lower compiles the match as conntrack_mt evaluates it, over the state
// and connection fields the datapath's connection tracking sets
// (bpf/conntrack.go). A packet without a connection (INVALID,
// UNTRACKED) passes the match on its state alone, which a list of tests
// cannot say when the state test lets such a packet through: such rules
// are refused.
func (m *Conntrack) Lower(b *plan.Builder) error {
	for bit := uint16(1); bit != 0; bit <<= 1 {
		if m.Flags&bit != 0 && ctInDatapath&bit == 0 {
			return fmt.Errorf("%s is %w", ctOptionNames[bit], plan.ErrNotInDatapath)
		}
	}
	has := func(bit uint16) bool { return m.Flags&bit != 0 }
	inv := func(bit uint16) bool { return m.Invert&bit != 0 }
	others := m.Flags&^CTMatchState != 0
	if has(CTMatchState) {
		untracked := packet.CTInvalid | packet.CTUntracked
		if others && (inv(CTMatchState) || m.StateMask&untracked != 0) {
			return fmt.Errorf("--ctstate that takes packets without a connection (INVALID, UNTRACKED) together with other options is %w", plan.ErrNotInDatapath)
		}
		b.CTState(m.StateMask, inv(CTMatchState))
	} else if others {
		// the other options fail for a packet without a connection
		b.CTState(packet.CTNew|packet.CTEstablished|packet.CTRelated, false)
	}
	if has(CTMatchDirection) {
		reply := uint64(0)
		if inv(CTMatchDirection) {
			reply = 1
		}
		b.EqUint(plan.FieldCtDir, reply, 0xff, false)
	}
	for _, a := range []struct {
		bit   uint16
		field plan.Field
		addr  translator.AddrMask
	}{
		{CTMatchOrigSrc, plan.FieldCtOrigSrc, m.OrigSrc}, {CTMatchOrigDst, plan.FieldCtOrigDst, m.OrigDst},
		// without NAT the reply source is the original destination
		{CTMatchReplSrc, plan.FieldCtOrigDst, m.ReplSrc}, {CTMatchReplDst, plan.FieldCtOrigSrc, m.ReplDst},
	} {
		if !has(a.bit) {
			continue
		}
		value, mask := addrBytes(a.addr.Addr, b.Family), addrBytes(a.addr.Mask, b.Family)
		for i := range value {
			value[i] &= mask[i]
		}
		b.Eq(a.field, value, mask, inv(a.bit))
	}
	if has(CTMatchProto) {
		b.EqUint(plan.FieldCtProto, uint64(m.L4Proto), 0xff, inv(CTMatchProto))
	}
	for _, p := range []struct {
		bit   uint16
		field plan.Field
		r     PortRange
	}{
		{CTMatchOrigSrcPort, plan.FieldCtOrigSport, m.OrigSrcPort}, {CTMatchOrigDstPort, plan.FieldCtOrigDport, m.OrigDstPort},
		{CTMatchReplSrcPort, plan.FieldCtReplSport, m.ReplSrcPort}, {CTMatchReplDstPort, plan.FieldCtReplDport, m.ReplDstPort},
	} {
		if !has(p.bit) {
			continue
		}
		if p.r[0] > p.r[1] {
			if !inv(p.bit) {
				b.Never()
			}
			continue
		}
		b.RangeUint(p.field, uint64(p.r[0]), uint64(p.r[1]), inv(p.bit))
	}
	if has(CTMatchStatus) {
		// (status & mask) != 0: NONE (no bits) never holds
		b.EqUint(plan.FieldCtStatus, 0, uint64(m.StatusMask), !inv(CTMatchStatus))
	}
	return nil
}
