package translator

import (
	"errors"
	"fmt"
	"sort"
)

// TableSpec describes one of the built-in tables: its name and the hooks of
// its built-in chains, in the order iptables-save lists them.
type TableSpec struct {
	Name  string
	Hooks []Hook
}

// Tables lists the tables iptables knows, with their built-in chains.
var Tables = []TableSpec{
	{"filter", []Hook{Input, Forward, Output}},
	{"nat", []Hook{PreRouting, Input, Output, PostRouting}},
	{"mangle", []Hook{PreRouting, Input, Forward, Output, PostRouting}},
	{"raw", []Hook{PreRouting, Output}},
	{"security", []Hook{Input, Forward, Output}},
}

// LookupTable returns the spec of the named table.
func LookupTable(name string) (TableSpec, bool) {
	for _, t := range Tables {
		if t.Name == name {
			return t, true
		}
	}
	return TableSpec{}, false
}

// Errors returned by table operations. Their texts are libiptc's, which
// is what iptables prints for them.
var (
	ErrNoChain        = errors.New("No chain/target/match by that name")
	ErrChainExists    = errors.New("Chain already exists")
	ErrBuiltinChain   = errors.New("Can't delete built-in chain")
	ErrChainNotEmpty  = errors.New("Directory not empty")
	ErrChainInUse     = errors.New("Too many links")
	ErrNotBuiltin     = errors.New("Bad built-in chain name")
	ErrBadPolicy      = errors.New("Bad policy name")
	ErrInsertIndex    = errors.New("Index of insertion too big")
	ErrDeleteIndex    = errors.New("Index of deletion too big")
	ErrReplaceIndex   = errors.New("Index of replacement too big")
	ErrNoMatchingRule = errors.New("Bad rule (does a matching rule exist in that chain?)")
	ErrLoop           = errors.New("Too many levels of symbolic links")
	ErrRenameBuiltin  = errors.New("Can't rename built-in chain")
	ErrUnknownTable   = errors.New("Table does not exist (do you need to insmod?)")
)

// Policy is the verdict of a built-in chain for packets that reach its end.
type Policy uint8

// Policies of built-in chains. User chains have NoPolicy.
const (
	NoPolicy Policy = iota
	PolicyAccept
	PolicyDrop
)

// String returns "ACCEPT", "DROP" or "-" (a user chain).
func (p Policy) String() string {
	switch p {
	case PolicyAccept:
		return "ACCEPT"
	case PolicyDrop:
		return "DROP"
	}
	return "-"
}

// ParsePolicy parses "ACCEPT" or "DROP".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "ACCEPT":
		return PolicyAccept, nil
	case "DROP":
		return PolicyDrop, nil
	}
	return NoPolicy, ErrBadPolicy
}

// Counters are a packet and a byte count.
type Counters struct {
	Packets, Bytes uint64
}

// Chain is a built-in or user-defined chain: an ordered list of rules and,
// for a built-in chain, a policy with its own counters.
type Chain struct {
	Name     string
	Builtin  bool
	Hook     Hook     // the hook of a built-in chain
	Policy   Policy   // NoPolicy for user chains
	Counters Counters // policy counters of a built-in chain
	Rules    []*Rule
}

// Table is one table of a Ruleset.
type Table struct {
	Name string
	// Chains holds the built-in chains in hook order, then the user chains
	// in creation order. Change it through the methods, which keep the
	// index by name current.
	Chains []*Chain

	index map[string]*Chain
}

// NewTable returns the named table with its built-in chains, empty, with
// ACCEPT policies.
func NewTable(name string) (*Table, error) {
	spec, ok := LookupTable(name)
	if !ok {
		return nil, fmt.Errorf("can't initialize table `%s': %w", name, ErrUnknownTable)
	}
	t := &Table{Name: name}
	for _, h := range spec.Hooks {
		t.Chains = append(t.Chains, &Chain{Name: h.String(), Builtin: true, Hook: h, Policy: PolicyAccept})
	}
	return t, nil
}

