package plan_test

import (
	"fmt"
	"strconv"
	"strings"
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

// BenchmarkBuild plans 10k and 50k rules of each generated family, 20k
// rules only linear code runs, and 5k user chains entered by lookup.
func BenchmarkBuild(b *testing.B) {
	type input struct {
		name string
		text func() string
	}
	var inputs []input
	for _, f := range rulesets.Families {
		for _, n := range []int{10000, 50000} {
			inputs = append(inputs, input{f.String() + "/" + strconv.Itoa(n/1000) + "k", func() string { return rulesets.Generate(f, n, 1, 1).Rules }})
		}
	}
	inputs = append(inputs, input{"linear/20k", func() string { return linearRules(20000) }}, input{"chains/5k", func() string { return userChains(5000) }})
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			rs := restore(b, translator.IPv4, in.text())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := plan.Build(rs, "filter", plan.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// linearRules is a FORWARD chain of n rules that only linear code runs.
func linearRules(n int) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "-A FORWARD -m mark --mark 0x%x/0xffff -m iprange --src-range 10.%d.%d.1-10.%d.%d.9 -j DROP\n", i+1, i/256%256, i%256, i/256%256, i%256)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// userChains is n user chains, each entered from INPUT by a hash lookup
// on the source address, as kube-proxy's services are.
func userChains(n int) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, ":SVC%d - [0:0]\n", i)
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "-A INPUT -s 10.%d.%d.1 -j SVC%d\n", i/256%256, i%256, i)
		fmt.Fprintf(&b, "-A SVC%d -p tcp --dport %d -j ACCEPT\n-A SVC%d -j RETURN\n", i, 1+i%60000, i)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}
