// Package benchmarks measures bpftables: the per-packet cost of the
// compiled programs (BPF_PROG_TEST_RUN), load times, and - side by side
// with iptables-legacy, iptables-nft and nftables - throughput. It reports
// figures; it asserts none.
package benchmarks

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/rulesets"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
	_ "github.com/bpftables/bpftables/translator/xt" // the extensions
)

// CostResult is the per-packet cost of one generated ruleset.
type CostResult struct {
	Family string  `json:"family"`
	N      int     `json:"rules"`
	NsPkt  float64 `json:"ns_per_packet"`
	// Rounds is each round's ns/packet when NsPkt is their median.
	Rounds []float64 `json:"rounds,omitempty"`
	// Load is the time from iptables-restore text to a loaded, swapped-in
	// generation: parse, check, plan, generate, verify, fill maps.
	Load     time.Duration `json:"load_ns"`
	Segments string        `json:"segments"`
	// MapBytes is the size of the generation's maps as their specs give
	// it (entries times key and value size), without kernel overhead.
	MapBytes int64 `json:"map_bytes"`
	// Insns and Verified sum the generation's programs: instructions after
	// the kernel's rewriting (translated size / 8) and instructions the
	// verifier processed. They measure the programs' size and the work of
	// loading them, not the instructions a packet runs: BPF_PROG_TEST_RUN
	// does not report those.
	Insns    int64 `json:"insns"`
	Verified int64 `json:"verified_insns"`
	// Error says why the ruleset could not be measured; the figures are
	// then zero.
	Error string `json:"error,omitempty"`
}

// Loaded is a generation in force in a datapath, for measuring.
type Loaded struct {
	D    *bpf.Datapath
	Gen  *bpf.Generation
	Plan *plan.Plan
	Load time.Duration
	// Stages splits Load by step of the pipeline.
	Stages Stages
}

// Stages is the time each step of a load took: Restore parses the text
// and makes the table's load checks, Plan lowers and segments it,
// Generate emits the programs, Load verifies them and fills the maps, and
// Swap puts the generation in force.
type Stages struct {
	Restore, Plan, Generate, Load, Swap time.Duration
}

// Close releases the datapath.
func (l *Loaded) Close() {
	if l.Gen != nil {
		l.Gen.Close()
	}
	l.D.Close()
}

// LoadRules runs the load pipeline on restore text and swaps the result in
// as the generation in force of a fresh datapath, timing it.
func LoadRules(text string, opts plan.Options) (*Loaded, error) {
	d, err := bpf.NewDatapath(bpf.TC)
	if err != nil {
		return nil, err
	}
	var st Stages
	start := time.Now()
	lap := start
	stage := func(into *time.Duration) {
		now := time.Now()
		*into, lap = now.Sub(lap), now
	}
	rs, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(text), iptables.RestoreOptions{})
	if err != nil {
		d.Close()
		return nil, err
	}
	if err := plan.CheckTables(rs); err != nil { // as the live path refuses them
		d.Close()
		return nil, err
	}
	stage(&st.Restore)
	p, err := plan.Build(rs, "filter", opts)
	if err != nil {
		d.Close()
		return nil, err
	}
	stage(&st.Plan)
	spec, err := bpf.Generate(p, bpf.TC)
	if err != nil {
		d.Close()
		return nil, err
	}
	stage(&st.Generate)
	gen, err := d.Load(spec)
	if err != nil {
		d.Close()
		return nil, err
	}
	stage(&st.Load)
	if err := d.Swap(gen); err != nil {
		gen.Close()
		d.Close()
		return nil, err
	}
	stage(&st.Swap)
	l := &Loaded{D: d, Gen: gen, Plan: p, Load: lap.Sub(start), Stages: st}
	// test runs judge at INPUT, as if received
	if err := d.Config.Put(uint32(0), bpf.Config{ForceHook: uint32(translator.Input) + 1, ForceIn: 1}); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Cost runs each packet through the ingress hook program repeat times with
// BPF_PROG_TEST_RUN and returns the mean time per packet, as the kernel
// measures it.
func (l *Loaded) Cost(pkts []packet.Spec, repeat int) (float64, error) {
	prog := l.D.Hooks[bpf.HookSpec{Point: bpf.Ingress, L2: 14}]
	var total time.Duration
	for _, s := range pkts {
		frame := packet.Ethernet([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{}, s.Bytes())
		_, d, err := prog.Benchmark(frame, repeat, nil)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return float64(total.Nanoseconds()) / float64(len(pkts)), nil
}

// segmentSummary counts the plan's segments by kind.
func segmentSummary(p *plan.Plan) string {
	n := map[plan.SegmentKind]int{}
	for _, c := range p.Chains {
		for _, s := range c.Segments {
			n[s.Kind]++
		}
	}
	return fmt.Sprintf("%d linear, %d hash, %d lpm, %d bitvector", n[plan.Linear], n[plan.Hash], n[plan.LPM], n[plan.BitVector])
}

// MeasureCost generates a ruleset of the family with n rules, loads it and
// measures its per-packet cost over its probe packets. n = 0 is the floor:
// the same pipeline with no rules.
func MeasureCost(f rulesets.Family, n int, packets, repeat int) (CostResult, error) {
	g := rulesets.Generate(f, max(n, 1), 1, packets)
	text := g.Rules
	if n == 0 {
		text = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"
	}
	l, err := LoadRules(text, plan.Options{})
	if err != nil {
		return CostResult{}, fmt.Errorf("%s %d: %w", f, n, err)
	}
	defer l.Close()
	ns, err := l.Cost(g.Packets, repeat)
	if err != nil {
		return CostResult{}, fmt.Errorf("%s %d: %w", f, n, err)
	}
	name := f.String()
	if n == 0 {
		name = "empty"
	}
	var bytes int64
	for _, m := range l.Gen.Spec.Collection.Maps {
		if m.Name == "pkt" {
			continue // the datapath's, not the generation's
		}
		v := int64(m.ValueSize)
		if m.Type == ebpf.PerCPUArray {
			v *= int64(runtime.NumCPU())
		}
		bytes += int64(m.MaxEntries) * (int64(m.KeySize) + v)
	}
	insns, verified, err := l.Instructions()
	if err != nil {
		return CostResult{}, fmt.Errorf("%s %d: %w", f, n, err)
	}
	return CostResult{Family: name, N: n, NsPkt: ns, Load: l.Load, Segments: segmentSummary(l.Plan), MapBytes: bytes,
		Insns: insns, Verified: verified}, nil
}

// Instructions sums the generation's programs' translated instructions and
// the instructions the verifier processed loading them (kernel 5.16).
func (l *Loaded) Instructions() (insns, verified int64, err error) {
	for name, p := range l.Gen.Coll.Programs {
		info, err := p.Info()
		if err != nil {
			return 0, 0, fmt.Errorf("program %s: %w", name, err)
		}
		size, err := info.TranslatedSize()
		if err != nil {
			return 0, 0, fmt.Errorf("program %s: %w", name, err)
		}
		v, _ := info.VerifiedInstructions()
		insns += int64(size / 8)
		verified += int64(v)
	}
	return insns, verified, nil
}