// Chain returns the named chain, or nil.
func (t *Table) Chain(name string) *Chain {
	if t.index == nil {
		t.index = make(map[string]*Chain, len(t.Chains))
		for _, c := range t.Chains {
			t.index[c.Name] = c
		}
	}
	return t.index[name]
}

// setChains replaces the chain list and drops the index.
func (t *Table) setChains(cs []*Chain) {
	t.Chains = cs
	t.index = nil
}

// RemoveUserChains deletes every user chain, referenced or not, as
// iptables-restore does when it flushes a table.
func (t *Table) RemoveUserChains() {
	var kept []*Chain
	for _, c := range t.Chains {
		if c.Builtin {
			kept = append(kept, c)
		}
	}
	t.setChains(kept)
}

// SortedChains returns the chains in the order iptables-save prints them:
// built-in chains in hook order, then user chains sorted by name, as
// libiptc keeps them.
func (t *Table) SortedChains() []*Chain {
	var builtin, user []*Chain
	for _, c := range t.Chains {
		if c.Builtin {
			builtin = append(builtin, c)
		} else {
			user = append(user, c)
		}
	}
	sort.SliceStable(user, func(i, j int) bool { return user[i].Name < user[j].Name })
	return append(builtin, user...)
}

// NewChain creates an empty user chain.
func (t *Table) NewChain(name string) error {
	if t.Chain(name) != nil {
		return ErrChainExists
	}
	c := &Chain{Name: name}
	t.Chains = append(t.Chains, c)
	if t.index != nil {
		t.index[name] = c
	}
	return nil
}

// References counts the rules of the table that jump or go to the chain.
func (t *Table) References(name string) int {
	n := 0
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if chain, ok := JumpChain(r.Target); ok && chain == name {
				n++
			}
		}
	}
	return n
}

// DeleteChain deletes an empty, unreferenced user chain. An empty name
// deletes every user chain, as `iptables -X` does.
func (t *Table) DeleteChain(name string) error {
	if name == "" {
		for _, c := range t.Chains {
			if !c.Builtin && t.References(c.Name) > 0 {
				return ErrChainInUse
			}
		}
		for _, c := range t.Chains {
			if !c.Builtin && len(c.Rules) > 0 {
				return ErrChainNotEmpty
			}
		}
		t.RemoveUserChains()
		return nil
	}
	c := t.Chain(name)
	switch {
	case c == nil:
		return ErrNoChain
	case c.Builtin:
		return ErrBuiltinChain
	case t.References(name) > 0:
		return ErrChainInUse
	case len(c.Rules) > 0:
		return ErrChainNotEmpty
	}
	for i, x := range t.Chains {
		if x == c {
			t.setChains(append(t.Chains[:i:i], t.Chains[i+1:]...))
			break
		}
	}
	return nil
}

// RenameChain renames a user chain and every jump to it.
func (t *Table) RenameChain(old, name string) error {
	c := t.Chain(old)
	switch {
	case c == nil:
		return ErrNoChain
	case c.Builtin:
		return ErrRenameBuiltin
	case t.Chain(name) != nil:
		return ErrChainExists
	}
	c.Name = name
	t.index = nil
	for _, ch := range t.Chains {
		for _, r := range ch.Rules {
			switch tg := r.Target.(type) {
			case *Jump:
				if tg.Chain == old {
					tg.Chain = name
				}
			case *Goto:
				if tg.Chain == old {
					tg.Chain = name
				}
			}
		}
	}
	return nil
}

// Flush removes every rule of the chain, or of every chain when name is
// empty.
func (t *Table) Flush(name string) error {
	if name == "" {
		for _, c := range t.Chains {
			c.Rules = nil
		}
		return nil
	}
	c := t.Chain(name)
	if c == nil {
		return ErrNoChain
	}
	c.Rules = nil
	return nil
}

