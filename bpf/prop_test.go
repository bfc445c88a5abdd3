package bpf_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/internal/rulegen"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
	_ "github.com/bpftables/bpftables/translator/xt"
)

// ifindexes stand for the generator's interface names in test runs.
var ifindexes = map[string]uint32{}

func init() {
	for i, n := range rulegen.Ifaces {
		ifindexes[n] = uint32(101 + i)
	}
}

func ifaceNames() map[uint32]string {
	m := map[uint32]string{}
	for n, i := range ifindexes {
		m[i] = n
	}
	return m
}

// skbCtx is the start of struct __sk_buff: the fields a test run may set.
type skbCtx struct {
	Len, PktType, Mark uint32
}

// dstMAC gives the packet its type: BPF_PROG_TEST_RUN classifies frames
// against the loopback device, whose address is all zeros.
func dstMAC(t packet.PktType) [6]byte {
	switch t {
	case packet.Broadcast:
		return [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	case packet.Multicast:
		return [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	case packet.OtherHost:
		return [6]byte{0x02, 0, 0, 0, 0, 0x99}
	}
	return [6]byte{}
}

// harness runs packets through the hook program of a loaded generation.
type harness struct {
	tb   testing.TB
	d    *bpf.Datapath
	prog *ebpf.Program
}

func newHarness(tb testing.TB) *harness {
	nettest.RequireRoot(tb)
	probe, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		nettest.Skip(tb, "BPF is not available: %v", err)
	}
	probe.Close()
	d, err := bpf.NewDatapath(bpf.TC)
	if err != nil {
		tb.Fatalf("loading the datapath: %v", err)
	}
	tb.Cleanup(d.Close)
	return &harness{tb: tb, d: d, prog: d.Hooks[bpf.HookSpec{Point: bpf.Ingress, L2: 14}]}
}

// result of one packet: the action code, the counter slots it
// incremented, the packet context the hook program filled.
type result struct {
	drop     bool
	counters []int
	pkt      []byte
}

// loadRuleset loads a filter table into the harness' datapath, with the
// test's interface names, makes it live and returns it with the ruleset
// it came from.
func (h *harness) loadRuleset(fam translator.Family, text string) (*bpf.Generation, *translator.Ruleset) {
	h.tb.Helper()
	rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(text), iptables.RestoreOptions{})
	if err != nil {
		h.tb.Fatal(err)
	}
	p, err := plan.Build(rs, "filter", plan.Options{})
	if err != nil {
		h.tb.Fatal(err)
	}
	g, err := h.swapIn(p, ifaceNames())
	if err != nil {
		h.tb.Fatalf("%+v", err)
	}
	h.tb.Cleanup(func() { g.Close() })
	return g, rs
}

