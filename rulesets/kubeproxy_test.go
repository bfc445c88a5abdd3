package rulesets

import (
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/corpus"
)

// corpusServices are two Services of kube-proxy's TestOverallIPTablesRules
// and TestOverallNFTablesRules (in the corpus): svc1 with one endpoint,
// svc4 with two.
func corpusServices() *kubeCluster {
	ep := netip.MustParseAddrPort
	return &kubeCluster{services: []*kubeService{
		{namespace: "ns1", name: "svc1", clusterIP: netip.MustParseAddr("172.30.0.41"), port: 80, endpoints: []netip.AddrPort{ep("10.180.0.1:80")}},
		{namespace: "ns4", name: "svc4", clusterIP: netip.MustParseAddr("172.30.0.44"), port: 80, endpoints: []netip.AddrPort{ep("10.180.0.4:80"), ep("10.180.0.5:80")}},
	}}
}

func readCorpus(tb testing.TB, name string) map[string]bool {
	tb.Helper()
	b, err := os.ReadFile(corpus.Path(tb, "rulesets", "kube-proxy", name))
	if err != nil {
		tb.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[l] = true
	}
	return lines
}

// TestKubeProxyIptablesLayout: the rules the family writes for the
// corpus's Services are the rules kube-proxy's own test expects, chain
// names (hashes) included.
func TestKubeProxyIptablesLayout(t *testing.T) {
	want := readCorpus(t, "iptables-restore-TestOverallIPTablesRules.v4.txt")
	c := corpusServices()
	chains := append(kubeFilterChains(), c.natChains(c.services)...)
	for _, ch := range chains {
		if !want[":"+ch.name+" - [0:0]"] {
			t.Errorf("chain %s is not in kube-proxy's dump", ch.name)
		}
		for _, r := range ch.rules {
			line := "-A " + ch.name + " " + r
			// Without nfacct counters kube-proxy leaves the match out.
			if line == "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP" {
				continue
			}
			if strings.HasPrefix(line, "-A KUBE-SERVICES ") && strings.Contains(line, "svc4") {
				continue // the dump's svc4 has an external IP besides
			}
			if !want[line] {
				t.Errorf("not in kube-proxy's dump: %s", line)
			}
		}
	}
}

// TestKubeProxyNFTLayout: the commands the family writes for the corpus's
// Services are the ones kube-proxy's nftables test expects, chain names
// included, besides the flushes of the chains a sync rewrites, which the
// expected ruleset does not show.
func TestKubeProxyNFTLayout(t *testing.T) {
	want := readCorpus(t, "nft-transaction-TestOverallNFTablesRules.v4.nft")
	c := corpusServices()
	var b strings.Builder
	for _, s := range c.services {
		s.writeNFT(&b, true)
	}
	setup := fmt.Sprintf(kubeNFTSetup, "172.30.0.0/16", "192.168.0.2")
	for _, line := range strings.Split(setup+b.String(), "\n") {
		if line != "" && !strings.HasPrefix(line, "flush chain ") && !want[line] {
			t.Errorf("not in kube-proxy's transaction: %s", line)
		}
	}
}

// TestKubeProxyUpdate: the update moves one endpoint of the middle
// Service, and only that: its KUBE-SVC chain changes in one jump, to a
// KUBE-SEP chain that DNATs to an address no endpoint had.
func TestKubeProxyUpdate(t *testing.T) {
	for _, n := range []int{1, 10, 1000} {
		g := GenerateIn(KubeProxy, n, 1, 1, "FORWARD")
		c := newKubeCluster(rand.New(rand.NewSource(1)), n)
		s := c.services[middle(n)-1]
		before, after := ruleLines(g.Rules, s.svcChain()), ruleLines(g.Update, s.svcChain())
		if len(before) != 1+KubeEndpoints || len(after) != len(before) {
			t.Fatalf("n=%d: %s has %d rules, %d after the update", n, s.svcChain(), len(before), len(after))
		}
		for i := range before {
			if changed := before[i] != after[i]; changed != (i == len(before)-1) {
				t.Errorf("n=%d: %s rule %d: %q, after the update %q", n, s.svcChain(), i, before[i], after[i])
			}
		}
		sep := after[len(after)-1][strings.LastIndex(after[len(after)-1], "-j ")+3:]
		dnat := ruleLines(g.Update, sep)
		if len(dnat) != 2 || !strings.Contains(dnat[1], "-j DNAT --to-destination ") {
			t.Fatalf("n=%d: new endpoint chain %s: %q", n, sep, dnat)
		}
		to := dnat[1][strings.LastIndex(dnat[1], " ")+1:]
		if strings.Contains(g.Rules, "--to-destination "+to+"\n") {
			t.Errorf("n=%d: the update's endpoint %s was already one", n, to)
		}
	}
}

// ruleLines returns the rules of a chain in restore text.
func ruleLines(text, chain string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if rule, ok := strings.CutPrefix(l, "-A "+chain+" "); ok {
			out = append(out, rule)
		}
	}
	return out
}
