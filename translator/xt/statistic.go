package xt

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// Statistic is the statistic match: a random share of the packets, or every
// nth one (struct xt_statistic_info).
type Statistic struct {
	Mode   StatisticMode
	Invert bool
	// Probability is the chance of a match in 1/2^31 (random mode).
	Probability uint32
	// Every is n-1 for "every nth packet", and Packet the offset of the
	// first match (nth mode).
	Every, Packet uint32
	// Count is the counter the kernel starts from: Every - Packet.
	Count uint32

	// union is the word that u.random.probability and u.nth.every share
	// in the C struct; the final check reads it as every.
	union uint32
}

// StatisticMode is XT_STATISTIC_MODE_*.
type StatisticMode uint16

// Statistic modes.
const (
	StatisticRandom StatisticMode = iota
	StatisticNth
)

const (
	statMode = iota
	statProbability
	statEvery
	statPacket
)

var statisticOptions = []Option{
	{Name: "mode", Type: String, ID: statMode, Flags: Mand},
	{Name: "probability", Type: Raw, ID: statProbability, Flags: Invert, Excl: Bit(statEvery) | Bit(statPacket)},
	{Name: "every", Type: Uint32, ID: statEvery, Min: 1, Flags: Invert, Excl: Bit(statProbability), Also: Bit(statPacket)},
	{Name: "packet", Type: Uint32, ID: statPacket, Excl: Bit(statProbability), Also: Bit(statEvery)},
}

func init() {
	RegisterMatch(&MatchDef{
		Name:    "statistic",
		Options: statisticOptions,
		New:     func(translator.Family) MatchParser { return &Statistic{} },
	})
}

// Name returns "statistic".
func (m *Statistic) Name() string { return "statistic" }

// parseStrtod reads a number as glibc's strtod does when the whole string
// must be used: leading white space, decimal or hexadecimal (with or
// without a binary exponent), inf, infinity and nan in any case.
func parseStrtod(s string) (float64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || strings.ContainsRune(s, '_') {
		return 0, false
	}
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') && !strings.ContainsAny(body, "pP") {
		s += "p0" // Go wants the exponent of a hexadecimal float
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return v, true
}

// Parse takes one option, as statistic_parse does; the inversion flag is
// shared by --probability and --every.
func (m *Statistic) Parse(c *Call) error {
	if c.Invert {
		m.Invert = true
	}
	switch c.Opt.ID {
	case statMode:
		switch c.Arg {
		case "random":
			m.Mode = StatisticRandom
		case "nth":
			m.Mode = StatisticNth
		default:
			return c.Errorf("Bad mode \"%s\"", c.Arg)
		}
	case statProbability:
		// XTTYPE_DOUBLE with range 0-1, parsed here because strtod takes
		// more forms than Go; NaN passes the range check.
		v, ok := parseStrtod(c.Arg)
		if !ok || v < 0 || v > 1 {
			return c.Errorf("%s: bad value for option \"--%s\", or out of range (%d-%d).", c.Ext, c.Opt.Name, 0, 1)
		}
		m.Probability = 0
		if !math.IsNaN(v) {
			m.Probability = uint32(math.Round(0x80000000 * v))
		}
		m.union = m.Probability
	case statEvery:
		m.Every = uint32(c.U64) - 1
		m.union = m.Every
	case statPacket:
		m.Packet = uint32(c.U64)
	}
	return nil
}

// Final is statistic_check.
func (m *Statistic) Final(c *Final) error {
	if m.Mode == StatisticRandom && !c.Has(statProbability) {
		return c.Errorf("--probability must be specified when using random mode")
	}
	if m.Mode == StatisticNth && !c.Has(statEvery) && !c.Has(statPacket) {
		return c.Errorf("--every and --packet must be specified when using nth mode")
	}
	if m.Packet > m.union {
		return c.Errorf("the --packet p must be 0 <= p <= n-1")
	}
	m.Count = m.union - m.Packet
	return nil
}

// Save prints the match as statistic_save does.
func (m *Statistic) Save(b *strings.Builder, _ translator.Family) {
	switch m.Mode {
	case StatisticRandom:
		b.WriteString(" --mode random")
		SaveInv(b, m.Invert)
		Savef(b, " --probability %.11f", float64(m.Probability)/0x80000000)
	case StatisticNth:
		b.WriteString(" --mode nth")
		SaveInv(b, m.Invert)
		Savef(b, " --every %d --packet %d", uint64(m.Every)+1, m.Packet)
	}
}

// Check accepts the match anywhere.
func (m *Statistic) Check(*translator.CheckContext) error { return nil }

// statisticSourceKey is where a State keeps the random source of the
// random mode.
type statisticSourceKey struct{}

// statisticSource is the random source of one State.
type statisticSource struct {
	r *rand.Rand
}

// SeedStatistic makes the random mode of the statistic match draw, for the
// packets judged with st, from a PCG generator with that seed, so that a
// run can be repeated. Without it a State draws from an unseeded source.
func SeedStatistic(st *translator.State, seed uint64) {
	src := st.Get(statisticSourceKey{}, func() any { return &statisticSource{} }).(*statisticSource)
	src.r = rand.New(rand.NewPCG(seed, seed))
}

// random32 is prandom_u32 for the packets of c.
func random32(c *translator.Context) uint32 {
	if c.State == nil {
		return rand.Uint32()
	}
	src := c.State.Get(statisticSourceKey{}, func() any { return &statisticSource{} }).(*statisticSource)
	if src.r == nil {
		return rand.Uint32()
	}
	return src.r.Uint32()
}

// Match is statistic_mt: a random draw below the probability, or the nth
// packet through the rule's counter.
func (m *Statistic) Match(c *translator.Context) bool {
	ret := m.Invert
	switch m.Mode {
	case StatisticRandom:
		if random32(c)&0x7FFFFFFF < m.Probability {
			ret = !ret
		}
	case StatisticNth:
		var count *uint32
		if c.State != nil {
			count = c.State.Get(m, func() any { v := m.Count; return &v }).(*uint32)
		} else {
			v := m.Count
			count = &v
		}
		if *count == m.Every {
			*count = 0
		} else {
			*count++
		}
		if *count == 0 {
			ret = !ret
		}
	}
	return ret
}

// Lower compiles the match: a draw of bpf_get_prandom_u32, or the rule's
// nth counter in the generation's nth map, stepped atomically as the
// kernel's cmpxchg loop steps it. A restore starts the counter over, as
// iptables-legacy's new table gets new counters.
func (m *Statistic) Lower(b *plan.Builder) error {
	switch m.Mode {
	case StatisticRandom:
		b.Random(m.Probability, m.Invert)
	case StatisticNth:
		b.Nth(m.Every, m.Count, m.Invert)
	}
	return nil
}
