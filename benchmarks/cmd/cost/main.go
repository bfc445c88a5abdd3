// Command cost measures the per-packet cost of generated rulesets compiled
// by bpftables (BPF_PROG_TEST_RUN) and their load times, beside an empty
// ruleset's cost (the floor). Cases are measured in interleaved rounds
// (every case once per round) and medians reported, because the machine is
// small and noisy. With -md it writes the report in Markdown, with the
// ratios the datapath's goals are stated in; it asserts nothing.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/bpftables/bpftables/benchmarks"
	"github.com/bpftables/bpftables/rulesets"
)

type key struct {
	family rulesets.Family
	n      int // 0: the floor
}

func main() {
	repeat := flag.Int("repeat", 20000, "BPF_PROG_TEST_RUN repetitions per packet")
	packets := flag.Int("packets", 16, "probe packets per ruleset")
	rounds := flag.Int("rounds", 3, "interleaved rounds; medians are reported")
	md := flag.String("md", "", "write a Markdown report to this file")
	flag.Parse()

	sizes := []int{10, 1000, 10000, 50000}
	cases := []key{{rulesets.Blocklist, 0}}
	for _, f := range rulesets.Families {
		for _, n := range sizes {
			cases = append(cases, key{f, n})
		}
	}
	runs := map[key][]benchmarks.CostResult{}
	for r := 0; r < *rounds; r++ {
		for _, c := range cases {
			res, err := benchmarks.MeasureCost(c.family, c.n, *packets, *repeat)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			runs[c] = append(runs[c], res)
		}
		fmt.Fprintf(os.Stderr, "round %d of %d done\n", r+1, *rounds)
	}
	med := map[key]benchmarks.CostResult{}
	for c, rs := range runs {
		med[c] = median(rs)
	}

	var b bytes.Buffer
	report(&b, cases, med, *rounds, *repeat, *packets)
	os.Stdout.Write(b.Bytes())
	if *md != "" {
		head := "# bpftables benchmark results\n\n" +
			"## Per-packet cost and load time\n\n" +
			"The datapath's goals: cost flat in the number of rules for blocklists and allowlists, sublinear for mixed rules, at most twice an empty program's; a 10,000-rule ruleset loaded in 200 ms.\n\n" +
			"Command (as root): `make bench-cost`, which runs `go run ./benchmarks/cmd/cost -rounds " + fmt.Sprint(*rounds) + " -md benchmarks/RESULTS.md`.\n\n"
		if err := os.WriteFile(*md, append([]byte(head), b.Bytes()...), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// median takes the median cost and the median load of the runs (each
// separately) and the rest from the first.
func median(rs []benchmarks.CostResult) benchmarks.CostResult {
	out := rs[0]
	ns := make([]float64, len(rs))
	loads := make([]time.Duration, len(rs))
	for i, r := range rs {
		ns[i], loads[i] = r.NsPkt, r.Load
	}
	sort.Float64s(ns)
	sort.Slice(loads, func(i, j int) bool { return loads[i] < loads[j] })
	out.NsPkt, out.Load = ns[len(ns)/2], loads[len(loads)/2]
	return out
}

func report(w io.Writer, cases []key, med map[key]benchmarks.CostResult, rounds, repeat, packets int) {
	floor := med[key{rulesets.Blocklist, 0}].NsPkt
	fmt.Fprintf(w, "| family | rules | ns/packet | × floor | load ms | maps MiB | segments |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, c := range cases {
		r := med[c]
		name := c.family.String()
		if c.n == 0 {
			name = "empty (floor)"
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.2f | %.1f | %.1f | %s |\n", name, c.n, r.NsPkt, r.NsPkt/floor,
			float64(r.Load.Microseconds())/1000, float64(r.MapBytes)/(1<<20), r.Segments)
	}
	cost := func(f rulesets.Family, n int) float64 { return med[key{f, n}].NsPkt }
	worst := 0.0
	for _, f := range []rulesets.Family{rulesets.Blocklist, rulesets.Allowlist} {
		for _, n := range []int{10, 1000, 10000, 50000} {
			worst = max(worst, cost(f, n)/floor)
		}
	}
	load10k := 0.0
	for _, f := range rulesets.Families {
		load10k = max(load10k, float64(med[key{f, 10000}].Load.Microseconds())/1000)
	}
	fmt.Fprintf(w, "\n| goal | target | measured |\n|---|---|---|\n")
	fmt.Fprintf(w, "| blocklist cost 50,000 ÷ 1,000 | ≤ 1.2 | %.2f |\n", cost(rulesets.Blocklist, 50000)/cost(rulesets.Blocklist, 1000))
	fmt.Fprintf(w, "| allowlist cost 50,000 ÷ 1,000 | ≤ 1.2 | %.2f |\n", cost(rulesets.Allowlist, 50000)/cost(rulesets.Allowlist, 1000))
	fmt.Fprintf(w, "| mixed cost 10,000 ÷ 1,000 | ≤ 2 | %.2f |\n", cost(rulesets.Mixed, 10000)/cost(rulesets.Mixed, 1000))
	fmt.Fprintf(w, "| blocklist and allowlist cost ÷ floor, worst N | ≤ 2 | %.2f |\n", worst)
	fmt.Fprintf(w, "| load of 10,000 rules, worst family | ≤ 200 ms | %.0f ms |\n", load10k)
	fmt.Fprintf(w, "\nMedians of %d interleaved rounds; each case: %d probe packets, BPF_PROG_TEST_RUN repeated %d times each (the kernel's own timing). Load: iptables-restore text to a loaded, switched-in generation (parse, check, plan, generate, verify, fill maps).\n", rounds, packets, repeat)
	fmt.Fprintf(w, "\nMachine: %s, %d CPUs, kernel %s, Go %s, commit %s.\n", cpuModel(), runtime.NumCPU(), uname(), runtime.Version(), commit())
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

func uname() string {
	out, err := exec.Command("uname", "-r").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		s += " (with local changes)"
	}
	return s
}
