package plan_test

import (
	"testing"

	"github.com/bpftables/bpftables/rulesets"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

func BenchmarkBuildMixed10k(b *testing.B) {
	g := rulesets.Generate(rulesets.Mixed, 10000, 1, 1)
	rs := restore(b, translator.IPv4, g.Rules)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := plan.Build(rs, "filter", plan.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
