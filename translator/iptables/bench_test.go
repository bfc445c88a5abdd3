package iptables_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/rulesets"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
)

// BenchmarkRestore restores a generated ruleset of each family: the front
// end of a load (parse every rule line, then the table's load checks).
// Compare runs with benchstat; it reports, it asserts no time.
func BenchmarkRestore(b *testing.B) {
	for _, f := range rulesets.Families {
		for _, n := range []int{10000, 50000} {
			g := rulesets.Generate(f, n, 1, 1)
			b.Run(f.String()+"/"+strconv.Itoa(n/1000)+"k", func(b *testing.B) {
				b.SetBytes(int64(len(g.Rules)))
				b.ReportAllocs()
				empty := translator.NewRuleset(translator.IPv4)
				for b.Loop() {
					rs, err := iptables.Restore(empty, strings.NewReader(g.Rules), iptables.RestoreOptions{})
					if err != nil {
						b.Fatal(err)
					}
					if got := rs.Table("filter").Chain("INPUT"); len(got.Rules) != n {
						b.Fatalf("restored %d rules, want %d", len(got.Rules), n)
					}
				}
			})
		}
	}
}
