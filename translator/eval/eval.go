// Package eval judges a packet against a Ruleset in pure Go, as the
// kernel's ipt_do_table/ip6t_do_table walk a table: first match wins, user
// chains are entered with -j and left at their end or at RETURN, -g does
// not come back, and built-in chains end in their policy.
//
// It is the oracle the compiled BPF programs are tested against, and the
// engine of migrate's simulation.
package eval

import (
	"fmt"
	"time"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/conntrack"
	"github.com/bpftables/bpftables/translator/packet"
)

// RuleRef names one rule of a ruleset.
type RuleRef struct {
	Table, Chain string
	Index        int // 1-based position in the chain
	Rule         *translator.Rule
}

// String prints "table/chain#index".
func (r RuleRef) String() string { return fmt.Sprintf("%s/%s#%d", r.Table, r.Chain, r.Index) }

// Result is what one table decided for a packet at one hook.
type Result struct {
	Verdict translator.Verdict // Accept or Drop
	// Matched lists every rule that matched on the way, in order: the
	// rules whose counters the packet increments.
	Matched []RuleRef
	// Policy is the built-in chain whose policy decided, or nil when a
	// rule's target did.
	Policy *translator.Chain
	// HotDrop is set when a match found the packet malformed and dropped
	// it.
	HotDrop bool
	Effects []translator.Effect
}

// Options are what the evaluation needs besides the packet.
type Options struct {
	// Now is the evaluation time for stateful matches; zero means
	// time.Now().
	Now time.Time
	// State carries stateful matches' memory across calls; nil evaluates
	// each packet as the first.
	State *translator.State
	// IPSets holds set contents; nil is empty sets.
	IPSets translator.IPSets
	// Conntrack, when not nil, is the connection table: a table whose
	// rules read the state tracks the packet first (its CT is set) and
	// confirms its new connection if it accepts. Nil leaves the packet's
	// CT as given.
	Conntrack *conntrack.Table
}

// Evaluate walks the built-in chain of the hook in the named table. A table
// the ruleset does not have, or without that hook, accepts.
func Evaluate(rs *translator.Ruleset, table string, hook translator.Hook, p *packet.Packet, opts Options) Result {
	t := rs.Table(table)
	if t == nil {
		return Result{Verdict: translator.Accept}
	}
	var start *translator.Chain
	for _, c := range t.Chains {
		if c.Builtin && c.Hook == hook {
			start = c
		}
	}
	if start == nil {
		return Result{Verdict: translator.Accept}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	ctx := &translator.Context{Packet: p, Family: rs.Family, Hook: hook, Table: table, Now: now, State: opts.State, IPSets: opts.IPSets}
	var ct conntrack.Decision
	tracked := opts.Conntrack != nil && conntrack.Uses(t)
	if tracked {
		// a looped-back packet was tracked on its way out (OUTPUT)
		ct = opts.Conntrack.Track(p, !(hook == translator.Input && p.InIface == "lo"))
		p.CT = ct.CT()
	}
	res := walk(t, start, ctx)
	res.Effects = ctx.Effects
	if tracked && res.Verdict == translator.Accept {
		opts.Conntrack.Confirm(ct)
	}
	return res
}

type frame struct {
	chain *translator.Chain
	next  int // index of the rule to continue with
}

func walk(t *translator.Table, start *translator.Chain, ctx *translator.Context) Result {
	var res Result
	var stack []frame
	chain, i := start, 0
	policy := func() Result {
		res.Verdict = policyVerdict(start.Policy)
		res.Policy = start
		return res
	}
	// ret leaves the current chain as RETURN or its end does: back to the
	// caller, or to the built-in chain's policy when there is none.
	ret := func() bool {
		if len(stack) == 0 {
			return false
		}
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		chain, i = f.chain, f.next
		return true
	}
	for {
		if i >= len(chain.Rules) {
			if chain.Builtin || !ret() {
				return policy()
			}
			continue
		}
		r := chain.Rules[i]
		ref := RuleRef{Table: t.Name, Chain: chain.Name, Index: i + 1, Rule: r}
		if !RuleMatches(r, ctx) {
			if ctx.HotDrop {
				res.Verdict, res.HotDrop = translator.Drop, true
				return res
			}
			i++
			continue
		}
		res.Matched = append(res.Matched, ref)
		switch tg := r.Target.(type) {
		case nil:
			i++
		case *translator.Jump:
			stack = append(stack, frame{chain, i + 1})
			chain, i = t.Chain(tg.Chain), 0
		case *translator.Goto:
			chain, i = t.Chain(tg.Chain), 0
		default:
			v := tg.Apply(ctx)
			switch v {
			case translator.Continue:
				i++
			case translator.Return:
				if chain.Builtin || !ret() {
					return policy()
				}
			default:
				res.Verdict = v
				return res
			}
		}
		if chain == nil {
			// a jump to a chain the table lacks: Ruleset.Check refuses
			// such rulesets, so this is a programming error
			panic(fmt.Sprintf("eval: rule %s jumps to a missing chain", ref))
		}
	}
}

func policyVerdict(p translator.Policy) translator.Verdict {
	if p == translator.PolicyDrop {
		return translator.Drop
	}
	return translator.Accept
}

// RuleMatches reports whether the packet matches the rule's header and
// every one of its matches, in order, as ip_packet_match and the match loop
// of ipt_do_table decide it. A match may set ctx.HotDrop.
func RuleMatches(r *translator.Rule, ctx *translator.Context) bool {
	p := ctx.Packet
	if r.Src.Contains(p.Src) == r.InvSrc || r.Dst.Contains(p.Dst) == r.InvDst {
		return false
	}
	if translator.IfaceMatch(r.InIface, p.InIface) == r.InvIn || translator.IfaceMatch(r.OutIface, p.OutIface) == r.InvOut {
		return false
	}
	if ctx.Family == translator.IPv6 {
		if r.Proto != 0 || r.InvProto {
			if (p.Proto == r.Proto) == r.InvProto {
				return false
			}
		}
	} else {
		if r.Proto != 0 && (p.Proto == r.Proto) == r.InvProto {
			return false
		}
		if r.Fragment && (!p.Fragment) != r.InvFragment {
			return false
		}
	}
	for _, m := range r.Matches {
		if !m.Match(ctx) {
			return false
		}
	}
	return true
}
