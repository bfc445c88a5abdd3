// Package plan lowers a ruleset into the match-action tables the datapath
// runs: every rule becomes an ordered list of tests on packet fields, and
// every chain a list of segments, each classified by straight-line code, a
// hash lookup or a longest-prefix lookup. A Plan is pure data: it prints,
// compares in tests, and needs no kernel; bpf/ turns it into programs.
package plan

import (
	"errors"
	"fmt"

	"github.com/bpftables/bpftables/translator"
)

// Field is a field of the packet context the hook program fills.
type Field uint8

// Packet fields. Addresses and numbers are compared as big-endian bytes
// of the field's size.
const (
	FieldSrc         Field = iota // source address: 4 or 16 bytes
	FieldDst                      // destination address
	FieldProto                    // layer 4 protocol
	FieldSport                    // source port
	FieldDport                    // destination port
	FieldTCPFlags                 // byte 13 of the TCP header (the flags)
	FieldICMP                     // ICMP or ICMPv6 type << 8 | code
	FieldLen                      // IP packet length
	FieldTTL                      // TTL or hop limit
	FieldTOS                      // TOS or traffic class
	FieldPktType                  // link-layer packet type (PACKET_HOST, ...)
	FieldMark                     // packet mark
	FieldSrcMAC                   // source MAC address (zero without one)
	FieldHasMAC                   // 1 when the packet has an Ethernet header
	FieldFragOff                  // fragment offset in 8-byte units
	FieldL4Avail                  // bytes of the packet from the layer 4 header on
	FieldInIface                  // input interface (pattern tests)
	FieldOutIface                 // output interface (pattern tests)
	FieldCtState                  // connection tracking state: one CTStateBits bit
	FieldCtDir                    // 1 when the packet travels in its connection's reply direction
	FieldCtStatus                 // the connection's status (IPS_* bits)
	FieldCtProto                  // the connection's layer 4 protocol
	FieldCtOrigSrc                // the connection's original source address
	FieldCtOrigDst                // the connection's original destination address
	FieldCtOrigSport              // the connection's original source port (ICMP: the id)
	FieldCtOrigDport              // its original destination port (ICMP: type << 8 | code)
	FieldCtReplSport              // its reply source port (ICMP: the id)
	FieldCtReplDport              // its reply destination port (ICMP: the reply's type << 8 | code)
	NumFields
)

var fieldNames = [NumFields]string{"src", "dst", "proto", "sport", "dport", "tcpflags", "icmp",
	"len", "ttl", "tos", "pkttype", "mark", "srcmac", "hasmac", "fragoff", "l4avail", "in", "out", "ctstate",
	"ctdir", "ctstatus", "ctproto", "ctorigsrc", "ctorigdst", "ctorigsport", "ctorigdport", "ctreplsport", "ctrepldport"}

// String returns the field's short name.
func (f Field) String() string {
	if f < NumFields {
		return fieldNames[f]
	}
	return fmt.Sprintf("field(%d)", uint8(f))
}

// Size returns the field's size in bytes for the family.
func (f Field) Size(fam translator.Family) int {
	switch f {
	case FieldSrc, FieldDst, FieldCtOrigSrc, FieldCtOrigDst:
		if fam == translator.IPv6 {
			return 16
		}
		return 4
	case FieldSport, FieldDport, FieldICMP, FieldLen, FieldFragOff, FieldL4Avail, FieldCtOrigSport, FieldCtOrigDport,
		FieldCtReplSport, FieldCtReplDport:
		return 2
	case FieldMark:
		return 4
	case FieldSrcMAC:
		return 6
	case FieldInIface, FieldOutIface:
		return 8
	}
	return 1
}

// Op is what a test does with its field.
type Op uint8

// Test operations.
const (
	// OpEq: (field & Mask) == Value.
	OpEq Op = iota
	// OpRange: Lo <= field <= Hi, as big-endian numbers.
	OpRange
	// OpSet: the field is in one of Ranges (16-bit fields).
	OpSet
	// OpSetEither: the source or the destination port is in one of
	// Ranges (multiport --ports).
	OpSetEither
	// OpIface: the interface matches pattern Pattern of the plan.
	OpIface
	// OpRandom: a random draw is below Stat.Probability (statistic
	// --mode random). Field is not read.
	OpRandom
	// OpNth: the rule's nth counter wraps to 0 at this packet (statistic
	// --mode nth). Field is not read.
	OpNth
	// OpLimit: a credit is taken from the rule's token bucket Lim (limit).
	// Field is not read.
	OpLimit
)

