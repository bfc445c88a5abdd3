// Command bench measures bpftables side by side with iptables-legacy,
// iptables-nft and nftables - per-packet cost, forwarding throughput, load
// time, update cost, kernel memory - and writes the report: RESULTS.md,
// results.json and plots/*.png in the -out directory. `make bench` runs it
// in full; `make bench-quick` (-quick) is a smoke run with small rulesets
// and short rounds whose figures are not for comparison. It needs root:
// it builds network namespaces and loads BPF programs. Progress goes to
// stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/benchmarks"
	"github.com/bpftables/bpftables/rulesets"
)

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "smoke run: small rulesets, short rounds, figures not for comparison")
	flag.IntVar(&o.rounds, "rounds", 0, "interleaved rounds, the medians of which are reported (default 5, 1 with -quick)")
	flag.StringVar(&o.out, "out", "benchmarks", "directory to write RESULTS.md, results.json and plots/ into")
	flag.StringVar(&o.bin, "bin", "./bin/bpftables", "the bpftables binary (make build)")
	flag.Parse()
	o.command = strings.Join(append([]string{"go run ./benchmarks/cmd/bench"}, os.Args[1:]...), " ")
	o.log = os.Stderr
	if _, err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are what a run is asked for.
type options struct {
	quick   bool
	rounds  int // 0: the plan's default
	out     string
	bin     string
	command string
	log     io.Writer
}

// plan is what a run measures: the families and sizes of each
// measurement.
type plan struct {
	rounds int
	// cost measures the per-packet cost of the generated families at
	// these sizes, 0 being the floor, with costPackets probe packets
	// run costRepeat times each.
	cost                    []int
	costPackets, costRepeat int
	// families are the families the side-by-side measurements run, the
	// kube-proxy- and Docker-shaped ones included.
	families   []rulesets.Family
	throughput []int
	send       time.Duration
	load       []int
	// shapedLoad are the load sizes of the kube-proxy- and
	// Docker-shaped families: 50,000 Services are 750,000 iptables lines
	// and minutes of nft -f.
	shapedLoad []int
	update     []int
	memory     []int
}

func planFor(quick bool) plan {
	families := rulesets.All
	if quick {
		return plan{rounds: 1, cost: []int{0, 10, 100}, costPackets: 4, costRepeat: 1000,
			families: families, throughput: []int{100}, send: 500 * time.Millisecond,
			load: []int{10, 100}, shapedLoad: []int{10, 100}, update: []int{100}, memory: []int{100}}
	}
	return plan{rounds: 3, cost: []int{0, 10, 100, 1000, 10000, 50000}, costPackets: 16, costRepeat: 20000,
		families: families, throughput: []int{1000, 10000}, send: 2 * time.Second,
		load: []int{10, 100, 1000, 10000, 50000}, shapedLoad: []int{10, 100, 1000, 10000}, update: []int{10000}, memory: []int{100, 1000, 10000, 50000}}
}

// run measures what the plan says and writes the report into o.out. A
// ruleset a contender refuses or fails is reported with its error; a
// failure of the harness itself stops the run before anything is
// written.
func run(o options) (*benchmarks.Results, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("needs root: it builds network namespaces and loads BPF programs")
	}
	if err := benchmarks.LookPath(); err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("bpftables binary: %w (make build)", err)
	}
	p := planFor(o.quick)
	if o.rounds > 0 {
		p.rounds = o.rounds
	}
	logf := func(format string, args ...any) { fmt.Fprintf(o.log, format+"\n", args...) }
	r := &benchmarks.Results{
		Machine:  machine(),
		Command:  o.command,
		Quick:    o.quick,
		Settings: benchmarks.Settings{Rounds: p.rounds, CostPackets: p.costPackets, CostRepeat: p.costRepeat, Send: p.send},
	}
	logf("per-packet cost: %v rules, %d rounds", p.cost, p.rounds)
	r.Cost = measureCost(p, logf)
	logf("memory: %v rules", p.memory)
	r.Memory = measureMemory(p, logf)
	logf("load time: %v rules (kube-proxy, docker: %v), %d rounds", p.load, p.shapedLoad, p.rounds)
	for _, part := range []struct {
		families []rulesets.Family
		sizes    []int
	}{{rulesets.Families, p.load}, {rulesets.Shaped, p.shapedLoad}} {
		rs, err := benchmarks.MeasureLoad(benchmarks.LoadOptions{Bin: bin, Families: part.families, Sizes: part.sizes, Rounds: p.rounds, Log: o.log})
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		r.Load = append(r.Load, rs...)
	}
	lo := benchmarks.LoadOptions{Bin: bin, Families: p.families, Sizes: p.update, Rounds: p.rounds, Log: o.log}
	logf("update cost: %v rules, %d rounds", p.update, p.rounds)
	if r.Update, err = benchmarks.MeasureUpdate(lo); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	logf("throughput: %v rules, %s a round, %d rounds", p.throughput, p.send, p.rounds)
	r.Throughput = measureThroughput(p, bin, o.log, logf)
	if err := write(o.out, r); err != nil {
		return nil, err
	}
	logf("wrote %s", filepath.Join(o.out, "RESULTS.md"))
	return r, nil
}

// costCase is one ruleset of the cost measurement; n = 0 is the floor.
type costCase struct {
	family rulesets.Family
	n      int
}

