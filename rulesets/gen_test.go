package rulesets

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	_ "github.com/bpftables/bpftables/translator/xt"
)

// TestDeterministic: the same seed gives the same text and packets, in
// every form; another seed gives other rules.
func TestDeterministic(t *testing.T) {
	for _, f := range All {
		for _, n := range []int{1, 100} {
			a, b, c := GenerateIn(f, n, 7, 10, "FORWARD"), GenerateIn(f, n, 7, 10, "FORWARD"), GenerateIn(f, n, 8, 10, "FORWARD")
			for _, p := range []struct{ name, a, b string }{
				{"Rules", a.Rules, b.Rules}, {"NFT", a.NFT, b.NFT},
				{"Update", a.Update, b.Update}, {"NFTUpdate", a.NFTUpdate, b.NFTUpdate},
			} {
				if p.a != p.b {
					t.Errorf("%s n=%d: %s differs between two runs with one seed", f, n, p.name)
				}
			}
			for i := range a.Packets {
				if !bytes.Equal(a.Packets[i].Bytes(), b.Packets[i].Bytes()) {
					t.Errorf("%s n=%d: packet %d differs between two runs with one seed", f, n, i)
				}
			}
			if a.Rules == c.Rules {
				t.Errorf("%s n=%d: seeds 7 and 8 give the same rules", f, n)
			}
		}
	}
}

// TestRestoreAccepts: bpftables' own iptables-restore parser takes each
// family's Rules, then its Update on top with --noflush, and the update
// changes what the ruleset holds.
func TestRestoreAccepts(t *testing.T) {
	for _, f := range All {
		for _, n := range []int{1, 1000} {
			g := GenerateIn(f, n, 1, 1, "FORWARD")
			rs, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(g.Rules), iptables.RestoreOptions{})
			if err != nil {
				t.Fatalf("%s n=%d: Rules: %v", f, n, err)
			}
			updated, err := iptables.Restore(rs, strings.NewReader(g.Update), iptables.RestoreOptions{Noflush: true})
			if err != nil {
				t.Fatalf("%s n=%d: Update: %v\n%s", f, n, err, g.Update)
			}
			if save(t, rs) == save(t, updated) {
				t.Errorf("%s n=%d: Update %q changes nothing", f, n, g.UpdateName)
			}
		}
	}
}

func save(tb testing.TB, rs *translator.Ruleset) string {
	tb.Helper()
	var b strings.Builder
	if err := iptables.Save(&b, rs, iptables.SaveOptions{}); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}
