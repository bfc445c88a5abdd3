package benchmarks

import (
	"testing"

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