// measureCost measures every case once a round, the rounds interleaved,
// and keeps each case's median cost and load and its rounds. A ruleset
// bpftables refuses is reported with the refusal and not tried again.
func measureCost(p plan, logf func(string, ...any)) []benchmarks.CostResult {
	var cases []costCase
	if slices.Contains(p.cost, 0) {
		cases = append(cases, costCase{rulesets.Blocklist, 0})
	}
	for _, f := range rulesets.Families {
		for _, n := range p.cost {
			if n > 0 {
				cases = append(cases, costCase{f, n})
			}
		}
	}
	runs := make([][]benchmarks.CostResult, len(cases))
	failed := make([]string, len(cases))
	for round := 1; round <= p.rounds; round++ {
		for i, c := range cases {
			if failed[i] != "" {
				continue
			}
			res, err := benchmarks.MeasureCost(c.family, c.n, p.costPackets, p.costRepeat)
			if err != nil {
				failed[i] = err.Error()
				logf("cost %s %d: %v", c.family, c.n, err)
				continue
			}
			runs[i] = append(runs[i], res)
			logf("cost %s %d round %d: %.1f ns/packet", res.Family, c.n, round, res.NsPkt)
		}
	}
	out := make([]benchmarks.CostResult, len(cases))
	for i, c := range cases {
		if failed[i] != "" {
			name := c.family.String()
			if c.n == 0 {
				name = "empty" // as MeasureCost names the floor
			}
			out[i] = benchmarks.CostResult{Family: name, N: c.n, Error: failed[i]}
			continue
		}
		out[i] = medianCost(runs[i])
	}
	return out
}

// medianCost is the first round's result with the median cost and the
// median load of all rounds (the upper middle for an even count), and every
// round's cost.
func medianCost(rs []benchmarks.CostResult) benchmarks.CostResult {
	out := rs[0]
	costs := make([]float64, len(rs))
	loads := make([]time.Duration, len(rs))
	for i, r := range rs {
		costs[i], loads[i] = r.NsPkt, r.Load
	}
	out.Rounds = slices.Clone(costs)
	slices.Sort(costs)
	slices.Sort(loads)
	out.NsPkt, out.Load = costs[len(costs)/2], loads[len(loads)/2]
	return out
}

// measureMemory measures one family at a time, so that a family bpftables
// refuses is reported with the refusal rather than ending the measurement;
// the datapath and empty rows are the same in every call and kept once.
func measureMemory(p plan, logf func(string, ...any)) []benchmarks.MemoryResult {
	var out []benchmarks.MemoryResult
	for _, f := range p.families {
		rs, err := benchmarks.MeasureMemory([]rulesets.Family{f}, p.memory)
		if err != nil {
			logf("memory %s: %v", f, err)
			out = append(out, benchmarks.MemoryResult{Family: f.String(), Error: err.Error()})
			continue
		}
		for _, m := range rs {
			if m.N == 0 && slices.ContainsFunc(out, func(o benchmarks.MemoryResult) bool { return o.Family == m.Family }) {
				continue
			}
			out = append(out, m)
		}
	}
	return out
}

// measureThroughput measures one family at a time, so that a family the
// harness cannot measure is reported with the reason, under every
// contender, rather than ending the run.
func measureThroughput(p plan, bin string, log io.Writer, logf func(string, ...any)) []benchmarks.ThroughputResult {
	var out []benchmarks.ThroughputResult
	for _, f := range rulesets.Families { // see the report on the shaped ones
		rs, err := benchmarks.MeasureThroughput(benchmarks.ThroughputOptions{
			Bin: bin, Families: []rulesets.Family{f}, Sizes: p.throughput, Duration: p.send, Rounds: p.rounds, Log: log})
		out = append(out, rs...)
		if err == nil {
			continue
		}
		logf("throughput %s: %v", f, err)
		for _, n := range p.throughput {
			if slices.ContainsFunc(rs, func(t benchmarks.ThroughputResult) bool { return t.N == n }) {
				continue
			}
			for _, c := range benchmarks.Contenders(bin) {
				out = append(out, benchmarks.ThroughputResult{Family: f.String(), N: n, Contender: c.Name, Error: "not measured: " + err.Error()})
			}
		}
	}
	return out
}

// write writes the report, the figures as JSON and the plots into dir,
// replacing the plots of an earlier run.
func write(dir string, r *benchmarks.Results) error {
	plots := filepath.Join(dir, "plots")
	old, err := filepath.Glob(filepath.Join(plots, "*.png"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	if err := benchmarks.WritePlots(plots, r); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "RESULTS.md"))
	if err != nil {
		return err
	}
	if err := benchmarks.WriteMarkdown(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// machine describes this machine, the commit measured and the other
// contenders' tools.
func machine() benchmarks.Machine {
	m := benchmarks.Machine{
		CPU:     cpuModel(),
		CPUs:    runtime.NumCPU(),
		MemMiB:  memMiB(),
		Go:      runtime.Version(),
		Started: time.Now().UTC().Format(time.RFC3339),
		Tools:   map[string]string{},
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	m.Commit, _ = output("git", "rev-parse", "HEAD")
	if st, ok := output("git", "status", "--porcelain", "--untracked-files=no"); ok {
		m.Dirty = st != ""
	}
	for _, tool := range []string{"iptables-legacy", "iptables-nft", "nft"} {
		m.Tools[tool], _ = output(tool, "--version")
	}
	return m
}

// output is what the command prints, trimmed; "unknown" and false if it
// fails.
func output(name string, args ...string) (string, bool) {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown", false
	}
	return strings.TrimSpace(string(out)), true
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// memMiB is the machine's memory (MemTotal) in MiB, 0 if unknown.
func memMiB() int {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}
