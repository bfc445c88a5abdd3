package bpf_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/internal/rulegen"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// withStatistic adds a statistic or limit match to about a third of the
// generator's rules: nth counters of several lengths and offsets, the
// random mode at probabilities 0 and 1 (the only ones both sides decide
// alike), inverted or not, and limits too slow to gain a credit during
// the test, before or after the rule's other matches, so that a counter
// steps, or a bucket gives a credit, only when its rule's earlier tests
// hold.
func withStatistic(g *rulegen.Gen, text string) string {
	lines := strings.Split(text, "\n")
	pick := func(s ...string) string { return s[g.R.Intn(len(s))] }
	for i, l := range lines {
		if !strings.HasPrefix(l, "-A ") || g.R.Intn(3) != 0 {
			continue
		}
		name, rest, _ := strings.Cut(l[3:], " ")
		inv := pick("", "! ")
		var m string
		switch g.R.Intn(4) {
		case 0:
			m = " -m statistic --mode random " + inv + "--probability " + pick("0", "1", "1.0")
		case 1:
			// rates slow enough that no credit accrues during the test:
			// exactly the burst matches
			m = fmt.Sprintf(" -m limit --limit %s --limit-burst %d", pick("1/hour", "3/hour", "1/h"), 1+g.R.Intn(5))
		default:
			every := 1 + g.R.Intn(4)
			m = fmt.Sprintf(" -m statistic --mode nth %s--every %d --packet %d", inv, every, g.R.Intn(every))
		}
		if before, after, ok := strings.Cut(rest, " -j "); ok && g.R.Intn(2) == 0 {
			lines[i] = "-A " + name + " " + before + m + " -j " + after
		} else {
			lines[i] = "-A " + name + m + " " + rest
		}
	}
	return strings.Join(lines, "\n")
}

// TestStatisticAgreesWithEvaluator runs packet sequences through
// rulesets with statistic and limit matches: the nth counters and the
// limit buckets, shared by the generation's programs, must step as the
// evaluator's (the kernel's statistic_mt and limit_mt) do, packet by
// packet.
func TestStatisticAgreesWithEvaluator(t *testing.T) {
	h := newHarness(t)
	seqs, length := 16, 150
	if testing.Short() {
		seqs = 6
	}
	cases, nthMatched, limitMatched, limitFailed := 0, 0, 0, 0
	for seed := int64(0); seed < int64(seqs); seed++ {
		fam := translator.IPv4
		if seed%2 == 1 {
			fam = translator.IPv6
		}
		rg := rulegen.New(9000+seed, fam)
		text := withStatistic(rg, rg.Ruleset([]int{6, 20, 60}[seed%3]))
		rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(text), iptables.RestoreOptions{})
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, text)
		}
		opts := plan.Options{}
		if seed%4 == 2 {
			opts = plan.Options{BVMinRun: 8, BVChunk: 64, MinRun: 1}
		}
		p, err := plan.Build(rs, "filter", opts)
		if errors.Is(err, plan.ErrTooDeep) {
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, c := range p.Chains {
			for _, s := range c.Segments {
				for _, r := range s.Rules {
					for _, tt := range r.Tests {
						if tt.Stateful() && s.Kind != plan.Linear {
							t.Fatalf("seed %d: rule %s %d with a statistic test is in a %s segment", seed, c.Name, r.Index, s.Kind)
						}
					}
				}
			}
		}
		if seed < 2 {
			x, err := bpf.Generate(p, bpf.XDP)
			if err != nil {
				t.Fatal(err)
			}
			xg, err := h.d.Load(x)
			if err != nil {
				t.Fatalf("seed %d: XDP: %+v", seed, err)
			}
			xg.Close()
		}
		gen, err := h.swapIn(p, ifaceNames())
		if err != nil {
			t.Fatalf("seed %d: %+v", seed, err)
		}
		st := translator.NewState()
		for i := 0; i < length; i++ {
			hook := []translator.Hook{translator.Input, translator.Forward, translator.Output}[i%3]
			pk := rg.Packet(hook)
			pk.SrcMAC = []byte{2, 0, 0, 0, 0, 7}
			if pk.PktType == packet.Broadcast {
				pk.PktType = packet.Multicast // see TestProgramsAgreeWithEvaluator
			}
			want := eval.Evaluate(rs, "filter", hook, pk, eval.Options{State: st})
			judged, err := p.Judge(hook, plan.Extract(pk, fam, p.Ifaces))
			if err != nil {
				t.Fatal(err)
			}
			got := h.run(gen, hook, pk)
			wantDrop := want.Verdict == translator.Drop
			if got.drop != wantDrop || fmt.Sprint(got.counters) != fmt.Sprint(sorted(judged.Counters)) || (judged.Verdict == plan.ActDrop) != wantDrop {
				var b strings.Builder
				p.Print(&b)
				t.Fatalf("seed %d packet %d (%s %s -> %s proto %d): evaluator drop=%v, plan drop=%v counters %v; programs drop=%v counters %v\n%s\nplan:\n%s",
					seed, i, hook, pk.Src, pk.Dst, pk.Proto, wantDrop, judged.Verdict == plan.ActDrop, judged.Counters, got.drop, got.counters, text, b.String())
			}
			cases++
			for _, c := range judged.Counters {
				if c < len(p.Rules) && hasOp(p.Rules[c], plan.OpNth) {
					nthMatched++
					break
				}
			}
			for _, c := range judged.Counters {
				if c < len(p.Rules) && hasOp(p.Rules[c], plan.OpLimit) {
					limitMatched++
					break
				}
			}
		}
		// buckets the sequence emptied
		hz, _ := bpf.KernelHZ()
		for _, r := range p.Rules {
			for _, tt := range r.Tests {
				if tt.Op != plan.OpLimit {
					continue
				}
				var v [16]byte
				if err := gen.Coll.Maps["limit"].Lookup(uint32(tt.Lim.Slot), &v); err != nil {
					t.Fatal(err)
				}
				if _, cost, _ := plan.LimitCredits(tt.Lim.Avg, tt.Lim.Burst, hz); binary.NativeEndian.Uint32(v[8:]) < cost {
					limitFailed++
				}
			}
		}
		gen.Close()
	}
	t.Logf("%d packets agree; %d matched an nth rule, %d a limit rule; %d limit rules ran out of credit", cases, nthMatched, limitMatched, limitFailed)
	if nthMatched == 0 || limitMatched == 0 || limitFailed == 0 {
		t.Error("the sequences no longer match nth and limit rules, or empty a bucket")
	}
}

func hasOp(r *plan.Rule, op plan.Op) bool {
	for _, t := range r.Tests {
		if t.Op == op {
			return true
		}
	}
	return false
}
