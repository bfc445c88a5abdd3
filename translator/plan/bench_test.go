package plan_test

import (
	"strconv"
	"testing"

	"github.com/bpftables/bpftables/rulesets"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

func BenchmarkBuildBlocklist10k(b *testing.B) {
	g := rulesets.Generate(rulesets.Blocklist, 10000, 1, 1)
	rs := restore(b, translator.IPv4, g.Rules)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := plan.Build(rs, "filter", plan.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild plans 10k and 50k rules of each generated family.
func BenchmarkBuild(b *testing.B) {
	for _, f := range rulesets.Families {
		for _, n := range []int{10000, 50000} {
			g := rulesets.Generate(f, n, 1, 1)
			rs := restore(b, translator.IPv4, g.Rules)
			b.Run(f.String()+"/"+strconv.Itoa(n/1000)+"k", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := plan.Build(rs, "filter", plan.Options{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