// Test is one condition a rule puts on a packet.
type Test struct {
	Field Field
	Op    Op
	// Value and Mask for OpEq; Lo and Hi for OpRange: big-endian, of the
	// field's size.
	Value, Mask []byte
	Lo, Hi      []byte
	// Ranges for OpSet and OpSetEither: inclusive port ranges.
	Ranges [][2]uint16
	// Pattern indexes Plan.Ifaces for OpIface.
	Pattern int
	// Stat is the state of OpRandom and OpNth.
	Stat *Statistic
	// Lim is the bucket of OpLimit.
	Lim    *Limit
	Invert bool
	// HotDrop makes a test that holds drop the packet at once, as the
	// kernel's hotdrop does for malformed packets, instead of being a
	// condition of the rule: it never makes the rule fail.
	HotDrop bool
	// Match names the match the test comes from, for printing.
	Match string
}

// ActionKind is what a rule does when it matches.
type ActionKind uint8

// Actions.
const (
	ActContinue ActionKind = iota // no target: count and go on
	ActAccept
	ActDrop
	ActReturn
	ActJump
	ActGoto
	// ActLog logs the packet (LOG, NFLOG: Plan.Logs[Action.Log]) and
	// goes on, as ActContinue does.
	ActLog
	// ActReject drops the packet and answers it (REJECT); Action.Target
	// is RejectReset or the ICMP code.
	ActReject
)

var actionNames = []string{"continue", "accept", "drop", "return", "jump", "goto", "log", "reject"}

// String returns the action's name.
func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// Terminal reports whether evaluation of the chain ends when a rule with
// this action matches.
func (k ActionKind) Terminal() bool {
	switch k {
	case ActAccept, ActDrop, ActReturn, ActGoto, ActReject:
		return true
	}
	return false
}

// Action is a rule's target: a verdict, or a jump or goto to a chain.
type Action struct {
	Kind ActionKind
	// Target is the chain ID of an ActJump or ActGoto; of an ActReject,
	// RejectReset or the ICMP code.
	Target int
	// Log indexes Plan.Logs for an ActLog.
	Log int
}

// Rejecter is a target that drops the packet and sends an error in its
// place (REJECT).
type Rejecter interface {
	// TCPReset reports whether the reply is a TCP RST.
	TCPReset() bool
	// RejectCode is the ICMP (ICMPv6) destination unreachable code of
	// the reply otherwise.
	RejectCode() uint8
}

// RejectReset is the Target of an ActReject whose reply is a TCP RST;
// others hold the ICMP code.
const RejectReset = 256

// Rule is one rule, lowered.
type Rule struct {
	// ID numbers the rules of the plan from 0; it indexes the counters.
	ID    int
	Chain int // chain ID
	Index int // 1-based position in its chain
	// Line is the input line the rule came from, 0 if unknown.
	Line int
	// Source is the rule the plan was built from.
	Source *translator.Rule
	Tests  []Test
	Action
}

// SegmentKind is how a segment classifies packets.
type SegmentKind uint8

// Segment kinds.
const (
	// Linear tests each rule in turn.
	Linear SegmentKind = iota
	// Hash looks up the rule whose key fields equal the packet's.
	Hash
	// LPM looks up the longest prefix of one address field; each entry
	// carries the first rule among the prefixes that contain it.
	LPM
	// BitVector looks up a class per key (address prefixes, numeric
	// fields), ANDs the classes' bitmaps of candidate rules, and takes
	// the first set bit (see BitVector).
	BitVector
)

var kindNames = []string{"linear", "hash", "lpm", "bitvector"}

// String returns the kind's name.
func (k SegmentKind) String() string { return kindNames[k] }

// Segment is a run of consecutive rules of a chain classified together.
type Segment struct {
	Kind  SegmentKind
	Rules []*Rule
	// Common are the tests every rule of a Hash or LPM segment shares,
	// in order, apart from the key tests.
	Common []Test
	// Key are the fields looked up: for Hash the fields of the rules'
	// exact tests, in test order; for LPM the one prefix field.
	Key []Field
	// Entries of a Hash or LPM segment: the key (the fields' values
	// concatenated; for LPM the prefix length then the address) and the
	// rule that matches packets with it.
	Entries []Entry
	// PreKey, for packets the segment's hot-drop tests catch, are the key
	// fields tested before them: such a packet is dropped if its PreKey
	// values are those of some rule (an empty PreKey: always).
	PreKey []Field
	// BV is the classifier of a BitVector segment.
	BV *BVSearch
	// Block numbers, from 1, the function of its own the segment runs in
	// when its chain is too long for one (see Options.BlockTests); 0: the
	// chain's function. The chain's function calls its blocks in order.
	Block int
}

