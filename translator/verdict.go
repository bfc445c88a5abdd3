package translator

import "strings"

// Standard is a standard verdict target: -j ACCEPT, -j DROP or -j RETURN.
type Standard struct {
	Verdict Verdict
}

// Name returns ACCEPT, DROP or RETURN.
func (s *Standard) Name() string { return s.Verdict.String() }

// Save prints nothing: a standard verdict has no options.
func (s *Standard) Save(*strings.Builder, Family) {}

// Check accepts a standard verdict anywhere.
func (s *Standard) Check(*CheckContext) error { return nil }

// Apply returns the verdict.
func (s *Standard) Apply(*Context) Verdict { return s.Verdict }

// Jump is -j CHAIN: evaluation continues in the user chain and comes back
// to the next rule when that chain returns.
type Jump struct {
	Chain string
}

// Name returns the chain name.
func (j *Jump) Name() string { return j.Chain }

// Save prints nothing.
func (j *Jump) Save(*strings.Builder, Family) {}

// Check accepts a jump; loops are found by the ruleset check.
func (j *Jump) Check(*CheckContext) error { return nil }

// Apply returns Continue; the evaluator follows the jump.
func (j *Jump) Apply(*Context) Verdict { return Continue }

// Goto is -g CHAIN: evaluation continues in the user chain and, when that
// chain returns, returns from the calling chain too.
type Goto struct {
	Chain string
}

// Name returns the chain name.
func (g *Goto) Name() string { return g.Chain }

// Save prints nothing.
func (g *Goto) Save(*strings.Builder, Family) {}

// Check accepts a goto.
func (g *Goto) Check(*CheckContext) error { return nil }

// Apply returns Continue; the evaluator follows the goto.
func (g *Goto) Apply(*Context) Verdict { return Continue }

// JumpChain returns the chain a jump or goto target leads to.
func JumpChain(t Target) (string, bool) {
	switch t := t.(type) {
	case *Jump:
		return t.Chain, true
	case *Goto:
		return t.Chain, true
	}
	return "", false
}

// StandardVerdicts are the names -j takes for standard verdicts. QUEUE is
// not among them: bpftables has no userspace queue.
var StandardVerdicts = map[string]Verdict{"ACCEPT": Accept, "DROP": Drop, "RETURN": Return}
