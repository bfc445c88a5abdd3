package plan_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/rulegen"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/plan"
	_ "github.com/bpftables/bpftables/translator/xt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.plan")

func restore(tb testing.TB, fam translator.Family, text string) *translator.Ruleset {
	tb.Helper()
	rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(text), iptables.RestoreOptions{})
	if err != nil {
		tb.Fatalf("restore: %v\n%s", err, text)
	}
	return rs
}

// TestGolden prints the plans of the rulesets in testdata and compares
// them with the reviewed .plan files (go test -update rewrites them).
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.v[46]")
	if len(files) == 0 {
		t.Fatal("no rulesets in testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fam := translator.IPv4
			if strings.HasSuffix(f, ".v6") {
				fam = translator.IPv6
			}
			opts := plan.Options{}
			if strings.HasPrefix(filepath.Base(f), "mixed") {
				opts.BVMinRun = 8 // small enough to review
			}
			p, err := plan.Build(restore(t, fam, string(data)), "filter", opts)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			p.Print(&b)
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + filepath.Ext(f) + ".plan"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("plan differs from %s:\n%s", golden, b.String())
			}
		})
	}
}

// TestJudgeAgreesWithEvaluator holds the plan - lowering, segments, hash
// and LPM lookups, hot drops - to the evaluator on seeded random rulesets
// and packets: same verdict, same counters, same hot drops.
func TestJudgeAgreesWithEvaluator(t *testing.T) {
	rulesets, packets := 300, 60
	if testing.Short() {
		rulesets = 50
	}
	cases := 0
	kinds := map[plan.SegmentKind]int{}
	hot, viaLookup, viaBV, hotBV, resumed := 0, 0, 0, 0, 0
	built, tooDeep := 0, 0
	for seed := int64(0); seed < int64(rulesets); seed++ {
		fam := translator.IPv4
		if seed%3 == 2 {
			fam = translator.IPv6
		}
		g := rulegen.New(seed, fam)
		size := []int{1, 5, 20, 60, 200}[seed%5]
		text := g.Ruleset(size)
		rs := restore(t, fam, text)
		for _, opts := range []plan.Options{{}, {LinearOnly: true}, {MinRun: 2}, {BVMinRun: 6, BVChunk: 64}, {BlockTests: 5}} {
			p, err := plan.Build(rs, "filter", opts)
			if errors.Is(err, plan.ErrTooDeep) {
				// jumps that could exceed the tail-call limit: refused
				tooDeep++
				continue
			}
			if err != nil {
				t.Fatalf("seed %d: %v\n%s", seed, err, text)
			}
			built++
			inLookup := map[int]bool{}
			inBV := map[int]bool{}
			for _, c := range p.Chains {
				for _, s := range c.Segments {
					kinds[s.Kind]++
					if s.Kind != plan.Linear {
						for _, r := range s.Rules {
							inLookup[r.ID] = true
							inBV[r.ID] = s.Kind == plan.BitVector
						}
					}
				}
			}
			for i := 0; i < packets; i++ {
				hook := []translator.Hook{translator.Input, translator.Forward, translator.Output}[i%3]
				pk := g.Packet(hook)
				want := eval.Evaluate(rs, "filter", hook, pk, eval.Options{})
				got, err := p.Judge(hook, plan.Extract(pk, fam, p.Ifaces))
				if err != nil {
					t.Fatal(err)
				}
				cases++
				if got.HotDrop {
					hot++
				}
				for _, id := range got.Counters {
					if inLookup[id] {
						viaLookup++
						break
					}
				}
				bvMatches := 0
				for _, id := range got.Counters {
					if inBV[id] {
						bvMatches++
					}
				}
				if bvMatches > 0 {
					viaBV++
				}
				if bvMatches > 1 {
					resumed++
				}
				if got.HotDrop && hotInBV(p, hook, plan.Extract(pk, fam, p.Ifaces)) {
					hotBV++
				}
				if msg := compare(p, want, got); msg != "" {
					t.Fatalf("seed %d packet %d (%s %s -> %s proto %d) opts %+v: %s\nruleset:\n%s", seed, i, hook, pk.Src, pk.Dst, pk.Proto, opts, msg, text)
				}
			}
		}
	}
	t.Logf("%d packet cases agree; segments: %d linear, %d hash, %d lpm, %d bitvector; %d hot drops (%d by a bit-vector), %d packets matched a rule found by lookup, %d by bit-vector (%d resumed after a rule that goes on)",
		cases, kinds[plan.Linear], kinds[plan.Hash], kinds[plan.LPM], kinds[plan.BitVector], hot, hotBV, viaLookup, viaBV, resumed)
	if tooDeep > built/10 {
		t.Errorf("%d plans refused as nesting too deep, %d built", tooDeep, built)
	}
	if kinds[plan.Hash] == 0 || kinds[plan.LPM] == 0 || kinds[plan.BitVector] == 0 || hot == 0 || viaLookup == 0 || viaBV == 0 || hotBV == 0 || resumed == 0 {
		t.Error("the random rulesets and packets no longer exercise lookups, bit-vectors and hot drops")
	}
}

