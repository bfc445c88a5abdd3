package benchmarks

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/rulesets"
	"github.com/bpftables/bpftables/translator/plan"
)

func BenchmarkLoadAllowlist10k(b *testing.B) {
	g := rulesets.Generate(rulesets.Allowlist, 10000, 1, 1)
	for i := 0; i < b.N; i++ {
		l, err := LoadRules(g.Rules, plan.Options{})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}

// BenchmarkLoad loads 10k and 50k rules of each generated family and
// reports, besides the time of the whole load, the mean time of each
// stage in ms (restore-ms, plan-ms, gen-ms, load-ms, swap-ms). The
// datapath a load goes into is made outside the timed part.
func BenchmarkLoad(b *testing.B) {
	for _, f := range rulesets.Families {
		for _, n := range []int{10000, 50000} {
			g := rulesets.Generate(f, n, 1, 1)
			b.Run(f.String()+"/"+strconv.Itoa(n/1000)+"k", func(b *testing.B) {
				var sum Stages
				var load time.Duration
				runs := 0
				b.ResetTimer()
				for b.Loop() {
					l, err := LoadRules(g.Rules, plan.Options{})
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					load += l.Load
					sum.Restore += l.Stages.Restore
					sum.Plan += l.Stages.Plan
					sum.Generate += l.Stages.Generate
					sum.Load += l.Stages.Load
					sum.Swap += l.Stages.Swap
					runs++
					l.Close()
					b.StartTimer()
				}
				ms := func(d time.Duration) float64 { return float64(d) / float64(runs) / 1e6 }
				b.ReportMetric(ms(load), "load-ms")
				b.ReportMetric(ms(sum.Restore), "restore-ms")
				b.ReportMetric(ms(sum.Plan), "plan-ms")
				b.ReportMetric(ms(sum.Generate), "gen-ms")
				b.ReportMetric(ms(sum.Load), "bpfload-ms")
				b.ReportMetric(ms(sum.Swap), "swap-ms")
			})
		}
	}
}

// TestMeasureLoad loads small rulesets of every family with every
// contender's tool: each must load (a time, no error) in every round.
func TestMeasureLoad(t *testing.T) {
	bin := bpftablesBin(t)
	res, err := MeasureLoad(LoadOptions{Bin: bin, Sizes: []int{10, 100}, Rounds: 1, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	want := len(rulesets.Families) * 2 * len(restoreTools(bin))
	if len(res) != want {
		t.Fatalf("%d results, want %d (every family, size and contender)", len(res), want)
	}
	for _, r := range res {
		if r.Error != "" || len(r.Rounds) != 1 || r.Ms <= 0 || len(r.ReloadRounds) != 1 || r.ReloadMs <= 0 {
			t.Errorf("%s %d %s: %.2f ms, rounds %v, reload %.2f ms, rounds %v, error %q", r.Family, r.N, r.Contender, r.Ms, r.Rounds, r.ReloadMs, r.ReloadRounds, r.Error)
		}
	}
}

// bpftablesBin builds the bpftables binary of this tree into the test's
// temporary directory, for a kernel test of the contenders: it skips (or
// fails, see nettest.Skip) without root or the other contenders' tools.
// Each test builds its own (the build cache makes it a link): the
// package has no TestMain of this file's to share one.
func bpftablesBin(t *testing.T) string {
	t.Helper()
	nettest.RequireRoot(t)
	if err := LookPath(); err != nil {
		nettest.Skip(t, "%v", err)
	}
	bin := filepath.Join(t.TempDir(), "bpftables")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bpftables/bpftables/cmd/bpftables").CombinedOutput(); err != nil {
		t.Fatalf("building bpftables: %v\n%s", err, out)
	}
	return bin
}

// testLog writes a benchmark's log lines to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestClearLegacy checks the iptables-legacy contender's Clear empties
// every table a ruleset used, nat and mangle too, and resets policies.
func TestClearLegacy(t *testing.T) {
	nettest.RequireTool(t, "iptables-legacy-restore")
	ns := nettest.NewNS(t)
	rules := "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-X - [0:0]\n-A PREROUTING -j KUBE-X\n-A KUBE-X -p tcp -j DNAT --to-destination 10.1.1.1:80\nCOMMIT\n" +
		"*mangle\n:FORWARD DROP [0:0]\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.1/32 -j DROP\nCOMMIT\n"
	if res := ns.Run(t, rules, "iptables-legacy-restore", "-w", "10"); res.Status != 0 {
		t.Fatalf("iptables-legacy-restore: %s", res.Stderr)
	}
	if err := clearLegacy(ns); err != nil {
		t.Fatal(err)
	}
	res := ns.Run(t, "", "iptables-legacy-save")
	for _, l := range strings.Split(res.Stdout, "\n") {
		if strings.HasPrefix(l, "-A ") || strings.Contains(l, "KUBE-X") || strings.Contains(l, " DROP ") {
			t.Errorf("left after clearing: %q", l)
		}
	}
	if !strings.Contains(res.Stdout, "*nat") || !strings.Contains(res.Stdout, "*mangle") {
		t.Fatalf("iptables-legacy-save shows no nat or mangle table:\n%s", res.Stdout)
	}
}
