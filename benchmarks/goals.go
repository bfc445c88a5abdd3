package benchmarks

import (
	"fmt"
	"github.com/bpftables/bpftables/rulesets"
	"math"
	"slices"
	"strings"
)

// goal is one of the datapath's goals judged against a run's figures.
type goal struct {
	name   string
	target string
	// measured is the figure with what it is of ("1.35 (1,000 rules)",
	// "174 ms (mixed)"), or why there is none.
	measured string
	// judged is false when the run has no figure for the goal; met is
	// then meaningless.
	judged, met bool
	// legacy and nft are iptables-legacy's and iptables-nft's figures
	// for the same measure, where the goal is one they can be held to.
	legacy, nft string
}

func (g goal) verdict() string {
	switch {
	case !g.judged:
		return "not measured"
	case g.met:
		return "met"
	}
	return "**MISSED**"
}

// The sizes the goals are stated at.
const (
	flatBase  = 1000
	flatTop   = 50000
	mixedTop  = 10000
	goalRules = 10000
)

// goals judges the run against the datapath's goals: per-packet cost flat
// in the number of rules for blocklists and allowlists, sublinear for
// mixed rules, at most twice an empty program's; a 10,000-rule ruleset
// loaded in 200 ms; at 10,000 rules, throughput at least 0.9 of no
// firewall's and at least nftables'.
func goals(r *Results) []goal {
	var gs []goal
	gs = append(gs, costGrowth(r, "blocklist", flatBase, flatTop, 1.2), costGrowth(r, "allowlist", flatBase, flatTop, 1.2),
		costGrowth(r, "mixed", flatBase, mixedTop, 2))
	gs = append(gs, overFloor(r)...)
	gs = append(gs, loadInProcess(r))
	gs = append(gs, loadCommand(r)...)
	gs = append(gs, throughputGoals(r)...)
	return gs
}

func writeGoals(b *strings.Builder, r *Results) {
	b.WriteString("## Goals\n\n")
	b.WriteString("Each goal is judged on this run's medians; a worst family or size is named beside its figure, and families bpftables has no figure for are named after it. " +
		"iptables-legacy's and iptables-nft's figures for the same measure stand beside where the goal applies to them. A goal this run has no figure for is not measured, neither met nor missed.\n\n")
	b.WriteString("| goal | target | bpftables | verdict | iptables-legacy | iptables-nft |\n|---|---|---|---|---|---|\n")
	for _, g := range goals(r) {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", g.name, g.target, g.measured, g.verdict(), g.legacy, g.nft)
	}
	b.WriteString("\n")
}

func costAt(r *Results, family string, n int) (float64, bool) {
	for _, c := range r.Cost {
		if c.Family == family && c.N == n && c.Error == "" {
			return c.NsPkt, true
		}
	}
	return 0, false
}

// costGrowth is the goal that the family's cost at top rules is at most
// limit times its cost at base rules.
func costGrowth(r *Results, family string, base, top int, limit float64) goal {
	g := goal{name: fmt.Sprintf("%s cost %s ÷ %s", family, thousands(top), thousands(base)), target: fmt.Sprintf("≤ %g", limit)}
	lo, okLo := costAt(r, family, base)
	hi, okHi := costAt(r, family, top)
	if !okLo || !okHi {
		g.measured = fmt.Sprintf("no cost at %s and %s rules", thousands(base), thousands(top))
		return g
	}
	v := hi / lo
	g.measured, g.judged, g.met = fmt.Sprintf("%.2f", v), true, v <= limit
	return g
}

// overFloor is the goal that blocklists and allowlists cost at most twice
// the empty program at every size measured. Mixed rules have no such
// bound: their goal is to grow sublinearly (the cost table gives their
// × floor all the same).
func overFloor(r *Results) []goal {
	floor, ok := costFloor(r)
	var gs []goal
	for _, f := range []string{rulesets.Blocklist.String(), rulesets.Allowlist.String()} {
		if !slices.ContainsFunc(r.Cost, func(c CostResult) bool { return c.Family == f }) {
			continue
		}
		g := goal{name: f + " cost ÷ floor, worst size", target: "≤ 2"}
		worst, at := 0.0, 0
		var failed []string
		for _, c := range r.Cost {
			switch {
			case c.Family != f || c.N == 0:
			case c.Error != "":
				failed = append(failed, thousands(c.N))
			case c.NsPkt/floor > worst:
				worst, at = c.NsPkt/floor, c.N
			}
		}
		switch {
		case !ok:
			g.measured = "no floor measured"
		case at == 0:
			g.measured = "no cost measured"
		default:
			g.measured = fmt.Sprintf("%.2f (%s rules)", worst, thousands(at))
			g.judged, g.met = true, worst <= 2
		}
		if len(failed) > 0 {
			g.measured += "; not measured at " + strings.Join(failed, ", ") + " rules"
		}
		gs = append(gs, g)
	}
	return gs
}

// loadInProcess is the load goal on the pipeline's own time, as the cost
// measurement takes it: no process start, no namespace entry.
func loadInProcess(r *Results) goal {
	g := goal{name: "load of 10,000 rules in process, worst family", target: "≤ 200 ms"}
	worst, of := -1.0, ""
	var failed []string
	for _, c := range r.Cost {
		ms := float64(c.Load.Microseconds()) / 1000
		switch {
		case c.N != goalRules:
		case c.Error != "":
			failed = append(failed, c.Family)
		case ms > worst:
			worst, of = ms, c.Family
		}
	}
	judgeMax(&g, worst, of, 200, "%.0f ms", failed)
	return g
}

