package benchmarks

import (
	"strings"
	"testing"

	"github.com/bpftables/bpftables/rulesets"
)

// TestMeasureUpdate changes a small ruleset of every family with every
// contender's tool; MeasureUpdate checks each change is in force, so a
// change that did not take effect is an Error. bpftables must refuse the
// kube-proxy- and Docker-shaped rulesets, and nothing else.
func TestMeasureUpdate(t *testing.T) {
	bin := bpftablesBin(t)
	res, err := MeasureUpdate(LoadOptions{Bin: bin, Sizes: []int{10, 100}, Rounds: 1, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(rulesets.All) * len(restoreTools(bin)); len(res) != want {
		t.Fatalf("%d results, want %d (every family and contender)", len(res), want)
	}
	for _, r := range res {
		if refused(r.Family, r.Contender) {
			if !strings.Contains(r.Error, "not yet supported in the datapath") || r.Ms != 0 {
				t.Errorf("%s %d %s: %.2f ms, error %q, want bpftables' refusal", r.Family, r.N, r.Contender, r.Ms, r.Error)
			}
			continue
		}
		if r.Error != "" || r.N != 100 || r.Change == "" || len(r.Rounds) != 1 || r.Ms <= 0 {
			t.Errorf("%s %d %s %q: %.2f ms, rounds %v, error %q", r.Family, r.N, r.Contender, r.Change, r.Ms, r.Rounds, r.Error)
		}
	}
}

func TestUpdateSize(t *testing.T) {
	for _, c := range []struct {
		sizes []int
		want  int
	}{
		{nil, 10000},
		{[]int{10, 100}, 100},
		{[]int{10, 100, 1000, 10000, 50000}, 10000},
		{[]int{50000}, 10000},
	} {
		if got := updateSize(c.sizes); got != c.want {
			t.Errorf("updateSize(%v) = %d, want %d", c.sizes, got, c.want)
		}
	}
}

func TestTookEffect(t *testing.T) {
	ipt, nft := restoreTool{contender: "iptables-legacy"}, restoreTool{contender: "nftables", nft: true}
	before := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -s 10.0.0.1/32 -j DROP\n-A FORWARD -s 10.0.0.2/32 -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n"
	replaced := strings.Replace(before, "10.0.0.2/32", "10.0.0.3/32", 1)
	withOld := strings.Replace(before, ":OUTPUT ACCEPT [0:0]\n", ":OUTPUT ACCEPT [0:0]\n:KUBE-OLD - [0:0]\n", 1)
	for _, c := range []struct {
		name          string
		tool          restoreTool
		update        string
		before, after string
		ok            bool
	}{
		{"replaced", ipt, "*filter\n-R FORWARD 2 -s 10.0.0.3 -p tcp --dport 22 -j DROP\nCOMMIT\n", before, replaced, true},
		{"inserted", ipt, "*filter\n-I FORWARD 1 -p udp -j ACCEPT\nCOMMIT\n", before, strings.Replace(before, "-A FORWARD -s 10.0.0.1", "-A FORWARD -p udp -j ACCEPT\n-A FORWARD -s 10.0.0.1", 1), true},
		{"unchanged", ipt, "*filter\n-R FORWARD 2 -s 10.0.0.3 -p tcp --dport 22 -j DROP\nCOMMIT\n", before, before, false},
		{"another rule", ipt, "*filter\n-R FORWARD 2 -s 10.0.0.3 -p tcp --dport 23 -j DROP\nCOMMIT\n", before, replaced, false},
		{"another position", ipt, "*filter\n-R FORWARD 1 -s 10.0.0.3 -p tcp --dport 22 -j DROP\nCOMMIT\n", before, replaced, false},
		{"a chain left", ipt, "*filter\n-X KUBE-OLD\n-A FORWARD -j ACCEPT\nCOMMIT\n", withOld, strings.Replace(withOld, "COMMIT", "-A FORWARD -j ACCEPT\nCOMMIT", 1), false},
		{"a chain deleted", ipt, "*filter\n-X KUBE-OLD\nCOMMIT\n", withOld, before, true},
		{"nft changed", nft, "", "table ip bench {}", "table ip bench { set s {} }", true},
		{"nft unchanged", nft, "", "table ip bench {}", "table ip bench {}", false},
	} {
		err := tookEffect(c.tool, c.update, c.before, c.after)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok %v", c.name, err, c.ok)
		}
	}
}
