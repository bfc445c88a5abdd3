package plan

import (
	"fmt"

	"github.com/bpftables/bpftables/translator"
)

// ruleWeight is what a rule of a linear segment weighs against
// Options.BlockTests: its tests, each by the comparisons its code makes
// (a word of an address, a port range of a set), and one for its counter
// and action. It stands for the branches the verifier follows, each of
// which it may keep pending to the function's end.
func ruleWeight(r *Rule) int {
	n := 1
	for _, t := range r.Tests {
		switch t.Op {
		case OpSet, OpSetEither:
			w := 0
			for _, rg := range t.Ranges {
				w++
				if rg[0] != rg[1] {
					w++
				}
			}
			if t.Op == OpSetEither {
				w *= 2
			}
			n += max(1, w)
		case OpRange:
			n += max(1, len(t.Lo)/4)
		default:
			n += max(1, len(t.Value)/4)
		}
	}
	return n
}

// lookupWeight is what a hash, LPM or bit-vector segment weighs against
// Options.BlockTests, plus two for each chain a bit-vector may call (its
// code calls each target it names).
const lookupWeight = 8

func blockCost(s *Segment) int {
	if s.Kind == Linear {
		n := 0
		for _, r := range s.Rules {
			n += ruleWeight(r)
		}
		return n
	}
	n := lookupWeight
	if s.Kind == BitVector {
		seen := map[int]bool{}
		for _, r := range s.Rules {
			if (r.Kind == ActJump || r.Kind == ActGoto) && !seen[r.Target] {
				seen[r.Target] = true
				n += 2
			}
		}
	}
	return n
}

// cutBlocks numbers the blocks of a chain whose segments weigh more than
// limit: consecutive segments fill a block up to limit, and a linear
// segment that does not fit is split between blocks (a rule or a segment
// heavier than limit takes a block alone). A chain within the limit
// keeps its segments in its own function (Block 0).
func cutBlocks(segs []*Segment, limit int) []*Segment {
	total := 0
	for _, s := range segs {
		total += blockCost(s)
	}
	if total <= limit {
		return segs
	}
	out := make([]*Segment, 0, len(segs)+total/limit)
	block, used := 1, 0
	for _, s := range segs {
		if s.Kind != Linear {
			c := blockCost(s)
			if used > 0 && used+c > limit {
				block, used = block+1, 0
			}
			s.Block = block
			used += c
			out = append(out, s)
			continue
		}
		start := 0
		for i, r := range s.Rules {
			w := ruleWeight(r)
			if used > 0 && used+w > limit {
				if i > start {
					out = append(out, &Segment{Kind: Linear, Rules: s.Rules[start:i:i], Block: block})
				}
				block, used, start = block+1, 0, i
			}
			used += w
		}
		out = append(out, &Segment{Kind: Linear, Rules: s.Rules[start:len(s.Rules):len(s.Rules)], Block: block})
	}
	return out
}

// Blocks returns the number of blocks of the chain: 0 when its segments
// run in the chain's function itself.
func (c *Chain) Blocks() int {
	if len(c.Segments) == 0 {
		return 0
	}
	return c.Segments[len(c.Segments)-1].Block
}

// MaxFunctions is how many functions one program may have: the kernel's
// BPF_MAX_SUBPROGS.
const MaxFunctions = 256

// Held returns the chains the program of root holds as functions, in the
// order they are first reached: root and, through jumps, every chain that
// is not a program of its own. A nil root is the entry program, which
// holds the built-in chains of the hooks.
func (p *Plan) Held(root *Chain) []*Chain {
	var roots []*Chain
	if root == nil {
		for _, h := range []translator.Hook{translator.Input, translator.Forward, translator.Output, translator.PreRouting, translator.PostRouting} {
			if id, ok := p.Entry[h]; ok {
				roots = append(roots, p.Chains[id])
			}
		}
	} else {
		roots = []*Chain{root}
	}
	in := map[int]bool{} // a program holds few of thousands of chains
	var order []*Chain
	var visit func(c *Chain)
	visit = func(c *Chain) {
		if in[c.ID] {
			return
		}
		in[c.ID] = true
		order = append(order, c)
		for _, s := range c.Segments {
			if s.Kind == Hash || s.Kind == LPM {
				continue // their jumps enter programs
			}
			for _, r := range s.Rules {
				if (r.Kind == ActJump || r.Kind == ActGoto) && !p.Chains[r.Target].Program {
					visit(p.Chains[r.Target])
				}
			}
		}
	}
	for _, c := range roots {
		visit(c)
	}
	return order
}

// functions counts the functions of a program that holds the chains:
// its main function and counting function, each chain's function, blocks
// and bit-vector scans, and a stub per program its chains enter.
func (p *Plan) functions(held []*Chain) int {
	n := 2
	stubs := map[int]bool{}
	dyn := false
	for _, c := range held {
		n += 1 + c.Blocks()
		for _, s := range c.Segments {
			if s.Kind == BitVector {
				n++
			}
			for _, r := range s.Rules {
				if r.Kind != ActJump && r.Kind != ActGoto {
					continue
				}
				if s.Kind == Hash || s.Kind == LPM {
					dyn = true
				} else if p.Chains[r.Target].Program {
					stubs[r.Target] = true
				}
			}
		}
	}
	if dyn {
		n++
	}
	return n + len(stubs)
}

// fitFunctions keeps each program within MaxFunctions: the chains of a
// program with more take bigger blocks, so fewer of them.
func (p *Plan) fitFunctions(blockTests int) error {
	roots := []*Chain{nil}
	for _, c := range p.Chains {
		if c.Program {
			roots = append(roots, c)
		}
	}
	for _, root := range roots {
		size := blockTests
		for {
			held := p.Held(root)
			n := p.functions(held)
			if n <= MaxFunctions {
				break
			}
			var blocked []*Chain
			blocks, cost := 0, 0
			for _, c := range held {
				if c.Blocks() > 0 {
					blocked = append(blocked, c)
					blocks += c.Blocks()
					for _, s := range c.Segments {
						cost += blockCost(s)
					}
				}
			}
			room := MaxFunctions - (n - blocks)
			if room < len(blocked) {
				name := "the entry program"
				if root != nil {
					name = "the program of chain " + root.Name
				}
				return fmt.Errorf("%s needs %d functions (chains, blocks, bit-vector scans, calls of other programs), more than the %d the kernel allows: %w", name, n, MaxFunctions, ErrTooLarge)
			}
			// A lookup that does not fit a block's rest opens the next
			// block: grow until the blocks fit, not just their rules.
			size = max(size+size/4+1, (cost+room-1)/room)
			for _, c := range blocked {
				c.Segments = cutBlocks(uncut(c.Segments), size)
			}
		}
	}
	return nil
}

// uncut undoes cutBlocks: the linear segments it split are joined again
// (segment never puts two linear segments next to each other).
func uncut(segs []*Segment) []*Segment {
	var out []*Segment
	for _, s := range segs {
		s.Block = 0
		if s.Kind == Linear && len(out) > 0 && out[len(out)-1].Kind == Linear {
			last := out[len(out)-1]
			out[len(out)-1] = &Segment{Kind: Linear, Rules: append(last.Rules[:len(last.Rules):len(last.Rules)], s.Rules...)}
			continue
		}
		out = append(out, s)
	}
	return out
}