// loadCommand is the load goal on the time of bpftables iptables-restore,
// the command a user runs, beside the other restore tools'.
func loadCommand(r *Results) []goal {
	var gs []goal
	var names []string
	for _, l := range r.Load {
		names = append(names, l.Contender)
	}
	for _, c := range firstSeen(names) {
		if !strings.HasPrefix(c, "bpftables") {
			continue
		}
		g := goal{name: fmt.Sprintf("load of 10,000 rules by %s iptables-restore, worst family", c), target: "≤ 200 ms"}
		worst, of, failed := worstLoad(r, c)
		judgeMax(&g, worst, of, 200, "%.0f ms", failed)
		g.legacy = besideLoad(r, "iptables-legacy")
		g.nft = besideLoad(r, "iptables-nft")
		gs = append(gs, g)
	}
	return gs
}

func worstLoad(r *Results, contender string) (worst float64, of string, failed []string) {
	worst = -1
	for _, l := range r.Load {
		switch {
		case l.Contender != contender || l.N != goalRules:
		case l.Error != "":
			failed = append(failed, l.Family)
		case l.Ms > worst:
			worst, of = l.Ms, l.Family
		}
	}
	return worst, of, failed
}

func besideLoad(r *Results, contender string) string {
	worst, of, _ := worstLoad(r, contender)
	if worst < 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f ms (%s)", worst, of)
}

// judgeMax judges a worst figure against an upper limit; worst < 0 means
// there was none.
func judgeMax(g *goal, worst float64, of string, limit float64, format string, failed []string) {
	if worst < 0 {
		g.measured = "no figure at 10,000 rules"
	} else {
		g.measured = fmt.Sprintf(format+" (%s)", worst, of)
		g.judged, g.met = true, worst <= limit
	}
	if len(failed) > 0 {
		g.measured += "; none for " + strings.Join(failed, ", ")
	}
}

// throughputGoals are, for each bpftables contender, the goals at 10,000
// rules: at least 0.9 of no firewall's packets per second and at least
// nftables', each the worst over the families.
func throughputGoals(r *Results) []goal {
	at := map[[2]string]ThroughputResult{} // family, contender
	var families []string
	for _, t := range r.Throughput {
		if t.N != goalRules {
			continue
		}
		at[[2]string{t.Family, t.Contender}] = t
		if !slices.Contains(families, t.Family) {
			families = append(families, t.Family)
		}
	}
	// worst is the contender's lowest figure over the families, the
	// families it has none for, and whether it has any.
	worst := func(contender string, fig func(family string, t ThroughputResult) (float64, bool)) (float64, string, []string) {
		low, of := math.Inf(1), ""
		var failed []string
		for _, f := range families {
			t, ok := at[[2]string{f, contender}]
			if !ok {
				continue
			}
			if t.Error != "" {
				failed = append(failed, f)
				continue
			}
			if v, ok := fig(f, t); ok && v < low {
				low, of = v, f
			}
		}
		return low, of, failed
	}
	ratioToNone := func(_ string, t ThroughputResult) (float64, bool) { return t.Ratio, true }
	toNftables := func(f string, t ThroughputResult) (float64, bool) {
		n, ok := at[[2]string{f, "nftables"}]
		if !ok || n.Error != "" || n.PPS == 0 {
			return 0, false
		}
		return t.PPS / n.PPS, true
	}
	beside := func(contender string, fig func(string, ThroughputResult) (float64, bool)) string {
		v, of, _ := worst(contender, fig)
		if of == "" {
			return "—"
		}
		return fmt.Sprintf("%.2f (%s)", v, of)
	}
	var gs []goal
	var names []string
	for _, t := range r.Throughput {
		names = append(names, t.Contender)
	}
	for _, c := range firstSeen(names) {
		if !strings.HasPrefix(c, "bpftables") {
			continue
		}
		for _, spec := range []struct {
			name  string
			limit float64
			fig   func(string, ThroughputResult) (float64, bool)
		}{
			{fmt.Sprintf("%s throughput at 10,000 rules ÷ none's, worst family", c), 0.9, ratioToNone},
			{fmt.Sprintf("%s throughput at 10,000 rules ÷ nftables', worst family", c), 1.0, toNftables},
		} {
			g := goal{name: spec.name, target: fmt.Sprintf("≥ %.1f", spec.limit)}
			v, of, failed := worst(c, spec.fig)
			if of == "" {
				g.measured = "no figure at 10,000 rules"
			} else {
				g.measured = fmt.Sprintf("%.2f (%s)", v, of)
				g.judged, g.met = true, v >= spec.limit
			}
			if len(failed) > 0 {
				g.measured += "; none for " + strings.Join(failed, ", ")
			}
			g.legacy, g.nft = beside("iptables-legacy", spec.fig), beside("iptables-nft", spec.fig)
			gs = append(gs, g)
		}
	}
	if len(gs) == 0 {
		gs = append(gs, goal{name: "bpftables throughput at 10,000 rules", target: "≥ 0.9 of none, ≥ 1.0 of nftables", measured: "no figure at 10,000 rules", legacy: "—", nft: "—"})
	}
	return gs
}

// firstSeen lists names once each, in the order first met.
func firstSeen(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
