package translator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bpftables/bpftables/translator/packet"
)

// Match is an extension match of a rule (-m NAME ...), parsed into a typed
// value. Implementations live in translator/xt, one file per extension.
type Match interface {
	// Name is the extension name printed after -m.
	Name() string
	// Save appends the match's options as iptables-save prints them, each
	// preceded by a space.
	Save(b *strings.Builder, f Family)
	// Check applies the checks the kernel makes when a rule with this
	// match is loaded (hooks, tables, protocol).
	Check(c *CheckContext) error
	// Match reports whether the packet matches. A match that finds the
	// packet malformed sets c.HotDrop, which drops it.
	Match(c *Context) bool
}

// Target is the target of a rule (-j NAME ...), parsed into a typed value.
// The standard verdicts and jumps are defined in this package; extension
// targets in translator/xt.
type Target interface {
	// Name is the target name printed after -j.
	Name() string
	// Save appends the target's options as iptables-save prints them,
	// each preceded by a space.
	Save(b *strings.Builder, f Family)
	// Check applies the checks the kernel makes when a rule with this
	// target is loaded.
	Check(c *CheckContext) error
	// Apply performs the target on the packet and returns the verdict:
	// Continue for targets that only change or log the packet.
	Apply(c *Context) Verdict
}

// CheckContext is what a match or target is checked against when a ruleset
// is loaded: where the rule is and from which hooks packets can reach it.
type CheckContext struct {
	Family Family
	Table  string
	Chain  string
	// Hooks are the hooks from which the rule's chain is reachable. It is
	// empty for a user chain no rule jumps to; the kernel then checks
	// nothing that depends on hooks.
	Hooks HookMask
	Rule  *Rule
	// Objects are the ipsets and nfacct counters that exist; nil means
	// unknown, and names are then not checked.
	Objects Objects
}

// Errorf returns a check error in the kernel's words, naming the
// extension.
func (c *CheckContext) Errorf(format string, args ...any) error {
	return &CheckError{Msg: fmt.Sprintf(format, args...)}
}

// CheckError is a rule the kernel would refuse to load.
type CheckError struct {
	Msg string
}

func (e *CheckError) Error() string { return e.Msg }

// ErrCheck is matched by errors.Is for every *CheckError.
var ErrCheck = errors.New("rule check failed")

// Is makes errors.Is(err, ErrCheck) true for check errors.
func (e *CheckError) Is(target error) bool { return target == ErrCheck }

// RequireHooks fails unless every hook the rule is reachable from is in
// allowed. what names the extension, as in "DNAT target".
func (c *CheckContext) RequireHooks(what string, allowed HookMask) error {
	if c.Hooks&^allowed != 0 {
		return c.Errorf("%s: used from hooks %s, but only usable from %s", what, c.Hooks, allowed)
	}
	return nil
}

// RequireTable fails unless the rule is in one of the tables.
func (c *CheckContext) RequireTable(what string, tables ...string) error {
	for _, t := range tables {
		if c.Table == t {
			return nil
		}
	}
	return c.Errorf("%s: only valid in %s table, not %s", what, strings.Join(tables, " or "), c.Table)
}

// RequireProto fails unless the rule has -p proto, not inverted, as the
// kernel demands of protocol matches such as tcp.
func (c *CheckContext) RequireProto(what string, proto uint8) error {
	if c.Rule.Proto != proto || c.Rule.InvProto {
		return c.Errorf("%s: only valid for protocol %d", what, proto)
	}
	return nil
}

// Verdict is what a target decides for a packet.
type Verdict uint8

// Verdicts. Continue means evaluation goes on with the next rule.
const (
	Continue Verdict = iota
	Accept
	Drop
	Return
)

// String returns the iptables name of the verdict.
func (v Verdict) String() string {
	switch v {
	case Continue:
		return "CONTINUE"
	case Accept:
		return "ACCEPT"
	case Drop:
		return "DROP"
	case Return:
		return "RETURN"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Context is one packet being judged, as matches and targets see it.
type Context struct {
	Packet *packet.Packet
	Family Family
	Hook   Hook
	Table  string
	// HotDrop is set by a match that finds the packet malformed: the
	// packet is dropped at once, as the kernel's hotdrop does.
	HotDrop bool
	// Now is the time of the evaluation, for time-dependent matches.
	Now time.Time
	// State holds what stateful matches remember between packets. Nil
	// means there is none: such matches then see every packet as the first.
	State *State
	// IPSets holds set contents for the set match and SET target; nil
	// is empty sets.
	IPSets IPSets
	// Effects records what non-verdict targets did (logging, rejecting,
	// NAT), in order.
	Effects []Effect
}

// Effect records that a target did something besides its verdict.
func (c *Context) Effect(target, format string, args ...any) {
	c.Effects = append(c.Effects, Effect{Target: target, Detail: fmt.Sprintf(format, args...)})
}

// Effect is something a target did to or for a packet besides its verdict.
type Effect struct {
	Target string // target name, as "LOG" or "REJECT"
	Detail string // what it did, in words
}

// State is the memory of stateful matches (limit, recent, statistic, ...)
// across the packets of one evaluation run, keyed by the match.
type State struct {
	m map[any]any
}

// NewState returns an empty State.
func NewState() *State { return &State{m: map[any]any{}} }

// Get returns the state stored for key, creating it with mk the first time.
func (s *State) Get(key any, mk func() any) any {
	if v, ok := s.m[key]; ok {
		return v
	}
	v := mk()
	s.m[key] = v
	return v
}
