package e2e

import (
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/internal/rulegen"
	"github.com/bpftables/bpftables/translator"
)

// pool are the addresses generated rules and packets use: the topology's
// own, and some beyond the server that FORWARD and OUTPUT reach by the
// firewall's default route.
func pool(f translator.Family) []netip.Addr {
	var out []netip.Addr
	for _, l := range []nettest.Link{nettest.ClientLink, nettest.FirewallClientLink, nettest.FirewallServerLink, nettest.ServerLink} {
		out = append(out, l.Addr(f))
	}
	if f == translator.IPv6 {
		return append(out, netip.MustParseAddr("2001:db8:3::7"), netip.MustParseAddr("2001:db8:4::9"))
	}
	return append(out, netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.18.0.9"))
}

// probePackets generates n packets for the hook that a probe can observe,
// biased towards the ruleset's values.
func probePackets(g *rulegen.Gen, hook translator.Hook, n int) [][]byte {
	var out [][]byte
	for tries := 0; len(out) < n && tries < 50*n; tries++ {
		p := g.Packet(hook)
		if nettest.Unobservable(hook, p.Data) == "" {
			out = append(out, p.Data)
		}
	}
	return out
}

// TestSameVerdictsAsIptablesLegacy loads random rulesets (every stateless
// match bpftables compiles, user chains, RETURN and goto) into
// iptables-legacy in one firewall and into bpftables in another, sends the
// same real packets - odd TCP flags, ICMP types, fragments, truncated
// headers, lengths - through both at FORWARD, INPUT and OUTPUT, and
// requires the same verdict for every packet. Every third ruleset runs the
// ingress hooks at XDP (--xdp).
func TestSameVerdictsAsIptablesLegacy(t *testing.T) {
	nettest.RequireRoot(t)
	rulesets, perHook := 40, 120
	if testing.Short() {
		rulesets = 8
	}
	total := 0
	for seed := int64(0); seed < int64(rulesets); seed++ {
		fam := translator.IPv4
		if seed%2 == 1 {
			fam = translator.IPv6
		}
		g := rulegen.New(1000+seed, fam)
		g.Pool = pool(fam)
		text := g.Ruleset([]int{5, 20, 60, 150}[seed%4])
		v4, v6 := text, ""
		if fam == translator.IPv6 {
			v4, v6 = "", text
		}
		// Every third ruleset runs its ingress hooks at XDP.
		var flags []string
		if seed%3 == 2 {
			flags = []string{"--xdp"}
		}
		legacy := nettest.NewTopology(t, nettest.IptablesLegacy(v4, v6))
		ours := nettest.NewTopology(t, Bpftables(v4, v6, flags...))
		for _, hook := range nettest.Hooks {
			pkts := probePackets(g, hook, perHook)
			want := legacy.Probe(t, hook, pkts)
			got := ours.Probe(t, hook, pkts)
			nettest.RequireSameVerdicts(t, want, got)
			total += len(pkts)
		}
		if t.Failed() {
			t.Fatalf("seed %d (%s %v) disagrees with iptables-legacy; ruleset:\n%s", 1000+seed, fam, flags, text)
		}
	}
	t.Logf("%d packets on %d rulesets judged alike by iptables-legacy and bpftables", total, rulesets)
}
