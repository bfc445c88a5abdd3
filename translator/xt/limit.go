package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// Limit is the limit match: a token bucket shared by the packets that reach
// the rule (struct xt_rateinfo).
type Limit struct {
	// Avg is the average time between matches in 1/10000 s
	// (XT_LIMIT_SCALE).
	Avg uint32
	// Burst is the number of matches the bucket holds.
	Burst uint32
}

// limitScale is XT_LIMIT_SCALE: Avg counts 1/10000 of a second.
const limitScale = 10000

// limitDefaultBurst is XT_LIMIT_BURST.
const limitDefaultBurst = 5

const (
	limitRate = iota
	limitBurst
)

func init() {
	RegisterMatch(&MatchDef{
		Name: "limit",
		Options: []Option{
			{Name: "limit", Type: String, ID: limitRate},
			{Name: "limit-burst", Type: Uint32, ID: limitBurst, Max: 10000},
		},
		New: func(translator.Family) MatchParser {
			// limit_init: 3/hour, burst 5
			return &Limit{Avg: limitScale * 60 * 60 / 3, Burst: limitDefaultBurst}
		},
	})
}

// Name returns "limit".
func (m *Limit) Name() string { return "limit" }

// parseLimitRate is limit's parse_rate: "N[/unit]" with N read by atoi.
func parseLimitRate(rate string) (uint32, error) {
	mult, ok := rateUnit(rate)
	r := uint32(atoi(rate))
	if !ok || r == 0 {
		return 0, Errorf("bad rate \"%s\"'", rate)
	}
	avg := limitScale * mult / r
	if avg == 0 {
		// The rate maps to infinity.
		return 0, Errorf("Rate too fast \"%s\"", rate)
	}
	return avg, nil
}

// Parse takes --limit or --limit-burst.
func (m *Limit) Parse(c *Call) error {
	switch c.Opt.ID {
	case limitRate:
		avg, err := parseLimitRate(c.Arg)
		if err != nil {
			return err
		}
		m.Avg = avg
	case limitBurst:
		m.Burst = uint32(c.U64)
	}
	return nil
}

// Final has nothing to check: every field has a default.
func (m *Limit) Final(*Final) error { return nil }

// Save prints --limit always and --limit-burst when not the default, as
// limit_save does.
func (m *Limit) Save(b *strings.Builder, _ translator.Family) {
	b.WriteString(" --limit")
	if m.Avg == 0 {
		b.WriteString(" inf")
	} else {
		n, unit, _ := rateName(uint64(m.Avg), limitScale)
		Savef(b, " %d/%s", n, unit)
	}
	if m.Burst != limitDefaultBurst {
		Savef(b, " --limit-burst %d", m.Burst)
	}
}

// limitCreditsPerJiffy is CREDITS_PER_JIFFY of xt_limit.c: the largest
// power of two that lets a rate of one per day fit 32 bits of credit.
var limitCreditsPerJiffy = uint32(pow2Below(0xFFFFFFFF / (HZ * 60 * 60 * 24)))

// limitUser2Credits is xt_limit's user2credits, in its 32-bit arithmetic.
func limitUser2Credits(user uint32) uint32 {
	if user > 0xFFFFFFFF/(HZ*limitCreditsPerJiffy) {
		return (user / limitScale) * HZ * limitCreditsPerJiffy
	}
	return (user * HZ * limitCreditsPerJiffy) / limitScale
}

// Check refuses what limit_mt_check refuses: a zero burst, or one whose
// credit overflows 32 bits.
func (m *Limit) Check(c *translator.CheckContext) error {
	if m.Burst == 0 || limitUser2Credits(m.Avg*m.Burst) < limitUser2Credits(m.Avg) {
		return c.Errorf("limit: Overflow, try lower: %d/%d", m.Avg, m.Burst)
	}
	return nil
}

// limitState is xt_limit_priv: the bucket of one rule.
type limitState struct {
	prev   uint64 // jiffies of the last packet
	credit uint32
}

// Match takes cost credits from the rule's bucket as limit_mt does. The
// bucket starts full at the first packet the rule sees (the kernel fills
// it when the rule is loaded; a full bucket does not grow with time, so
// the two agree).
func (m *Limit) Match(c *translator.Context) bool {
	now := jiffies(c.Now)
	capacity := limitUser2Credits(m.Avg * m.Burst)
	mk := func() any { return &limitState{prev: now, credit: capacity} }
	var st *limitState
	if c.State == nil {
		st = mk().(*limitState)
	} else {
		st = c.State.Get(m, mk).(*limitState)
	}
	// The credit is 32 bits wide: the kernel adds the 64-bit product and
	// keeps the low half, so a very long pause wraps it.
	st.credit = uint32(uint64(st.credit) + (now-st.prev)*uint64(limitCreditsPerJiffy))
	st.prev = now
	if st.credit > capacity {
		st.credit = capacity
	}
	cost := limitUser2Credits(m.Avg)
	if st.credit >= cost {
		st.credit -= cost
		return true
	}
	return false
}

// Lower compiles the match: a credit taken from the rule's bucket in the
// generation's limit map, as limit_mt takes it (bpf/limit.go). A restore
// starts every bucket full, as iptables-legacy's new table does.
func (m *Limit) Lower(b *plan.Builder) error {
	b.AddLimit(m.Avg, m.Burst)
	return nil
}
