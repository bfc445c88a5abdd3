package xt

import (
	"testing"

	"github.com/bpftables/bpftables/translator/plan"
)

// TestLimitCreditsAsEvaluator holds the datapath's arithmetic
// (plan.LimitCredits) to the evaluator's at the evaluator's HZ, across
// rates of every unit and bursts, both sides of user2credits' overflow
// branch included.
func TestLimitCreditsAsEvaluator(t *testing.T) {
	for _, rate := range []string{"1/sec", "10/second", "3333/s", "10000/s", "1/min", "7/minute", "1/hour", "3/hour", "1/day"} {
		avg, err := parseLimitRate(rate)
		if err != nil {
			t.Fatal(err)
		}
		for _, burst := range []uint32{1, 5, 20, 10000} {
			perJiffy, cost, capacity := plan.LimitCredits(avg, burst, HZ)
			if perJiffy != limitCreditsPerJiffy || cost != limitUser2Credits(avg) || capacity != limitUser2Credits(avg*burst) {
				t.Errorf("%s burst %d: datapath %d/%d/%d, evaluator %d/%d/%d", rate, burst, perJiffy, cost, capacity,
					limitCreditsPerJiffy, limitUser2Credits(avg), limitUser2Credits(avg*burst))
			}
		}
	}
}
