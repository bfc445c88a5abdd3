package e2e

import (
	"math"
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// statisticRules split the client's forwarded UDP by nth counters: the
// first rule takes every third packet from the second on, the second
// drops every fourth of the rest that reaches it (its counter steps only
// for those), and random rules of probability 0 and 1 decide the rest
// as surely as iptables does. Only packets from the client's side
// (eth0) count, so nothing the hosts send back steps a counter.
const statisticRules = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i eth0 -p udp -m statistic --mode nth --every 3 --packet 1 -j ACCEPT
-A FORWARD -i eth0 -p udp -m udp --dport 1000:1999 -m statistic --mode nth ! --every 4 --packet 3 -j ACCEPT
-A FORWARD -i eth0 -p udp -m statistic --mode random --probability 0 -j ACCEPT
-A FORWARD -i eth0 -p udp -m udp --dport 2000:2999 -m statistic --mode random ! --probability 1 -j ACCEPT
-A FORWARD -i eth0 -p udp -m udp --dport 3000:3999 -m statistic --mode random --probability 1 -j ACCEPT
COMMIT
`

// TestStatisticNthAsIptablesLegacy sends the same UDP packets through
// the nth and certain random rules in iptables-legacy and in bpftables
// (tc; XDP for IPv4): each packet's verdict must be the same, which
// holds only if every counter steps exactly as the kernel's does.
func TestStatisticNthAsIptablesLegacy(t *testing.T) {
	nettest.RequireRoot(t)
	for _, fam := range []translator.Family{translator.IPv4, translator.IPv6} {
		src, _ := nettest.Endpoints(translator.Forward, fam)
		// beyond the server, which does not forward: nothing answers
		dst := netip.MustParseAddr("203.0.113.9")
		if fam == translator.IPv6 {
			dst = netip.MustParseAddr("2001:db8:9::9")
		}
		var specs []packet.Spec
		for i := 0; i < 60; i++ {
			specs = append(specs, packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: uint16(5000 + i), DstPort: uint16(1000 * (1 + i%4))})
		}
		pkts := nettest.Bytes(specs)
		v4, v6 := statisticRules, ""
		if fam == translator.IPv6 {
			v4, v6 = "", statisticRules
		}
		want := nettest.NewTopology(t, nettest.IptablesLegacy(v4, v6)).Probe(t, translator.Forward, pkts)
		passed := 0
		for i := range pkts {
			if want.Passed(i) {
				passed++
			}
		}
		if passed == 0 || passed == len(pkts) {
			t.Fatalf("%s: %d of %d packets pass iptables-legacy: the rules tell nothing", fam, passed, len(pkts))
		}
		setups := [][]string{nil}
		if fam == translator.IPv4 {
			setups = append(setups, []string{"--xdp"})
		}
		for _, flags := range setups {
			got := nettest.NewTopology(t, Bpftables(v4, v6, flags...)).Probe(t, translator.Forward, pkts)
			nettest.RequireSameVerdicts(t, want, got)
			if t.Failed() {
				t.Fatalf("%s %v: bpftables disagrees with iptables-legacy", fam, flags)
			}
		}
	}
}

// TestStatisticRandom sends 4,000 UDP packets through a rule that
// accepts with probability 0.5, in iptables-legacy and in bpftables.
// Each accepted count is binomial (n 4,000, p 0.5: mean 2,000, standard
// deviation 31.6); the bound is 6 standard deviations, which a fair
// draw exceeds with probability about 2e-9, so the test cannot fail by
// chance in practice, while a threshold off by a factor (a 32-bit
// compare of the 31-bit draw, say, giving 0.25) fails it surely.
func TestStatisticRandom(t *testing.T) {
	nettest.RequireRoot(t)
	const n, p = 4000, 0.5
	bound := 6 * math.Sqrt(n*p*(1-p))
	ruleset := `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i eth0 -p udp -m statistic --mode random --probability 0.5 -j ACCEPT
COMMIT
`
	src, _ := nettest.Endpoints(translator.Forward, translator.IPv4)
	dst := netip.MustParseAddr("203.0.113.9")
	specs := make([]packet.Spec, n)
	for i := range specs {
		// a new flow each
		specs[i] = packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: uint16(10000 + i), DstPort: 53}
	}
	pkts := nettest.Bytes(specs)
	for _, s := range []struct {
		name  string
		setup nettest.Setup
	}{
		{"iptables-legacy", nettest.IptablesLegacy(ruleset, "")},
		{"bpftables", Bpftables(ruleset, "")},
		{"bpftables --xdp", Bpftables(ruleset, "", "--xdp")},
	} {
		v := nettest.NewTopology(t, s.setup).Probe(t, translator.Forward, pkts)
		passed := 0
		for i := range pkts {
			if v.Passed(i) {
				passed++
			}
		}
		t.Logf("%s: %d of %d accepted", s.name, passed, n)
		if d := math.Abs(float64(passed) - n*p); d > bound {
			t.Errorf("%s: %d of %d accepted at probability %v: %.0f from the mean, beyond the bound of %.0f", s.name, passed, n, p, d, bound)
		}
	}
}
