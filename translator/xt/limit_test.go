package xt_test

import (
	"testing"
	"time"

	"github.com/bpftables/bpftables/translator"
)

func TestLimitSave(t *testing.T) {
	v4 := translator.IPv4
	sfRunSaveCases(t, []sfSaveCase{
		// Units are read by any prefix of their word, in any case.
		{v4, "-m limit --limit 3/s", "-m limit --limit 3/sec"},
		{v4, "-m limit --limit 7/m", "-m limit --limit 7/min"},
		{v4, "-m limit --limit 2/SEC", "-m limit --limit 2/sec"},
		{v4, "-m limit --limit 1/hou", "-m limit --limit 1/hour"},
		{v4, "-m limit --limit 7", "-m limit --limit 7/sec"},
		// The period is stored in 1/10000 s: 10000/3000 is 3, printed
		// back as 3333 per second.
		{v4, "-m limit --limit 3000/sec", "-m limit --limit 3333/sec"},
		{v4, "-m limit --limit 25/hour", "-m limit --limit 25/hour"},
		{v4, "-m limit --limit 61/min", "-m limit --limit 61/min"},
		{v4, "-m limit --limit 120/min", "-m limit --limit 2/sec"},
		// atoi: trailing garbage ignored, leading space skipped, the value
		// truncated to an int.
		{v4, "-m limit --limit 5x/sec", "-m limit --limit 5/sec"},
		{v4, `-m limit --limit " 5/sec"`, "-m limit --limit 5/sec"},
		{v4, "-m limit --limit 4294967297/sec", "-m limit --limit 1/sec"},
		// The default rate is 3/hour and the default burst is not printed.
		{v4, "-m limit --limit-burst 5", "-m limit --limit 3/hour"},
		{v4, "-m limit --limit 1/hour --limit-burst 1193", "-m limit --limit 1/hour --limit-burst 1193"},
		{v4, "-m limit --limit 333/min --limit-burst 0x10", "-m limit --limit 333/min --limit-burst 16"},
	})
}

func TestLimitErrors(t *testing.T) {
	v4 := translator.IPv4
	sfRunErrorCases(t, []sfErrorCase{
		{v4, "-m limit --limit 1/seconds", `bad rate "1/seconds"'`},
		{v4, "-m limit --limit 5/", `bad rate "5/"'`},
		{v4, "-m limit --limit 0/sec", `bad rate "0/sec"'`},
		{v4, "-m limit --limit 10001/sec", `Rate too fast "10001/sec"`},
		{v4, "-m limit --limit -1/sec", `Rate too fast "-1/sec"`},
		{v4, "-m limit --limit-burst 10001", `limit: bad value for option "--limit-burst", or out of range (0-10000).`},
		{v4, "-m limit ! --limit 1/sec", `limit: option "--limit" cannot be inverted.`},
		// The kernel refuses a zero burst and credits that overflow 32 bits.
		{v4, "-m limit --limit-burst 0", "limit: Overflow, try lower: 12000000/0"},
		{v4, "-m limit --limit 1/day", "limit: Overflow, try lower: 864000000/5"},
		{v4, "-m limit --limit 1/day --limit-burst 4", "Overflow"},
		{v4, "-m limit --limit 1/hour --limit-burst 1194", "Overflow"},
	}, translator.EmptyObjects{})
}

func TestLimitBucket(t *testing.T) {
	v4 := translator.IPv4
	p := sfUDP4("10.0.0.1", "10.0.0.2", 1000, 53)
	ms := time.Millisecond
	rules := []*translator.Rule{
		sfRule(t, v4, "-m limit --limit 1/sec --limit-burst 3"),
		sfRule(t, v4, "-m limit --limit 3/sec --limit-burst 1"),
		sfRule(t, v4, "-m limit --limit 1/sec --limit-burst 3"),
	}
	sfRunSteps(t, v4, rules, []sfStep{
		// A full bucket passes the burst at once.
		{rule: 0, at: 0, pkt: p, want: true},
		{rule: 0, at: 0, pkt: p, want: true},
		{rule: 0, at: 0, pkt: p, want: true},
		{rule: 0, at: 0, pkt: p, want: false},
		// Another rule has its own bucket, even with the same options.
		{rule: 2, at: 0, pkt: p, want: true},
		// Then one packet a second; half a second earns half a packet.
		{rule: 0, at: 1000 * ms, pkt: p, want: true},
		{rule: 0, at: 1500 * ms, pkt: p, want: false},
		{rule: 0, at: 2000 * ms, pkt: p, want: true},
		// 3/sec costs 10665 credits (of 128 a jiffy): 84 jiffies of 4 ms,
		// not a third of a second.
		{rule: 1, at: 0, pkt: p, want: true},
		{rule: 1, at: 333 * ms, pkt: p, want: false},
		{rule: 1, at: 336 * ms, pkt: p, want: true},
		{rule: 1, at: 336 * ms, pkt: p, want: false},
	})
}

// The kernel keeps 32 bits of credit and adds the 64-bit product of the
// pause and the credits per jiffy: after exactly 2^25 jiffies (some 37
// hours at HZ=250) the credit wraps to nothing.
func TestLimitCreditWraps(t *testing.T) {
	v4 := translator.IPv4
	p := sfUDP4("10.0.0.1", "10.0.0.2", 1000, 53)
	wrap := time.Duration(1<<25) * time.Second / 250
	rules := []*translator.Rule{sfRule(t, v4, "-m limit --limit 1/sec --limit-burst 1")}
	sfRunSteps(t, v4, rules, []sfStep{
		{rule: 0, at: 0, pkt: p, want: true},
		{rule: 0, at: wrap, pkt: p, want: false},
		{rule: 0, at: wrap + time.Second, pkt: p, want: true},
	})
}

// Without State every packet is the first the rule sees.
func TestLimitWithoutState(t *testing.T) {
	r := sfRule(t, translator.IPv4, "-m limit --limit 1/day --limit-burst 1")
	for i := 0; i < 3; i++ {
		c := &translator.Context{Packet: sfUDP4("10.0.0.1", "10.0.0.2", 1, 2).Build(), Family: translator.IPv4, Now: sfT0}
		if ok, _ := sfJudge(r, c); !ok {
			t.Fatalf("packet %d: no match without State", i)
		}
	}
}
