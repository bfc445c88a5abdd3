package benchmarks

import (
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var contenderNames = []string{"none", "iptables-legacy", "iptables-nft", "nftables", "bpftables-tc", "bpftables-xdp"}

// sampleResults is a small run made by hand: every measurement, one goal
// of each kind met and one missed, and a family bpftables refuses.
func sampleResults() *Results {
	r := &Results{
		Machine: Machine{Kernel: "6.18.0", CPU: "Test CPU", CPUs: 2, MemMiB: 4096, Commit: "abc1234", Dirty: true, Go: "go1.26",
			Tools: map[string]string{"nft": "nftables v1.1.1", "iptables-legacy": "iptables v1.8.9 (legacy)"}},
		Command:  "go run ./benchmarks/cmd/bench",
		Settings: Settings{Rounds: 3, CostPackets: 16, CostRepeat: 20000, Send: 5 * time.Second},
		Cost: []CostResult{
			{Family: "empty", N: 0, NsPkt: 100, Rounds: []float64{98, 100, 103}},
			{Family: "blocklist", N: 1000, NsPkt: 110, Rounds: []float64{109, 110, 115}, Load: 4 * time.Millisecond},
			{Family: "blocklist", N: 10000, NsPkt: 111, Rounds: []float64{110, 111, 112}, Load: 30 * time.Millisecond},
			{Family: "blocklist", N: 50000, NsPkt: 112.2, Rounds: []float64{111, 112.2, 113}, Load: 150 * time.Millisecond},
			{Family: "allowlist", N: 1000, NsPkt: 130, Rounds: []float64{129, 130, 131}, Load: 6 * time.Millisecond},
			{Family: "allowlist", N: 10000, NsPkt: 131, Rounds: []float64{130, 131, 131}, Load: 60 * time.Millisecond},
			{Family: "allowlist", N: 50000, NsPkt: 132, Rounds: []float64{130, 132, 133}, Load: 320 * time.Millisecond},
			{Family: "mixed", N: 1000, NsPkt: 200, Rounds: []float64{199, 200, 204}, Load: 28 * time.Millisecond},
			{Family: "mixed", N: 10000, NsPkt: 500, Rounds: []float64{490, 500, 530}, Load: 250 * time.Millisecond},
		},
		Memory: []MemoryResult{
			{Family: "datapath", Programs: 2, Maps: 4, ProgBytes: 8192, MapBytes: 4096},
			{Family: "empty", Programs: 1, Maps: 2, ProgBytes: 4096, MapBytes: 1024},
			{Family: "blocklist", N: 10000, Programs: 3, Maps: 4, ProgBytes: 20480, MapBytes: 655360, PerRule: 67.6},
			{Family: "kube-proxy", N: 100, Error: "kube-proxy 100: chain INPUT rule 1: match `conntrack' is not yet supported in the datapath"},
			{Family: "docker", N: 100, Error: "docker 100: no such file"},
		},
	}
	pps := map[string]float64{"none": 1e6, "iptables-legacy": 4e5, "iptables-nft": 3e5, "nftables": 9e5, "bpftables-tc": 8.5e5, "bpftables-xdp": 9.5e5}
	for _, f := range []string{"blocklist", "kube-proxy"} {
		for _, c := range contenderNames {
			t := ThroughputResult{Family: f, N: 10000, Contender: c, PPS: pps[c], Ratio: pps[c] / pps["none"],
				Rounds: []float64{pps[c] * 0.98, pps[c], pps[c] * 1.01}, Flows: 1024}
			if c == "bpftables-xdp" {
				t.Hook = "xdp xdp-native"
			}
			if f == "kube-proxy" && strings.HasPrefix(c, "bpftables") {
				t = ThroughputResult{Family: f, N: 10000, Contender: c, Error: "refused: table nat: not yet supported in the datapath"}
			}
			r.Throughput = append(r.Throughput, t)
		}
	}
	loadMs := map[string]float64{"iptables-legacy": 900, "iptables-nft": 300, "nftables": 40, "bpftables-tc": 120}
	for _, n := range []int{1000, 10000} {
		for _, c := range []string{"iptables-legacy", "iptables-nft", "nftables", "bpftables-tc"} {
			ms := loadMs[c] * float64(n) / 10000
			r.Load = append(r.Load, LoadResult{Family: "blocklist", N: n, Contender: c, Ms: ms, Rounds: []float64{ms * 0.9, ms, ms * 1.2}})
			r.Update = append(r.Update, UpdateResult{Change: "one rule", Family: "blocklist", N: n, Contender: c, Ms: 2, Rounds: []float64{1.9, 2, 2.5}})
		}
	}
	return r
}

func markdown(t *testing.T, r *Results) string {
	t.Helper()
	var b strings.Builder
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// section returns the report's section under the heading.
func section(t *testing.T, md, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(md, "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("no section %q in:\n%s", heading, md)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func TestGoalsStatedWithFigures(t *testing.T) {
	md := markdown(t, sampleResults())
	goals := section(t, md, "Goals")
	for _, row := range []string{
		"| blocklist cost 50,000 ÷ 1,000 | ≤ 1.2 | 1.02 | met |",
		"| mixed cost 10,000 ÷ 1,000 | ≤ 2 | 2.50 | **MISSED** |",
		"| blocklist cost ÷ floor, worst size | ≤ 2 | 1.12 (50,000 rules) | met |",
		"| allowlist cost ÷ floor, worst size | ≤ 2 | 1.32 (50,000 rules) | met |",
		"| load of 10,000 rules in process, worst family | ≤ 200 ms | 250 ms (mixed) | **MISSED** |",
		"| load of 10,000 rules by bpftables-tc iptables-restore, worst family | ≤ 200 ms | 120 ms (blocklist) | met | 900 ms (blocklist) | 300 ms (blocklist) |",
		"| bpftables-tc throughput at 10,000 rules ÷ none's, worst family | ≥ 0.9 | 0.85 (blocklist); none for kube-proxy | **MISSED** | 0.40 (blocklist) | 0.30 (blocklist) |",
		"| bpftables-xdp throughput at 10,000 rules ÷ none's, worst family | ≥ 0.9 | 0.95 (blocklist); none for kube-proxy | met |",
		"| bpftables-tc throughput at 10,000 rules ÷ nftables', worst family | ≥ 1.0 | 0.94 (blocklist); none for kube-proxy | **MISSED** |",
		"| bpftables-xdp throughput at 10,000 rules ÷ nftables', worst family | ≥ 1.0 | 1.06 (blocklist); none for kube-proxy | met |",
	} {
		if !strings.Contains(goals, row) {
			t.Errorf("goals lack the row\n%s\nin:\n%s", row, goals)
		}
	}
	// the datapath's goals bound blocklists and allowlists by the floor,
	// not mixed rules
	if strings.Contains(goals, "mixed cost ÷ floor") {
		t.Errorf("goals judge mixed rules by the floor:\n%s", goals)
	}
}

func TestGoalsWithoutFigures(t *testing.T) {
	r := sampleResults()
	r.Cost = slices.DeleteFunc(r.Cost, func(c CostResult) bool { return c.N > 1000 })
	r.Throughput = nil
	goals := section(t, markdown(t, r), "Goals")
	for _, row := range []string{
		"| blocklist cost 50,000 ÷ 1,000 | ≤ 1.2 | no cost at 1,000 and 50,000 rules | not measured |",
		"| load of 10,000 rules in process, worst family | ≤ 200 ms | no figure at 10,000 rules | not measured |",
		"| bpftables throughput at 10,000 rules | ≥ 0.9 of none, ≥ 1.0 of nftables | no figure at 10,000 rules | not measured |",
	} {
		if !strings.Contains(goals, row) {
			t.Errorf("goals lack the row\n%s\nin:\n%s", row, goals)
		}
	}
}

func TestEveryContenderReported(t *testing.T) {
	md := markdown(t, sampleResults())
	header := func(sec string) string {
		for _, line := range strings.Split(section(t, md, sec), "\n") {
			if strings.HasPrefix(line, "| family | rules |") || strings.HasPrefix(line, "| change |") {
				return line
			}
		}
		t.Fatalf("section %s has no table", sec)
		return ""
	}
	for _, c := range contenderNames {
		if !strings.Contains(header("Throughput"), "| "+c+" |") {
			t.Errorf("throughput table has no column for %s: %s", c, header("Throughput"))
		}
	}
	for _, c := range []string{"iptables-legacy", "iptables-nft", "nftables", "bpftables-tc"} {
		for _, sec := range []string{"Load time", "Update cost"} {
			if !strings.Contains(header(sec), "| "+c+" |") {
				t.Errorf("%s table has no column for %s: %s", sec, c, header(sec))
			}
		}
	}
	tp := section(t, md, "Throughput")
	if !strings.Contains(tp, "| kube-proxy | 10,000 | 1.00M ×1.00 (980k–1.01M) |") {
		t.Errorf("throughput row of kube-proxy missing or misprinted:\n%s", tp)
	}
	for _, want := range []string{"blocklist at 10,000 rules 1,024, kube-proxy at 10,000 rules 1,024.", "bpftables-xdp at xdp xdp-native."} {
		if !strings.Contains(tp, want) {
			t.Errorf("throughput section lacks %q:\n%s", want, tp)
		}
	}
	if !strings.Contains(tp, "refused [1] | refused [1] |") || !strings.Contains(tp, "[1] refused: table nat: not yet supported in the datapath") {
		t.Errorf("bpftables' refusal not reported with its message:\n%s", tp)
	}
}

func TestReportHeader(t *testing.T) {
	r := sampleResults()
	md := markdown(t, r)
	for _, want := range []string{"`go run ./benchmarks/cmd/bench`", "| commit | abc1234 (with local changes) |", "| nft | nftables v1.1.1 |",
		"| kernel | 6.18.0 |", "median of 3 rounds", "min–max"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "Smoke run") {
		t.Error("a full run's report calls itself a smoke run")
	}
	r.Quick = true
	md = markdown(t, r)
	if _, head, _ := strings.Cut(md, "\n"); !strings.HasPrefix(strings.TrimSpace(head), "> **Smoke run**") {
		t.Errorf("a quick run's report does not say so at the top:\n%s", md[:200])
	}
}

func TestCostTable(t *testing.T) {
	cost := section(t, markdown(t, sampleResults()), "Per-packet cost")
	for _, row := range []string{
		"| empty (floor) | 0 | 100.0 | 98.0–103.0 | 1.00 |",
		"| mixed | 10,000 | 500.0 | 490.0–530.0 | 5.00 |",
	} {
		if !strings.Contains(cost, row) {
			t.Errorf("cost table lacks %q:\n%s", row, cost)
		}
	}
	if !strings.Contains(cost, "does not report the instructions a program executes") {
		t.Error("cost section does not say the kernel reports no executed instructions")
	}
}

// TestPlots draws the plots and checks that the report shows exactly the
// files drawn, each a PNG image.
func TestPlots(t *testing.T) {
	r := sampleResults()
	dir := t.TempDir()
	if err := WritePlots(filepath.Join(dir, "plots"), r); err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, m := range regexp.MustCompile(`\]\(plots/([^)]+)\)`).FindAllStringSubmatch(markdown(t, r), -1) {
		shown = append(shown, m[1])
	}
	entries, err := os.ReadDir(filepath.Join(dir, "plots"))
	if err != nil {
		t.Fatal(err)
	}
	var drawn []string
	for _, e := range entries {
		drawn = append(drawn, e.Name())
	}
	slices.Sort(shown)
	if !slices.Equal(shown, drawn) {
		t.Fatalf("report shows %v, plots drawn %v", shown, drawn)
	}
	for _, want := range []string{"cost.png", "throughput-10000.png", "load-blocklist.png"} {
		if !slices.Contains(drawn, want) {
			t.Errorf("no %s among %v", want, drawn)
		}
	}
	for _, name := range drawn {
		f, err := os.Open(filepath.Join(dir, "plots", name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
			t.Errorf("%s is %v", name, b)
		}
	}
}

// TestPlotsOfOneSize draws a run with one size per family, as a smoke run
// has: log axes must still span a range.
func TestPlotsOfOneSize(t *testing.T) {
	r := &Results{
		Cost:       []CostResult{{Family: "empty", NsPkt: 100}, {Family: "blocklist", N: 100, NsPkt: 120}},
		Throughput: []ThroughputResult{{Family: "blocklist", N: 100, Contender: "none", PPS: 1e5, Ratio: 1}},
		Load:       []LoadResult{{Family: "blocklist", N: 100, Contender: "nftables", Ms: 3}},
	}
	if err := WritePlots(t.TempDir(), r); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryTable(t *testing.T) {
	mem := section(t, markdown(t, sampleResults()), "Memory")
	for _, row := range []string{
		"| datapath | 0 | 2 | 4 | 8,192 | 0 | 4,096 | 0 | 0 | — |",
		"| blocklist | 10,000 | 3 | 4 | 20,480 | 0 | 655,360 | 0 | 0 | 68 |",
		"| kube-proxy | 100 | refused [1] |",
		"[1] kube-proxy 100: chain INPUT rule 1: match `conntrack' is not yet supported in the datapath",
		"| docker | 100 | failed [2] |",
	} {
		if !strings.Contains(mem, row) {
			t.Errorf("memory section lacks %q:\n%s", row, mem)
		}
	}
}

// TestOneRound: a run of one round has no spread, and the report does not
// print a range of one value as if it were one.
func TestOneRound(t *testing.T) {
	r := sampleResults()
	r.Settings.Rounds = 1
	for i := range r.Throughput {
		r.Throughput[i].Rounds = []float64{r.Throughput[i].PPS}
	}
	for i := range r.Load {
		r.Load[i].Rounds = []float64{r.Load[i].Ms}
	}
	md := markdown(t, r)
	if !strings.Contains(md, "This run measured one round") {
		t.Error("a one-round run's report does not say it has one round")
	}
	if tp := section(t, md, "Throughput"); !strings.Contains(tp, "| blocklist | 10,000 | 1.00M ×1.00 | 400k ×0.40 |") {
		t.Errorf("one round's throughput printed with a spread:\n%s", tp)
	}
	if ld := section(t, md, "Load time"); !strings.Contains(ld, "| blocklist | 10,000 | 900.0 | 300.0 | 40.0 | 120.0 |") {
		t.Errorf("one round's load printed with a spread:\n%s", ld)
	}
}
