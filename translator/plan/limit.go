package plan

import (
	"fmt"
	"time"
)

// Limit is the token bucket of a limit match's test (OpLimit), after
// xt_limit.c: the datapath keeps it in the generation's limit map, Judge
// in the test itself.
type Limit struct {
	// Avg is the average time between matches in 1/10000 s and Burst the
	// matches the bucket holds (struct xt_rateinfo).
	Avg, Burst uint32
	// Slot is the test's entry in the generation's limit map.
	Slot int

	// Judge's bucket, in jiffies of JudgeHZ.
	started bool
	prev    uint64
	credit  uint32
}

// JudgeHZ is the tick rate Judge counts a limit's time in.
const JudgeHZ = 250

// LimitCredits is xt_limit.c's arithmetic for a kernel of the given HZ:
// CREDITS_PER_JIFFY, the cost of a match (user2credits(avg)) and the
// bucket's capacity (user2credits(avg * burst), in 32 bits as the
// kernel multiplies).
func LimitCredits(avg, burst, hz uint32) (perJiffy, cost, capacity uint32) {
	perJiffy = uint32(1)
	for x := uint64(0xFFFFFFFF) / (uint64(hz) * 60 * 60 * 24); uint64(perJiffy)*2 <= x; {
		perJiffy *= 2
	}
	user2credits := func(user uint32) uint32 {
		if user > 0xFFFFFFFF/(hz*perJiffy) {
			return (user / 10000) * hz * perJiffy
		}
		return (user * hz * perJiffy) / 10000
	}
	return perJiffy, user2credits(avg), user2credits(avg * burst)
}

// AddLimit adds the limit match's test: a credit taken from the rule's
// bucket.
func (b *Builder) AddLimit(avg, burst uint32) {
	b.add(Test{Op: OpLimit, Lim: &Limit{Avg: avg, Burst: burst, Slot: *b.limits}})
	*b.limits++
}

// limitCond is limit_mt on Judge's bucket, with the wall clock.
func (t Test) limitCond() bool {
	l := t.Lim
	now := uint64(time.Now().UnixNano()) / (1e9 / JudgeHZ)
	perJiffy, cost, capacity := LimitCredits(l.Avg, l.Burst, JudgeHZ)
	if !l.started {
		l.started, l.prev, l.credit = true, now, capacity
	}
	credit := l.credit + uint32((now-l.prev)*uint64(perJiffy))
	l.prev = now
	if credit > capacity {
		credit = capacity
	}
	ok := credit >= cost
	if ok {
		credit -= cost
	}
	l.credit = credit
	return ok
}

func (t Test) limitString() string {
	return fmt.Sprintf("limit[%d] avg %d burst %d", t.Lim.Slot, t.Lim.Avg, t.Lim.Burst)
}

// LimitSlots returns how many limit buckets the plan's rules use.
func (p *Plan) LimitSlots() int { return p.limits }
