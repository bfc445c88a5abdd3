package translator

import (
	"errors"
	"fmt"
)

// Ruleset is everything iptables (or ip6tables) holds for one family: its
// tables with their chains and rules.
type Ruleset struct {
	Family Family
	Tables []*Table // in the order they were first used
}

// NewRuleset returns an empty ruleset of the family.
func NewRuleset(f Family) *Ruleset { return &Ruleset{Family: f} }

// Table returns the named table, or nil if the ruleset has none.
func (rs *Ruleset) Table(name string) *Table {
	for _, t := range rs.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// EnsureTable returns the named table, creating it with its built-in
// chains if the ruleset does not have it yet.
func (rs *Ruleset) EnsureTable(name string) (*Table, error) {
	if t := rs.Table(name); t != nil {
		return t, nil
	}
	t, err := NewTable(name)
	if err != nil {
		return nil, err
	}
	rs.Tables = append(rs.Tables, t)
	return t, nil
}

// SetTable replaces (or adds) a table.
func (rs *Ruleset) SetTable(t *Table) {
	for i, x := range rs.Tables {
		if x.Name == t.Name {
			rs.Tables[i] = t
			return
		}
	}
	rs.Tables = append(rs.Tables, t)
}

// Clone returns a deep copy of the ruleset's structure (see Table.Clone).
func (rs *Ruleset) Clone() *Ruleset {
	n := &Ruleset{Family: rs.Family}
	for _, t := range rs.Tables {
		n.Tables = append(n.Tables, t.Clone())
	}
	return n
}

// RuleError is a rule the kernel would refuse, with where it is.
type RuleError struct {
	Table, Chain string
	Index        int // 1-based position in the chain
	Rule         *Rule
	Err          error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("table %s chain %s rule %d: %v", e.Table, e.Chain, e.Index, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// Check makes the checks the kernel makes when a table is loaded: no jump
// to a built-in chain, no loop reachable from a hook, and every match and
// target valid in its table and in every hook its rule is reachable from.
// It returns the first problem as a *RuleError.
func (rs *Ruleset) Check(objs Objects) error {
	for _, t := range rs.Tables {
		if err := CheckTable(rs.Family, t, objs); err != nil {
			return err
		}
	}
	return nil
}

// CheckTable is Check for one table.
func CheckTable(f Family, t *Table, objs Objects) error {
	for _, c := range t.Chains {
		for i, r := range c.Rules {
			name, ok := JumpChain(r.Target)
			if !ok {
				continue
			}
			target := t.Chain(name)
			switch {
			case target == nil:
				return &RuleError{t.Name, c.Name, i + 1, r, fmt.Errorf("jump to `%s': %w", name, ErrNoChain)}
			case target.Builtin:
				return &RuleError{t.Name, c.Name, i + 1, r, fmt.Errorf("can't jump to built-in chain `%s'", name)}
			}
		}
	}
	hooks, err := reachableHooks(t)
	if err != nil {
		return err
	}
	// one context for every rule: matches and targets keep none
	cc := &CheckContext{Family: f, Table: t.Name, Objects: objs}
	for _, c := range t.Chains {
		cc.Chain, cc.Hooks = c.Name, hooks[c.Name]
		for i, r := range c.Rules {
			cc.Rule = r
			for _, m := range r.Matches {
				if err := m.Check(cc); err != nil {
					return &RuleError{t.Name, c.Name, i + 1, r, err}
				}
			}
			if r.Target != nil {
				if err := r.Target.Check(cc); err != nil {
					return &RuleError{t.Name, c.Name, i + 1, r, err}
				}
			}
		}
	}
	return nil
}

// reachableHooks walks the jump graph from every built-in chain and returns,
// for each chain, the hooks it is reachable from. A loop reachable from a
// hook is an error, as the kernel's mark_source_chains finds it.
func reachableHooks(t *Table) (map[string]HookMask, error) {
	hooks := map[string]HookMask{}
	for _, c := range t.Chains {
		if !c.Builtin {
			continue
		}
		onPath := map[string]bool{}
		var walk func(ch *Chain) error
		walk = func(ch *Chain) error {
			if onPath[ch.Name] {
				return &RuleError{Table: t.Name, Chain: ch.Name, Err: ErrLoop}
			}
			if hooks[ch.Name].Has(c.Hook) {
				return nil // already walked from this hook, without a loop
			}
			hooks[ch.Name] |= c.Hook.Mask()
			onPath[ch.Name] = true
			defer delete(onPath, ch.Name)
			for i, r := range ch.Rules {
				name, ok := JumpChain(r.Target)
				if !ok {
					continue
				}
				next := t.Chain(name)
				if next == nil || next.Builtin {
					continue
				}
				if err := walk(next); err != nil {
					var re *RuleError
					if errors.As(err, &re) && re.Rule == nil {
						re.Chain, re.Index, re.Rule = ch.Name, i+1, r
					}
					return err
				}
			}
			return nil
		}
		if err := walk(c); err != nil {
			return nil, err
		}
	}
	return hooks, nil
}