// Entry is one key of a Hash or LPM segment and the rule it selects.
type Entry struct {
	Key  []byte
	Rule *Rule
	// PrefixLen is the prefix length of an LPM entry.
	PrefixLen int
}

// Chain is one chain, lowered.
type Chain struct {
	ID      int
	Name    string
	Builtin bool
	Hook    translator.Hook
	// Policy is the verdict of a built-in chain's end; PolicyID indexes
	// its counter after the rules' ones.
	Policy   ActionKind
	PolicyID int
	Rules    []*Rule
	Segments []*Segment
	// Program is set for a user chain that runs as its own program,
	// entered by a tail call; other chains are functions called directly
	// from their callers' programs. A chain gets its own program when a
	// hash, LPM or bit-vector lookup selects the jump to it (the target is only known
	// at run time), when it is large, or when calls nest too deep.
	Program bool
}

// Plan is one table of one family, lowered.
type Plan struct {
	Family translator.Family
	Table  string
	Chains []*Chain
	Rules  []*Rule
	// Ifaces are the interface patterns the rules use; pattern i is bit i
	// of the packet's interface bits.
	Ifaces []string
	// Logs are what the LOG and NFLOG rules log, by Action.Log.
	Logs []LogSpec
	// Entry is the chain ID of each hook's built-in chain.
	Entry map[translator.Hook]int
	// byName indexes Chains by name: a ruleset may jump to thousands.
	byName map[string]*Chain
	// nth counts the nth tests (Statistic.Slot).
	nth int
	// limits counts the limit tests (Limit.Slot).
	limits int
}

// ChainByName returns the named chain, or nil.
func (p *Plan) ChainByName(name string) *Chain {
	if p.byName != nil {
		return p.byName[name]
	}
	for _, c := range p.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Counters returns the number of counter slots: one per rule, then one per
// built-in chain's policy.
func (p *Plan) Counters() int {
	n := len(p.Rules)
	for _, c := range p.Chains {
		if c.Builtin {
			n++
		}
	}
	return n
}

// ErrNotInDatapath is wrapped by errors for rules the datapath cannot run
// yet.
var ErrNotInDatapath = errors.New("not yet supported in the datapath")

// ErrTooDeep is wrapped by the error for a ruleset whose chains nest
// deeper than the kernel's tail-call limit lets the datapath follow.
var ErrTooDeep = errors.New("too many chains in a row")

// ErrTooLarge is wrapped by the error for a ruleset one of whose programs
// would need more of something than the kernel allows a program.
var ErrTooLarge = errors.New("too large for one BPF program")

// RuleError names the rule a plan could not be built for.
type RuleError struct {
	Chain string
	Index int
	Line  int
	Err   error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("chain %s rule %d: %v", e.Chain, e.Index, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// EachSlot visits the counter slots of a table as Build numbers them,
// without lowering anything: each rule (r non-nil) in the order of the
// sorted chains, then each built-in chain's policy (r nil). It lets the
// counters of a loaded generation be read against the ruleset it was
// built from.
func EachSlot(t *translator.Table, visit func(slot int, c *translator.Chain, r *translator.Rule)) {
	slot := 0
	chains := t.SortedChains()
	for _, c := range chains {
		for _, r := range c.Rules {
			visit(slot, c, r)
			slot++
		}
	}
	for _, c := range chains {
		if c.Builtin {
			visit(slot, c, nil)
			slot++
		}
	}
}

// CheckTables refuses tables other than filter that have anything the
// datapath would have to run.
func CheckTables(rs *translator.Ruleset) error {
	for _, t := range rs.Tables {
		if t.Name == "filter" {
			continue
		}
		for _, c := range t.SortedChains() {
			switch {
			case len(c.Rules) > 0:
				r := c.Rules[0]
				return &RuleError{Chain: c.Name, Index: 1, Line: r.Line, Err: fmt.Errorf("table `%s' is %w", t.Name, ErrNotInDatapath)}
			case !c.Builtin:
				return fmt.Errorf("chain `%s' of table `%s': the table is %w", c.Name, t.Name, ErrNotInDatapath)
			case c.Policy != translator.PolicyAccept:
				return fmt.Errorf("policy %s of chain `%s' in table `%s': the table is %w", c.Policy, c.Name, t.Name, ErrNotInDatapath)
			}
		}
	}
	return nil
}

// Rejects reports whether a rule of the plan is a REJECT.
func (p *Plan) Rejects() bool {
	for _, r := range p.Rules {
		if r.Kind == ActReject {
			return true
		}
	}
	return false
}
