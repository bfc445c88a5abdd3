package benchmarks

import (
	"testing"

	"github.com/bpftables/bpftables/rulesets"
)

// TestMeasureUpdate changes a small ruleset of every family with every
// contender's tool; MeasureUpdate checks each change is in the contender's
// save or list output, so a change that did not take effect is an Error.
func TestMeasureUpdate(t *testing.T) {
	bin := bpftablesBin(t)
	res, err := MeasureUpdate(LoadOptions{Bin: bin, Sizes: []int{10, 100}, Rounds: 1, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(rulesets.Families) * len(restoreTools(bin)); len(res) != want {
		t.Fatalf("%d results, want %d (every family and contender)", len(res), want)
	}
	for _, r := range res {
		if r.Error != "" || r.N != 100 || len(r.Rounds) != 1 || r.Ms <= 0 {
			t.Errorf("%s %d %s: %.2f ms, rounds %v, error %q", r.Family, r.N, r.Contender, r.Ms, r.Rounds, r.Error)
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
	before := "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 10.0.0.1/32 -j DROP\n-A FORWARD -s 10.0.0.2/32 -p tcp -m tcp --dport 22 -j DROP\nCOMMIT"
	replaced := "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 10.0.0.1/32 -j DROP\n-A FORWARD -s 10.0.0.3/32 -p tcp -m tcp --dport 22 -j DROP\nCOMMIT"
	for _, c := range []struct {
		name          string
		tool          restoreTool
		update        string
		before, after string
		ok            bool
	}{
		{"replaced", ipt, "-R FORWARD 2 -s 10.0.0.3/32 -p tcp --dport 22 -j DROP", before, replaced, true},
		{"inserted", ipt, "-I FORWARD 1 -s 10.0.0.3/32 -p tcp --dport 22 -j DROP", before, "*filter\n-A FORWARD -s 10.0.0.3/32 -p tcp -m tcp --dport 22 -j DROP\n" + before[9:], true},
		{"unchanged", ipt, "-R FORWARD 2 -s 10.0.0.3/32 -p tcp --dport 22 -j DROP", before, before, false},
		{"another rule", ipt, "-R FORWARD 2 -s 10.0.0.3/32 -p tcp --dport 23 -j DROP", before, replaced, false},
		{"rewritten as it was", ipt, "-A FORWARD -s 10.0.0.1/32 -j DROP\n-A FORWARD -s 10.0.0.3/32 -p tcp --dport 22 -j DROP", before, replaced, true},
		{"another chain", ipt, "-R INPUT 2 -s 10.0.0.3/32 -p tcp --dport 22 -j DROP", before, replaced, false},
		{"nft changed", nft, "", "table ip bench {}", "table ip bench { set s {} }", true},
		{"nft unchanged", nft, "", "table ip bench {}", "table ip bench {}", false},
	} {
		err := tookEffect(c.tool, c.update, c.before, c.after)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok %v", c.name, err, c.ok)
		}
	}
}