// Zero resets the counters of the chain's rules and policy, or of every
// chain when name is empty.
func (t *Table) Zero(name string) error {
	zero := func(c *Chain) {
		c.Counters = Counters{}
		for _, r := range c.Rules {
			r.Counters = Counters{}
		}
	}
	if name == "" {
		for _, c := range t.Chains {
			zero(c)
		}
		return nil
	}
	c := t.Chain(name)
	if c == nil {
		return ErrNoChain
	}
	zero(c)
	return nil
}

// ZeroRule resets the counters of rule number n (1-based) of the chain.
func (t *Table) ZeroRule(name string, n int) error {
	c := t.Chain(name)
	if c == nil {
		return ErrNoChain
	}
	if n < 1 || n > len(c.Rules) {
		return ErrNoMatchingRule
	}
	c.Rules[n-1].Counters = Counters{}
	return nil
}

// SetPolicy sets the policy of a built-in chain, and its counters when
// counters is not nil.
func (t *Table) SetPolicy(name string, p Policy, counters *Counters) error {
	c := t.Chain(name)
	if c == nil || !c.Builtin {
		return ErrNotBuiltin
	}
	if p != PolicyAccept && p != PolicyDrop {
		return ErrBadPolicy
	}
	c.Policy = p
	if counters != nil {
		c.Counters = *counters
	}
	return nil
}

// Append adds rules at the end of the chain.
func (t *Table) Append(name string, rules ...*Rule) error {
	c := t.Chain(name)
	if c == nil {
		return ErrNoChain
	}
	c.Rules = append(c.Rules, rules...)
	return nil
}

// Insert inserts a rule so that it becomes rule number n (1-based).
func (t *Table) Insert(name string, n int, r *Rule) error {
	c := t.Chain(name)
	if c == nil {
		return ErrNoChain
	}
	if n < 1 || n > len(c.Rules)+1 {
		return ErrInsertIndex
	}
	c.Rules = append(c.Rules, nil)
	copy(c.Rules[n:], c.Rules[n-1:])
	c.Rules[n-1] = r
	return nil
}

// Replace replaces rule number n (1-based).
func (t *Table) Replace(name string, n int, r *Rule) error {
	c := t.Chain(name)
	if c == nil {
		return ErrNoChain
	}
	if n < 1 || n > len(c.Rules) {
		return ErrReplaceIndex
	}
	c.Rules[n-1] = r
	return nil
}

// DeleteNum deletes rule number n (1-based).
func (t *Table) DeleteNum(name string, n int) error {
	c := t.Chain(name)
	if c == nil {
		return ErrNoChain
	}
	if n < 1 || n > len(c.Rules) {
		return ErrDeleteIndex
	}
	c.Rules = append(c.Rules[:n-1], c.Rules[n:]...)
	return nil
}

// Find returns the 1-based number of the first rule of the chain equal to r
// (see Rule.Equal), or 0.
func (t *Table) Find(name string, r *Rule, f Family) (int, error) {
	c := t.Chain(name)
	if c == nil {
		return 0, ErrNoChain
	}
	for i, x := range c.Rules {
		if x.Equal(r, f) {
			return i + 1, nil
		}
	}
	return 0, nil
}

// Delete deletes the first rule of the chain equal to r.
func (t *Table) Delete(name string, r *Rule, f Family) error {
	n, err := t.Find(name, r, f)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNoMatchingRule
	}
	return t.DeleteNum(name, n)
}

// Clone returns a deep copy of the table's structure. Rules are copied
// shallowly: matches and targets are immutable once parsed, except for
// jump targets, which are copied so that renames do not leak.
func (t *Table) Clone() *Table {
	n := &Table{Name: t.Name}
	for _, c := range t.Chains {
		nc := *c
		nc.Rules = make([]*Rule, len(c.Rules))
		for i, r := range c.Rules {
			nc.Rules[i] = r.Clone()
		}
		n.Chains = append(n.Chains, &nc)
	}
	return n
}

// RuleCount returns the number of rules in all chains of the table.
func (t *Table) RuleCount() int {
	n := 0
	for _, c := range t.Chains {
		n += len(c.Rules)
	}
	return n
}
