package bpf_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/rulesets"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/plan"
)

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

// BenchmarkGenerate generates the programs and maps of 10k and 50k rules
// of each generated family, 20k rules only linear code runs, and 5k user
// chains. Generate needs no kernel.
func BenchmarkGenerate(b *testing.B) {
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
			rs, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(in.text()), iptables.RestoreOptions{})
			if err != nil {
				b.Fatal(err)
			}
			p, err := plan.Build(rs, "filter", plan.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bpf.Generate(p, bpf.TC); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
