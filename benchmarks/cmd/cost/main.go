// Command cost measures the per-packet cost of generated rulesets compiled
// by bpftables, and their load times.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/bpftables/bpftables/benchmarks"
	"github.com/bpftables/bpftables/rulesets"
)

func main() {
	repeat := flag.Int("repeat", 20000, "BPF_PROG_TEST_RUN repetitions per packet")
	packets := flag.Int("packets", 16, "probe packets per ruleset")
	flag.Parse()
	floor, err := benchmarks.MeasureCost(rulesets.Blocklist, 0, *packets, *repeat)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%-10s %6s %10s %10s %9s  %s\n", "family", "rules", "ns/packet", "load ms", "maps MiB", "segments")
	fmt.Printf("%-10s %6d %10.1f %10.2f %9.1f  %s\n", floor.Family, 0, floor.NsPkt, float64(floor.Load.Microseconds())/1000, float64(floor.MapBytes)/(1<<20), floor.Segments)
	for _, f := range rulesets.Families {
		for _, n := range []int{10, 1000, 10000, 50000} {
			r, err := benchmarks.MeasureCost(f, n, *packets, *repeat)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				continue
			}
			fmt.Printf("%-10s %6d %10.1f %10.2f %9.1f  %s\n", r.Family, r.N, r.NsPkt, float64(r.Load.Microseconds())/1000, float64(r.MapBytes)/(1<<20), r.Segments)
		}
	}
}
