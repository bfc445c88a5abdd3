// Command hookcost compares the per-packet cost of the hook programs of
// bpftables builds in the throughput benchmark's forwarding topology,
// from the kernel's bpf stats: each build in turn loads an empty ruleset
// and an allowlist, the client sends, and the run time per packet of the
// programs on the firewall's links is read. Medians of the interleaved
// rounds are printed; the stats add some 58 ns to each run on the
// machine measured. It asserts nothing. Needs root.
//
//	go build -o /tmp/new ./cmd/bpftables
//	git stash; go build -o /tmp/old ./cmd/bpftables; git stash pop
//	go run ./benchmarks/cmd/hookcost old=/tmp/old new=/tmp/new
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bpftables/bpftables/benchmarks"
)

func main() {
	rounds := flag.Int("rounds", 5, "interleaved rounds; medians are reported")
	duration := flag.Duration("duration", 2*time.Second, "how long each turn sends")
	allow := flag.Int("allowlist", 10000, "rules of the allowlist case")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: hookcost [flags] name=/path/to/bpftables ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	var bins []benchmarks.NamedBin
	for _, a := range flag.Args() {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			flag.Usage()
			os.Exit(2)
		}
		bins = append(bins, benchmarks.NamedBin{Name: name, Path: path})
	}
	if len(bins) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	res, err := benchmarks.MeasureHookCost(benchmarks.HookCostOptions{
		Bins: bins, Allowlist: *allow, Duration: *duration, Rounds: *rounds, Log: os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%-16s %-8s %12s %12s %12s\n", "case", "build", "in ns/run", "out ns/run", "pps")
	for _, r := range res {
		fmt.Printf("%-16s %-8s %12.1f %12.1f %12.0f\n", r.Case, r.Bin, benchmarks.Median(r.In), benchmarks.Median(r.Out), benchmarks.Median(r.PPS))
	}
}
