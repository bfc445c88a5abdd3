package benchmarks

import (
	"fmt"
	"io"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/internal/pktgen"
	"github.com/bpftables/bpftables/rulesets"
)

// HookCostOptions say what MeasureHookCost measures. The zero value of
// each field is a sensible default, except Bins, which is required.
type HookCostOptions struct {
	// Bins are the bpftables builds to compare, by name: each round
	// runs every case under each build in turn.
	Bins []NamedBin
	// Allowlist is the size of the allowlist case; zero means 10,000.
	// The other case is an empty ruleset.
	Allowlist int
	// Duration is how long each turn sends; zero means 2 s.
	Duration time.Duration
	// Rounds is how many rounds run; zero means 5.
	Rounds int
	// Log receives a line per turn; nil discards.
	Log io.Writer
}

// NamedBin is a bpftables binary and the name results give it.
type NamedBin struct{ Name, Path string }

// HookCostResult is the cost of the hook programs of one build on one
// case, a figure per round.
type HookCostResult struct {
	Bin, Case string
	// In is bpftables_in's average run time (ns, tail-called programs
	// included) on the firewall's client-side link; Out is the egress
	// program's on the server-side link, which forwarded packets pass.
	// Both include the bpf stats' own cost.
	In, Out []float64
	// PPS is what reached the server.
	PPS []float64
}

// MeasureHookCost forwards the throughput benchmark's traffic through
// the firewall under each build of bpftables at tc and reads, from the
// kernel's bpf stats (enabled for the run), the run time per packet of
// the hook programs attached to the firewall's links. The builds take
// turns (A B A B ...), so the machine's load falls on each alike.
// It needs root and Linux 5.8.
func MeasureHookCost(o HookCostOptions) ([]HookCostResult, error) {
	if len(o.Bins) == 0 {
		return nil, fmt.Errorf("hook cost: no bpftables binary")
	}
	if o.Allowlist == 0 {
		o.Allowlist = 10000
	}
	if o.Duration == 0 {
		o.Duration = 2 * time.Second
	}
	if o.Rounds == 0 {
		o.Rounds = 5
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	top, err := nettest.BuildTopology("bpft-hook-")
	if err != nil {
		return nil, err
	}
	defer top.Close()
	r := &rig{top: top}
	allow := rulesets.GenerateIn(rulesets.Allowlist, o.Allowlist, throughputSeed, probeFlows, "FORWARD")
	frames, err := r.forwarded(allow)
	if err != nil {
		return nil, err
	}
	gen, err := r.generator(frames)
	if err != nil {
		return nil, err
	}
	defer gen.Close()
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		return nil, fmt.Errorf("enabling bpf stats: %w", err)
	}
	defer stats.Close()
	cases := []struct {
		name string
		g    *rulesets.Generated
	}{
		{"empty", &rulesets.Generated{Rules: "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"}},
		{fmt.Sprintf("allowlist %d", o.Allowlist), allow},
	}
	var results []HookCostResult
	for _, c := range cases {
		for _, b := range o.Bins {
			results = append(results, HookCostResult{Bin: b.Name, Case: c.name})
		}
	}
	for round := 0; round < o.Rounds; round++ {
		for ci, c := range cases {
			for bi, b := range o.Bins {
				res := &results[ci*len(o.Bins)+bi]
				in, out, pps, err := r.hookTurn(o.Bins, b, c.g, gen, o.Duration)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", b.Name, c.name, err)
				}
				res.In, res.Out, res.PPS = append(res.In, in), append(res.Out, out), append(res.PPS, pps)
				fmt.Fprintf(o.Log, "hook cost round %d %-16s %-8s in %6.1f ns, out %5.1f ns, %8.0f pps\n", round+1, c.name, b.Name, in, out, pps)
			}
		}
	}
	return results, nil
}

// hookTurn loads a ruleset with one build (after clearing what any build
// left), sends for d, and returns the hook programs' ns per run and the
// packets per second that reached the server.
func (r *rig) hookTurn(bins []NamedBin, b NamedBin, g *rulesets.Generated, gen *pktgen.Generator, d time.Duration) (in, out, pps float64, err error) {
	for _, o := range bins {
		if err := clearBpftables(o.Path)(r.top.Firewall); err != nil {
			return 0, 0, 0, err
		}
	}
	if err := restoreWith(b.Path, "iptables-restore")(r.top.Firewall, g); err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = clearBpftables(b.Path)(r.top.Firewall) }()
	var progs [2]*ebpf.Program
	err = r.top.Firewall.Within(func() error {
		for i, at := range []struct {
			ifindex int
			attach  ebpf.AttachType
		}{{r.top.FirewallClientLink.Index, ebpf.AttachTCXIngress}, {r.top.FirewallServerLink.Index, ebpf.AttachTCXEgress}} {
			q, err := link.QueryPrograms(link.QueryOptions{Target: at.ifindex, Attach: at.attach})
			if err != nil {
				return err
			}
			if len(q.Programs) != 1 {
				return fmt.Errorf("%d programs attached to ifindex %d (%v), want bpftables' only", len(q.Programs), at.ifindex, at.attach)
			}
			if progs[i], err = ebpf.NewProgramFromID(q.Programs[0].ID); err != nil {
				return err
			}
		}
		return nil
	})
	for _, p := range progs {
		if p != nil {
			defer p.Close()
		}
	}
	if err != nil {
		return 0, 0, 0, err
	}
	var before, after [2]*ebpf.ProgramStats
	for i, p := range progs {
		if before[i], err = p.Stats(); err != nil {
			return 0, 0, 0, err
		}
	}
	a0, err := r.arrived()
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	if _, err := gen.Send(d); err != nil {
		return 0, 0, 0, err
	}
	elapsed := time.Since(start)
	time.Sleep(settle)
	a1, err := r.arrived()
	if err != nil {
		return 0, 0, 0, err
	}
	var ns [2]float64
	for i, p := range progs {
		if after[i], err = p.Stats(); err != nil {
			return 0, 0, 0, err
		}
		if runs := after[i].RunCount - before[i].RunCount; runs > 0 {
			ns[i] = float64(after[i].Runtime-before[i].Runtime) / float64(runs)
		}
	}
	return ns[0], ns[1], float64(a1-a0) / elapsed.Seconds(), nil
}
