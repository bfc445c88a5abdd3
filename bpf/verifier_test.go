package bpf_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// linearRules is a FORWARD chain of n rules that only linear code runs.
func linearRules(n int) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "-A FORWARD -m mark --mark 0x%x/0xffff -m iprange --src-range 10.%d.%d.1-10.%d.%d.9 -j DROP\n", i+1, i/256%256, i%256, i/256%256, i%256)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func generate(tb testing.TB, text string, opts plan.Options) *bpf.GenerationSpec {
	tb.Helper()
	rs, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(text), iptables.RestoreOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := plan.Build(rs, "filter", opts)
	if err != nil {
		tb.Fatal(err)
	}
	spec, err := bpf.Generate(p, bpf.TC)
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

// TestLoadErrorSaysWhy holds a refused program's error to what a user
// needs: the program, its chains, and the verifier's reason - also when
// the kernel answers EFAULT, whose log cilium/ebpf drops.
func TestLoadErrorSaysWhy(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name   string
		spec   func() *bpf.GenerationSpec
		reason string
	}{
		{
			// one function with more branches pending than the verifier
			// allows: EFAULT before Linux 6.19
			"pending branches",
			func() *bpf.GenerationSpec { return generate(t, linearRules(12000), plan.Options{BlockTests: 1 << 30}) },
			"jumps is too complex",
		},
		{
			"invalid access",
			func() *bpf.GenerationSpec {
				spec := generate(t, linearRules(3), plan.Options{})
				prog := spec.Collection.Programs[bpf.EntryProgram(bpf.TC)]
				prog.Instructions = asm.Instructions{
					asm.LoadMem(asm.R0, asm.R1, 4000, asm.Word),
					asm.Return(),
				}
				return spec
			},
			"invalid bpf_context access",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.d.Load(tc.spec())
			var le *bpf.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("load: %v, not a *bpf.LoadError", err)
			}
			t.Logf("%v", err)
			if le.Program != bpf.EntryProgram(bpf.TC) || strings.Join(le.Chains, " ") != "INPUT FORWARD OUTPUT" {
				t.Errorf("program %s chains %v, want %s with INPUT, FORWARD and OUTPUT", le.Program, le.Chains, bpf.EntryProgram(bpf.TC))
			}
			if !strings.Contains(le.Reason, tc.reason) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("reason %q, want %q", le.Reason, tc.reason)
			}
			if strings.Contains(err.Error(), "hit verifier bug") {
				t.Error("the error still blames a verifier bug")
			}
		})
	}
}

// TestLinearChainsLoad loads a long chain of rules only linear code runs
// (in blocks, with the counting function) and runs packets that the
// first, a middle and the last rule decide, and one that no rule does.
func TestLinearChainsLoad(t *testing.T) {
	h := newHarness(t)
	n := 20000
	if testing.Short() {
		n = 3000
	}
	spec := generate(t, linearRules(n), plan.Options{})
	p := spec.Plan
	if blocks := p.ChainByName("FORWARD").Blocks(); blocks < 2 {
		t.Fatalf("FORWARD has %d blocks", blocks)
	}
	gen, err := h.d.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	if err := h.d.Swap(gen); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, n / 2, n - 1, n} {
		s := packet.Spec{Src: netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i), 5}), Dst: netip.MustParseAddr("192.0.2.1"), Proto: packet.ProtoTCP, SrcPort: 1000, DstPort: 80, TTL: 64}
		pk := s.Build()
		pk.Mark, pk.SrcMAC = uint32(i+1), []byte{2, 0, 0, 0, 0, 7}
		judged, err := p.Judge(translator.Forward, plan.Extract(pk, translator.IPv4, p.Ifaces))
		if err != nil {
			t.Fatal(err)
		}
		got := h.run(gen, translator.Forward, pk)
		if got.drop != (judged.Verdict == plan.ActDrop) || fmt.Sprint(got.counters) != fmt.Sprint(judged.Counters) {
			t.Errorf("packet for rule %d: drop=%v counters %v, the plan says %s %v", i+1, got.drop, got.counters, judged.Verdict, judged.Counters)
		}
		t.Logf("packet for rule %d: %s, counters %v", i+1, judged.Verdict, judged.Counters)
	}
}