// TestBlocks cuts chains into blocks: each block weighs at most the
// limit (or holds one rule or lookup that weighs more), the segments keep
// the chain's rules in order, and a chain within the limit keeps its
// segments.
func TestBlocks(t *testing.T) {
	rule := func(i int) string {
		return fmt.Sprintf("-A INPUT -i eth%d -j DROP\n", i)
	}
	hashRun := func(from, n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "-A INPUT -s 10.0.%d.%d -j ACCEPT\n", from/256, from%256+i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name  string
		rules string
		limit int
		want  string // per segment: kind initial, rules, block
	}{
		// a rule of one test weighs 2, a lookup 8
		{"within", rule(1) + rule(2) + rule(3), 6, "l3/0"},
		{"split", rule(1) + rule(2) + rule(3) + rule(4) + rule(5), 4, "l2/1 l2/2 l1/3"},
		{"lookup fills", rule(1) + hashRun(0, 6) + rule(2) + rule(3), 10, "l1/1 h6/1 l2/2"},
		{"lookup opens", rule(1) + rule(2) + hashRun(0, 6) + rule(3), 10, "l2/1 h6/2 l1/2"},
		{"lookups", hashRun(0, 6) + rule(1) + hashRun(512, 6), 2, "h6/1 l1/2 h6/3"},
		{"heavy rule", rule(1) + "-A INPUT -p tcp -m multiport --dports 1,2,3,4,5 -j DROP\n" + rule(2), 4, "l1/1 l1/2 l1/3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := "*filter\n:INPUT ACCEPT [0:0]\n" + tc.rules + "COMMIT\n"
			p, err := plan.Build(restore(t, translator.IPv4, text), "filter", plan.Options{BlockTests: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			c := p.ChainByName("INPUT")
			var got []string
			n := 0
			for _, s := range c.Segments {
				got = append(got, fmt.Sprintf("%c%d/%d", s.Kind.String()[0], len(s.Rules), s.Block))
				for _, r := range s.Rules {
					if r != c.Rules[n] {
						t.Fatalf("segment rule %d is rule %d of the chain", n+1, r.Index)
					}
					n++
				}
			}
			if n != len(c.Rules) {
				t.Fatalf("the segments hold %d of %d rules", n, len(c.Rules))
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("segments %s, want %s", g, tc.want)
			}
		})
	}
}

// hotInBV reports whether a bit-vector segment of the hook's chains (or
// of the chains they reach) drops the packet for a hot drop.
func hotInBV(p *plan.Plan, hook translator.Hook, v plan.Values) bool {
	for _, c := range p.Chains {
		for _, s := range c.Segments {
			if s.Kind != plan.BitVector {
				continue
			}
			for start := 0; ; {
				pos, hot := s.BV.Scan(v, start)
				if pos < 0 {
					break
				}
				if hot {
					return true
				}
				start = pos + 1
			}
		}
	}
	return false
}

func compare(p *plan.Plan, want eval.Result, got plan.Judgement) string {
	verdict := plan.ActAccept
	if want.Verdict == translator.Drop {
		verdict = plan.ActDrop
	}
	var counters []int
	for _, m := range want.Matched {
		counters = append(counters, p.ChainByName(m.Chain).Rules[m.Index-1].ID)
	}
	if want.Policy != nil {
		counters = append(counters, p.ChainByName(want.Policy.Name).PolicyID)
	}
	if got.Verdict != verdict || got.HotDrop != want.HotDrop || fmt.Sprint(got.Counters) != fmt.Sprint(counters) {
		return fmt.Sprintf("evaluator: %s hotdrop=%v counters %v; plan: %s hotdrop=%v counters %v", verdict, want.HotDrop, counters, got.Verdict, got.HotDrop, got.Counters)
	}
	return ""
}

// TestEachSlot checks that EachSlot numbers counters as Build does, on
// random rulesets with user chains.
func TestEachSlot(t *testing.T) {
	for seed := int64(0); seed < 40; seed++ {
		rs := restore(t, translator.IPv4, rulegen.New(seed, translator.IPv4).Ruleset(30))
		p, err := plan.Build(rs, "filter", plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		visited := 0
		plan.EachSlot(rs.Table("filter"), func(slot int, c *translator.Chain, r *translator.Rule) {
			visited++
			if r != nil {
				if pr := p.Rules[slot]; pr.Source != r || p.Chains[pr.Chain].Name != c.Name {
					t.Fatalf("seed %d: slot %d is rule %d of %s in the plan, rule %v of %s by EachSlot", seed, slot, pr.Index, p.Chains[pr.Chain].Name, r, c.Name)
				}
				return
			}
			if pc := p.ChainByName(c.Name); pc.PolicyID != slot {
				t.Fatalf("seed %d: policy of %s: slot %d in the plan, %d by EachSlot", seed, c.Name, pc.PolicyID, slot)
			}
		})
		if visited != p.Counters() {
			t.Fatalf("seed %d: EachSlot visited %d slots, the plan has %d", seed, visited, p.Counters())
		}
	}
}

// TestDeepChainsRefusedQuickly: chains that each jump to the next by two
// rules have exponentially many paths; placement and the tail-call check
// must not walk them one by one.
func TestDeepChainsRefusedQuickly(t *testing.T) {
	var b strings.Builder
	b.WriteString("*filter\n:FORWARD DROP [0:0]\n")
	const n = 300
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, ":C%d - [0:0]\n", i)
	}
	b.WriteString("-A FORWARD -j C0\n")
	for i := 0; i+1 < n; i++ {
		fmt.Fprintf(&b, "-A C%d -p udp -j C%d\n-A C%d -p tcp -j C%d\n", i, i+1, i, i+1)
	}
	b.WriteString("COMMIT\n")
	rs := restore(t, translator.IPv4, b.String())
	// (walked path by path, this would not end before the test's timeout)
	if _, err := plan.Build(rs, "filter", plan.Options{}); !errors.Is(err, plan.ErrTooDeep) {
		t.Fatalf("Build: %v, want ErrTooDeep", err)
	}
}
