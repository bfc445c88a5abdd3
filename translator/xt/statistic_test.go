package xt_test

import (
	"math/rand/v2"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/xt"
)

func TestStatisticSave(t *testing.T) {
	v4 := translator.IPv4
	sfRunSaveCases(t, []sfSaveCase{
		// The probability is kept in 1/2^31 and printed with 11 decimals.
		{v4, "-m statistic --mode random --probability 0.123456789", "-m statistic --mode random --probability 0.12345678918"},
		{v4, "-m statistic --mode random --probability 1e-10", "-m statistic --mode random --probability 0.00000000000"},
		{v4, "-m statistic --mode random --probability 1", "-m statistic --mode random --probability 1.00000000000"},
		// strtod's forms: hexadecimal, leading space, bare fraction, NaN
		// (which passes the range check and becomes 0).
		{v4, "-m statistic --mode random --probability 0x0.8", "-m statistic --mode random --probability 0.50000000000"},
		{v4, "-m statistic --mode random --probability 0X1p-2", "-m statistic --mode random --probability 0.25000000000"},
		{v4, `-m statistic --mode random --probability " 0.5"`, "-m statistic --mode random --probability 0.50000000000"},
		{v4, "-m statistic --mode random --probability .25", "-m statistic --mode random --probability 0.25000000000"},
		{v4, "-m statistic --mode random --probability nan", "-m statistic --mode random --probability 0.00000000000"},
		{v4, "-m statistic --mode random --probability 1e-400", "-m statistic --mode random --probability 0.00000000000"},
		// --packet is always printed in nth mode; options in any order.
		{v4, "-m statistic --every 3 --packet 0 --mode nth", "-m statistic --mode nth --every 3 --packet 0"},
		{v4, "-m statistic --mode nth --every 0x10 --packet 010", "-m statistic --mode nth --every 16 --packet 8"},
		{v4, "-m statistic --mode nth --every 4294967295 --packet 4294967294", "-m statistic --mode nth --every 4294967295 --packet 4294967294"},
	})
}

func TestStatisticErrors(t *testing.T) {
	v4 := translator.IPv4
	sfRunErrorCases(t, []sfErrorCase{
		{v4, "-m statistic --mode random --probability inf", `statistic: bad value for option "--probability", or out of range (0-1).`},
		{v4, "-m statistic --mode random --probability 0.5x", `statistic: bad value for option "--probability", or out of range (0-1).`},
		{v4, "-m statistic --mode random --probability 0x", `statistic: bad value for option "--probability", or out of range (0-1).`},
		{v4, "-m statistic --mode NTH --every 2 --packet 0", `Bad mode "NTH"`},
		{v4, "-m statistic --mode nth --every 0 --packet 0", `statistic: bad value for option "--every", or out of range (1-4294967295).`},
		{v4, "-m statistic --mode nth --packet 3 --every 3", "the --packet p must be 0 <= p <= n-1"},
		{v4, "-m statistic --mode random --every 3 --packet 1", "--probability must be specified when using random mode"},
		{v4, "-m statistic --mode random --probability 0.3 --packet 1", `statistic: option "--probability" cannot be used together with "--packet".`},
		{v4, "-m statistic --mode nth ! --packet 1 --every 2", `statistic: option "--packet" cannot be inverted.`},
	}, translator.EmptyObjects{})
}

func TestStatisticNth(t *testing.T) {
	v4 := translator.IPv4
	p := sfUDP4("10.0.0.1", "10.0.0.2", 1000, 53)
	rules := []*translator.Rule{
		sfRule(t, v4, "-m statistic --mode nth --every 3 --packet 1"),
		sfRule(t, v4, "-m statistic --mode nth ! --every 2 --packet 0"),
	}
	var steps []sfStep
	// Every third packet, the first being the second (packet 1).
	for i, want := range []bool{false, true, false, false, true, false, false, true} {
		steps = append(steps, sfStep{rule: 0, pkt: p, want: want}, sfStep{rule: 1, pkt: p, want: i%2 == 1})
	}
	sfRunSteps(t, v4, rules, steps)
}

// The random mode matches when the low 31 bits of a draw are below the
// probability; a seeded State repeats the same draws.
func TestStatisticRandom(t *testing.T) {
	v4 := translator.IPv4
	const seed = 42
	half := sfRule(t, v4, "-m statistic --mode random --probability 0.5")
	notQuarter := sfRule(t, v4, "-m statistic --mode random ! --probability 0.25")
	never := sfRule(t, v4, "-m statistic --mode random --probability 0")
	always := sfRule(t, v4, "-m statistic --mode random --probability 1")

	st := translator.NewState()
	xt.SeedStatistic(st, seed)
	draws := rand.New(rand.NewPCG(seed, seed))
	matched := 0
	for i := 0; i < 200; i++ {
		r, want := half, true
		switch i % 4 {
		case 0:
			want = draws.Uint32()&0x7fffffff < 1<<30
		case 1:
			r, want = notQuarter, draws.Uint32()&0x7fffffff >= 1<<29
		case 2:
			r, want = never, false
			draws.Uint32()
		case 3:
			r, want = always, true
			draws.Uint32()
		}
		c := &translator.Context{Packet: sfUDP4("10.0.0.1", "10.0.0.2", 1, 2).Build(), Family: v4, Now: sfT0, State: st}
		got, _ := sfJudge(r, c)
		if got != want {
			t.Fatalf("packet %d: match %v, want %v", i, got, want)
		}
		if i%4 == 0 && got {
			matched++
		}
	}
	if matched == 0 || matched == 50 {
		t.Errorf("probability 0.5 matched %d of 50 draws", matched)
	}
}