// swapIn generates the plan's tc programs, loads them with the interface
// names and makes them live. The error is the generator's or the kernel's
// own, for %+v to print the verifier's log.
func (h *harness) swapIn(p *plan.Plan, names map[uint32]string) (*bpf.Generation, error) {
	spec, err := bpf.Generate(p, bpf.TC)
	if err != nil {
		return nil, err
	}
	g, err := h.d.Load(spec)
	if err != nil {
		return nil, err
	}
	if err := g.SetIfaces(names); err != nil {
		g.Close()
		return nil, err
	}
	if err := h.d.Swap(g); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (h *harness) run(g *bpf.Generation, hook translator.Hook, p *packet.Packet) result {
	h.tb.Helper()
	return h.runOn(g, hook, p, ifindexes[p.InIface], ifindexes[p.OutIface])
}

// runOn runs a packet with the given interface indexes.
func (h *harness) runOn(g *bpf.Generation, hook translator.Hook, p *packet.Packet, in, out uint32) result {
	h.tb.Helper()
	cfg := bpf.Config{ForceHook: uint32(hook) + 1, ForceIn: in, ForceOut: out}
	if err := h.d.Config.Put(uint32(0), cfg); err != nil {
		h.tb.Fatal(err)
	}
	zero := make([][]byte, runtime.NumCPU())
	for i := range zero {
		zero[i] = make([]byte, bpf.PktSize)
	}
	if err := h.d.Pkt.Put(uint32(0), zero); err != nil {
		h.tb.Fatal(err)
	}
	before, err := g.Counters()
	if err != nil {
		h.tb.Fatal(err)
	}
	var src [6]byte
	copy(src[:], p.SrcMAC)
	frame := packet.Ethernet(src, dstMAC(p.PktType), p.Data)
	ret, err := h.prog.Run(&ebpf.RunOptions{Data: frame, Context: skbCtx{Mark: p.Mark}})
	if err != nil {
		h.tb.Fatalf("test run: %v", err)
	}
	after, err := g.Counters()
	if err != nil {
		h.tb.Fatal(err)
	}
	// tc action codes: TC_ACT_SHOT drops; ACCEPT passes with
	// TC_ACT_UNSPEC so that later tc programs still run.
	const tcActShot, tcActUnspec = 2, -1
	var res result
	switch int32(ret) {
	case tcActShot:
		res.drop = true
	case tcActUnspec:
	default:
		h.tb.Fatalf("the program returned %d, neither TC_ACT_SHOT nor TC_ACT_UNSPEC", int32(ret))
	}
	for i := range after {
		for n := before[i].Packets; n < after[i].Packets; n++ {
			res.counters = append(res.counters, i)
		}
	}
	var per [][]byte
	if err := h.d.Pkt.Lookup(uint32(0), &per); err != nil {
		h.tb.Fatal(err)
	}
	for _, v := range per {
		if v[61] != 0 { // the family byte: the CPU the packet ran on
			res.pkt = v
		}
	}
	return res
}

// contextValues reads the packet context back as plan values.
func contextValues(pkt []byte, fam translator.Family) plan.Values {
	var v plan.Values
	addr := func(off int) []byte {
		n := 4
		if fam == translator.IPv6 {
			n = 16
		}
		return append([]byte(nil), pkt[off:off+n]...)
	}
	num := func(f plan.Field, off, size int) {
		var x uint64
		switch size {
		case 1:
			x = uint64(pkt[off])
		case 2:
			x = uint64(binary.NativeEndian.Uint16(pkt[off:]))
		case 4:
			x = uint64(binary.NativeEndian.Uint32(pkt[off:]))
		case 8:
			x = binary.NativeEndian.Uint64(pkt[off:])
		}
		b := make([]byte, 8)
		binary.BigEndian.PutUint64(b, x)
		v[f] = b[8-f.Size(fam):]
	}
	v[plan.FieldSrc] = addr(0)
	v[plan.FieldDst] = addr(16)
	num(plan.FieldMark, 32, 4)
	num(plan.FieldLen, 36, 2)
	num(plan.FieldSport, 38, 2)
	num(plan.FieldDport, 40, 2)
	num(plan.FieldICMP, 42, 2)
	num(plan.FieldFragOff, 44, 2)
	num(plan.FieldL4Avail, 46, 2)
	num(plan.FieldProto, 48, 1)
	num(plan.FieldTCPFlags, 49, 1)
	num(plan.FieldTTL, 50, 1)
	num(plan.FieldTOS, 51, 1)
	num(plan.FieldPktType, 52, 1)
	num(plan.FieldHasMAC, 53, 1)
	v[plan.FieldSrcMAC] = append([]byte(nil), pkt[54:60]...)
	num(plan.FieldInIface, 72, 8)
	num(plan.FieldOutIface, 80, 8)
	return v
}

// TestProgramsAgreeWithEvaluator runs seeded random rulesets (every
// stateless match, user chains, RETURN and goto, both families) compiled
// to BPF under BPF_PROG_TEST_RUN, packet by packet, and holds verdicts,
// per-rule counters and the parsed packet fields to the plan and the
// evaluator.
func TestProgramsAgreeWithEvaluator(t *testing.T) {
	h := newHarness(t)
	rulesets, packets := 220, 50
	if testing.Short() {
		rulesets = 40
	}
	cases, hot, lookups, compiled, tooDeep := 0, 0, 0, 0, 0
	bvSegs, multiChunk, viaBV, hotBV, resumed := 0, 0, 0, 0, 0
	blocked, viaBlock, blockEnds := 0, 0, map[plan.ActionKind]int{}
	sizes := []int{1, 5, 20, 60, 200, 1000, 5000}
	for seed := int64(0); seed < int64(rulesets); seed++ {
		fam := translator.IPv4
		if seed%3 == 2 {
			fam = translator.IPv6
		}
		g := rulegen.New(1000+seed, fam)
		size := sizes[seed%int64(len(sizes))]
		if size == 5000 && seed > int64(len(sizes)) {
			size = 300 // the largest size once is enough for run time
		}
		text := g.Ruleset(size)
		rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(text), iptables.RestoreOptions{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		opts := plan.Options{}
		switch seed % 4 {
		case 1:
			// small blocks: chains cut into functions of their own, with
			// jumps, RETURN and goto inside blocks, and the depth they add
			opts = plan.Options{BlockTests: 1 + int(seed/4)%12}
		case 3:
			// small chunks and runs: the multi-chunk paths on small rulesets
			opts = plan.Options{BVMinRun: 8, BVChunk: 64}
		}
		p, err := plan.Build(rs, "filter", opts)
		if errors.Is(err, plan.ErrTooDeep) {
			// a ruleset whose jumps could exceed the tail-call limit is
			// refused, with this error, before anything loads
			tooDeep++
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		compiled++
		inBV := map[int]bool{}
		inBlock := map[int]bool{}
		for _, c := range p.Chains {
			if c.Blocks() > 0 {
				blocked++
			}
			for _, s := range c.Segments {
				for _, r := range s.Rules {
					inBlock[r.ID] = s.Block > 0
				}
				if s.Kind != plan.BitVector {
					continue
				}
				bvSegs++
				if len(s.BV.Chunks) > 1 {
					multiChunk++
				}
				for _, r := range s.Rules {
					inBV[r.ID] = true
				}
			}
		}
		// every other ruleset counts through the counting function, as
		// programs with many rules do
		bpf.SetMaxInlineCounts(t, []int{256, 0}[seed/4%2])
		gen, err := h.swapIn(p, ifaceNames())
		if err != nil {
			t.Fatalf("seed %d (%d rules): %v\n%s", seed, len(p.Rules), err, text)
		}
		for i := 0; i < packets; i++ {
			hook := []translator.Hook{translator.Input, translator.Forward, translator.Output}[i%3]
			pk := g.Packet(hook)
			if pk.SrcMAC == nil {
				pk.SrcMAC = []byte{2, 0, 0, 0, 0, 7} // the test frame has an Ethernet header
			}
			if pk.PktType == packet.Broadcast {
				// A test run classifies frames against loopback, whose
				// broadcast address is all zeros: ff:ff:... is multicast.
				pk.PktType = packet.Multicast
			}
			want := eval.Evaluate(rs, "filter", hook, pk, eval.Options{})
			vals := plan.Extract(pk, fam, p.Ifaces)
			judged, err := p.Judge(hook, vals)
			if err != nil {
				t.Fatal(err)
			}
			got := h.run(gen, hook, pk)
			cases++
			if judged.HotDrop {
				hot++
			}
			if msg := diffValues(vals, contextValues(got.pkt, fam)); msg != "" {
				t.Fatalf("seed %d packet %d: the hook program parsed %s (%s %s -> %s proto %d, %d bytes)", seed, i, msg, hook, pk.Src, pk.Dst, pk.Proto, len(pk.Data))
			}
			wantDrop := want.Verdict == translator.Drop
			// Counters read back carry no order: compare them as sets.
			wantCounters := append([]int(nil), judged.Counters...)
			sort.Ints(wantCounters)
			if got.drop != wantDrop || fmt.Sprint(got.counters) != fmt.Sprint(wantCounters) {
				var b strings.Builder
				p.Print(&b)
				t.Fatalf("seed %d packet %d (%s %s -> %s proto %d): evaluator drop=%v plan counters %v; programs drop=%v counters %v\nplan:\n%s", seed, i, hook, pk.Src, pk.Dst, pk.Proto, wantDrop, judged.Counters, got.drop, got.counters, b.String())
			}
			for _, c := range judged.Counters {
				if c < len(p.Rules) && inLookup(p, c) {
					lookups++
					break
				}
			}
			n := 0
			for _, c := range judged.Counters {
				if inBV[c] {
					n++
				}
			}
			for _, c := range judged.Counters {
				if c < len(p.Rules) && inBlock[c] {
					viaBlock++
					blockEnds[p.Rules[c].Kind]++
				}
			}
			if n > 0 {
				viaBV++
			}
			if n > 1 {
				resumed++
			}
			if judged.HotDrop && bvHotDrop(p, vals) {
				hotBV++
			}
		}
		gen.Close()
	}
	t.Logf("%d packet cases on %d rulesets agree (%d hot drops, %d decided through lookups); %d rulesets refused as nesting too deep", cases, compiled, hot, lookups, tooDeep)
	t.Logf("bit-vectors: %d segments (%d of several chunks); %d packets matched through them, %d more than one rule, %d hot drops", bvSegs, multiChunk, viaBV, resumed, hotBV)
	t.Logf("blocks: %d chains cut into blocks; %d rules matched inside blocks, by action %v", blocked, viaBlock, blockEnds)
	if bvSegs == 0 || multiChunk == 0 || viaBV == 0 || resumed == 0 || hotBV == 0 {
		t.Error("the cases no longer exercise bit-vector segments: chunks, matches, resumes and hot drops")
	}
	for _, k := range []plan.ActionKind{plan.ActContinue, plan.ActAccept, plan.ActDrop, plan.ActReturn, plan.ActJump, plan.ActGoto} {
		if blockEnds[k] == 0 && !testing.Short() { // a few rulesets meet only some
			t.Errorf("no packet matched a rule with action %s inside a block", k)
		}
	}
	if compiled < rulesets*9/10 {
		t.Errorf("only %d of %d rulesets compiled", compiled, rulesets)
	}
	if hot == 0 || lookups == 0 {
		t.Error("the cases no longer exercise hot drops and lookups")
	}
}

// bvHotDrop reports whether a bit-vector segment of the plan hot-drops the
// packet when scanned from its start.
func bvHotDrop(p *plan.Plan, v plan.Values) bool {
	for _, c := range p.Chains {
		for _, s := range c.Segments {
			if s.Kind != plan.BitVector {
				continue
			}
			for start := 0; ; {
				pos, hot := s.BV.Scan(v, start)
				if hot {
					return true
				}
				if pos < 0 {
					break
				}
				start = pos + 1
			}
		}
	}
	return false
}

func inLookup(p *plan.Plan, id int) bool {
	for _, c := range p.Chains {
		for _, s := range c.Segments {
			if s.Kind == plan.Linear {
				continue
			}
			for _, r := range s.Rules {
				if r.ID == id {
					return true
				}
			}
		}
	}
	return false
}

func diffValues(want, got plan.Values) string {
	var diffs []string
	for f := plan.Field(0); f < plan.NumFields; f++ {
		if f == plan.FieldInIface || f == plan.FieldOutIface || f >= plan.FieldCtState {
			// the entry program sets these (forced hooks skip the
			// interface lookup; connection tracking runs in a ruleset
			// that tests it, see conntrack_test.go)
			continue
		}
		if !bytes.Equal(want[f], got[f]) {
			diffs = append(diffs, fmt.Sprintf("%s=%x (want %x)", f, got[f], want[f]))
		}
	}
	return strings.Join(diffs, " ")
}
