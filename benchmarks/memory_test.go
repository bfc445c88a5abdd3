package benchmarks

import (
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/rulesets"
)

// TestMeasureMemory checks the kernel's figures are there and that a
// generation of more rules takes more memory than one of fewer, and more
// than the empty one.
func TestMeasureMemory(t *testing.T) {
	nettest.RequireRoot(t)
	sizes := []int{10, 1000}
	res, err := MeasureMemory(rulesets.Families, sizes)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + len(rulesets.Families)*len(sizes); len(res) != want {
		t.Fatalf("%d rows, want %d", len(res), want)
	}
	for _, r := range res {
		t.Logf("%+v", r)
		if r.Programs == 0 || r.Maps == 0 || r.ProgBytes <= 0 || r.MapBytes <= 0 || r.JitedBytes <= 0 || r.Insns <= 0 || r.Verified <= 0 {
			t.Errorf("%s %d: a figure is missing: %+v", r.Family, r.N, r)
		}
	}
	if res[0].Family != MemoryDatapath || res[1].Family != MemoryEmpty {
		t.Fatalf("rows 0 and 1 are %s and %s, want the datapath and the empty generation", res[0].Family, res[1].Family)
	}
	empty := res[1]
	for i, f := range rulesets.Families {
		small, large := res[2+2*i], res[3+2*i]
		if small.Family != f.String() || large.Family != f.String() || small.N != sizes[0] || large.N != sizes[1] {
			t.Fatalf("rows of %s are %s %d and %s %d", f, small.Family, small.N, large.Family, large.N)
		}
		total := func(r MemoryResult) int64 { return r.ProgBytes + r.MapBytes }
		if total(small) <= total(empty) || total(large) <= total(small) {
			t.Errorf("%s: %d bytes empty, %d at %d rules, %d at %d rules: want growth with the rules", f, total(empty), total(small), small.N, total(large), large.N)
		}
		if small.PerRule <= 0 || large.PerRule <= 0 {
			t.Errorf("%s: bytes per rule %.1f and %.1f, want positive", f, small.PerRule, large.PerRule)
		}
	}
}
