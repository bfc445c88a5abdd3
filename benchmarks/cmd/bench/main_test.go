package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/bpftables/bpftables/benchmarks"
	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/rulesets"
)

// TestQuickRun is make bench-quick as a test, so that CI runs it: the
// smoke run into a temporary directory. It asserts that every contender
// produced figures and that every file of the report was written; it
// asserts no timing.
func TestQuickRun(t *testing.T) {
	nettest.RequireRoot(t)
	if err := benchmarks.LookPath(); err != nil {
		nettest.Skip(t, "%v (make test installs it)", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bpftables")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/bpftables").CombinedOutput(); err != nil {
		t.Fatalf("building bpftables: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "report")
	var log bytes.Buffer
	r, err := run(options{quick: true, out: out, bin: bin, command: "go test ./benchmarks/cmd/bench", log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}

	for _, f := range rulesets.Families {
		if !slices.ContainsFunc(r.Cost, func(c benchmarks.CostResult) bool { return c.Family == f.String() && c.NsPkt > 0 }) {
			t.Errorf("no per-packet cost of %s", f)
		}
	}
	if !slices.ContainsFunc(r.Cost, func(c benchmarks.CostResult) bool { return c.N == 0 && c.NsPkt > 0 }) {
		t.Error("no floor cost")
	}
	if !slices.ContainsFunc(r.Memory, func(m benchmarks.MemoryResult) bool { return m.N > 0 && m.ProgBytes > 0 && m.MapBytes > 0 }) {
		t.Error("no memory figure of a generated ruleset")
	}
	for _, c := range benchmarks.Contenders(bin) {
		if !slices.ContainsFunc(r.Throughput, func(t benchmarks.ThroughputResult) bool { return t.Contender == c.Name && t.Error == "" && t.PPS > 0 }) {
			t.Errorf("%s forwarded no packets in any case", c.Name)
		}
		if c.Name == "none" {
			continue // no tool to load with
		}
		if !slices.ContainsFunc(r.Load, func(l benchmarks.LoadResult) bool { return l.Contender == c.Name && l.Error == "" && l.Ms > 0 }) {
			t.Errorf("no load time of %s", c.Name)
		}
		if !slices.ContainsFunc(r.Update, func(u benchmarks.UpdateResult) bool { return u.Contender == c.Name && u.Error == "" && u.Ms > 0 }) {
			t.Errorf("no update time of %s", c.Name)
		}
	}

	js, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back benchmarks.Results
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if !reflect.DeepEqual(&back, r) {
		t.Error("results.json does not read back as the run's results")
	}
	md, err := os.ReadFile(filepath.Join(out, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	plots := regexp.MustCompile(`\]\(plots/([^)]+\.png)\)`).FindAllStringSubmatch(string(md), -1)
	if len(plots) < 3 {
		t.Errorf("RESULTS.md shows %d plots, want cost, throughput and load at least", len(plots))
	}
	for _, p := range plots {
		f, err := os.Open(filepath.Join(out, "plots", p[1]))
		if err != nil {
			t.Error(err)
			continue
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", p[1], err)
		}
		f.Close()
	}
	if t.Failed() {
		t.Logf("progress:\n%s", log.String())
	}
}
