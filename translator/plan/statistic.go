package plan

import (
	"fmt"
	"math/rand/v2"
)

// Statistic is the state a test of the statistic match keeps (OpRandom,
// OpNth): the datapath keeps it in the generation's nth map, Judge in the
// test itself.
type Statistic struct {
	// Probability is the random mode's threshold: the test holds when
	// prandom_u32() & 0x7fffffff is below it (xt_statistic.c).
	Probability uint32
	// Every is n-1 and Count the counter's start (every - packet) of the
	// nth mode.
	Every, Count uint32
	// Slot is the nth test's entry in the generation's nth map.
	Slot int
	// passed counts the packets Judge has tested (nth).
	passed uint64
}

// Random adds the statistic match's random mode: a random draw below
// prob, or its negation.
func (b *Builder) Random(prob uint32, inv bool) {
	b.add(Test{Op: OpRandom, Stat: &Statistic{Probability: prob}, Invert: inv})
}

// Nth adds the statistic match's nth mode: the rule's counter, shared
// by every CPU, steps from count through 0..every, and the test holds
// when it reaches 0 (statistic_mt's cmpxchg loop).
func (b *Builder) Nth(every, count uint32, inv bool) {
	b.add(Test{Op: OpNth, Stat: &Statistic{Every: every, Count: count, Slot: *b.nth}, Invert: inv})
	*b.nth++
}

// Stateful reports whether the test changes state or draws at random:
// such a test runs exactly when the kernel would run it, in its rule's
// order, so its rule is tested linearly.
func (t Test) Stateful() bool { return t.Op == OpRandom || t.Op == OpNth || t.Op == OpLimit }

// stateful reports whether a rule has a Stateful test.
func stateful(r *Rule) bool {
	for _, t := range r.Tests {
		if t.Stateful() {
			return true
		}
	}
	return false
}

// NthNext is the value the nth counter takes at the packet that finds
// passed packets before it: (count + passed + 1) mod (every + 1), which
// is where the kernel's counter, stepping one at a time from count and
// wrapping after every, is then.
func NthNext(every, count uint32, passed uint64) uint64 {
	return (uint64(count) + passed + 1) % (uint64(every) + 1)
}

// statCond is the condition of a stateful test before inversion.
func (t Test) statCond() bool {
	switch t.Op {
	case OpRandom:
		return rand.Uint32()&0x7fffffff < t.Stat.Probability
	case OpNth:
		n := NthNext(t.Stat.Every, t.Stat.Count, t.Stat.passed)
		t.Stat.passed++
		return n == 0
	}
	return false
}

func (t Test) statString() string {
	if t.Op == OpRandom {
		return fmt.Sprintf("random < %#x", t.Stat.Probability)
	}
	return fmt.Sprintf("nth[%d] every %d from %d", t.Stat.Slot, uint64(t.Stat.Every)+1, t.Stat.Count)
}

// NthSlots returns how many nth counters the plan's rules use.
func (p *Plan) NthSlots() int { return p.nth }
