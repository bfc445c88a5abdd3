package benchmarks

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/internal/pktgen"
	"github.com/bpftables/bpftables/rulesets"
)

// bin is the bpftables binary TestMain builds, for the contenders that run
// it.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bpftables-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "bpftables")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bpftables/bpftables/cmd/bpftables").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bpftables: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireContenders skips (or fails, see nettest.Skip) unless the machine
// can run every contender.
func requireContenders(tb testing.TB) {
	tb.Helper()
	nettest.RequireRoot(tb)
	if err := LookPath(); err != nil {
		nettest.Skip(tb, "%v", err)
	}
}

// logWriter passes each line written to it to the test log.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// TestThroughput runs every contender at a small scale and checks that
// each produced figures. The traffic is only what the ruleset accepts, so
// each firewall, like none, forwards it.
func TestThroughput(t *testing.T) {
	requireContenders(t)
	sizes := []int{10, 100}
	results, err := MeasureThroughput(ThroughputOptions{
		Bin:      bin,
		Families: []rulesets.Family{rulesets.Mixed},
		Sizes:    sizes,
		Duration: 300 * time.Millisecond,
		Rounds:   1,
		Log:      logWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	contenders := Contenders(bin)
	if len(results) != len(sizes)*len(contenders) {
		t.Fatalf("%d results, want %d sizes × %d contenders", len(results), len(sizes), len(contenders))
	}
	for i, r := range results {
		c := contenders[i%len(contenders)]
		if r.Contender != c.Name || r.N != sizes[i/len(contenders)] || r.Family != "mixed" {
			t.Errorf("result %d is %s %d %s, want mixed %d %s", i, r.Family, r.N, r.Contender, sizes[i/len(contenders)], c.Name)
		}
		if r.Error != "" {
			t.Errorf("%s %d: %s", r.Contender, r.N, r.Error)
			continue
		}
		if r.PPS <= 0 || r.SentPPS <= 0 || r.Ratio <= 0 || len(r.Rounds) != 1 || r.Flows == 0 {
			t.Errorf("%s %d: no figures: %+v", r.Contender, r.N, r)
		}
		if want, ok := bpftablesHooks[r.Contender]; ok && !strings.Contains(r.Hook, want) {
			t.Errorf("%s %d: ran at %q", r.Contender, r.N, r.Hook)
		}
	}
}

// dropAll drops every forwarded packet, in both of the contenders'
// languages.
var dropAll = &rulesets.Generated{
	Family: rulesets.Blocklist,
	Chain:  "FORWARD",
	Rules:  "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
	NFT: "flush ruleset\ntable ip bench {\n\tchain forward {\n" +
		"\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n",
}

// TestThroughputDropAll sends traffic that a FORWARD policy of DROP
// refuses: nothing may reach the server through any firewall, and all of
// it without one. A contender that judged nothing, or judged at the wrong
// place, would let it through.
func TestThroughputDropAll(t *testing.T) {
	requireContenders(t)
	top := nettest.NewTopology(t)
	r := &rig{top: top, bin: bin, contenders: Contenders(bin)}
	var frames [][]byte
	for _, s := range rulesets.GenerateIn(rulesets.Blocklist, 10, 1, 64, "FORWARD").Packets {
		f, err := pktgen.Frame(top.ClientLink.MAC, top.FirewallClientLink.MAC, s)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	gen, err := r.generator(frames)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	for _, c := range r.contenders {
		m, err := r.run(c, dropAll, gen, 300*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		t.Logf("%-15s sent %d, at the server %d", c.Name, m.sent, m.arrived)
		switch {
		case m.sent == 0:
			t.Errorf("%s: nothing sent", c.Name)
		case c.Name == "none" && m.arrived == 0:
			t.Errorf("none: nothing forwarded of %d packets", m.sent)
		case c.Name != "none" && m.arrived != 0:
			t.Errorf("%s: %d of %d packets forwarded through a FORWARD policy of DROP", c.Name, m.arrived, m.sent)
		}
	}
}
