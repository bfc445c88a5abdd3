package nettest

import (
	"fmt"
	"testing"
)

// TestEmptyFirewall holds KernelDrops to the kernel: through a firewall
// with no rules, a packet of the odd corpus arrives exactly when
// KernelDrops has no reason for it to be lost, and every reason is borne
// out by some packet.
func TestEmptyFirewall(t *testing.T) {
	RequireRoot(t)
	topo := NewTopology(t)
	used := map[string]bool{}
	for _, hook := range Hooks {
		for _, ipv6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/%s", hook, familyName(ipv6)), func(t *testing.T) {
				pkts := oddPackets(hook, ipv6)
				res := topo.Probe(t, hook, pkts)
				for i, p := range pkts {
					why := KernelDrops(hook, p)
					used[why] = true
					switch {
					case why == "" && !res.Passed(i):
						t.Errorf("packet %d (%s) did not arrive; KernelDrops knows no reason", i, Describe(p))
					case why != "" && res.Passed(i):
						t.Errorf("packet %d (%s) arrived; KernelDrops says %q", i, Describe(p), why)
					case res.Copies[i] > 1:
						t.Errorf("packet %d (%s) arrived %d times", i, Describe(p), res.Copies[i])
					}
				}
			})
		}
	}
	for _, r := range kernelDrops {
		if !used[r.why] {
			t.Errorf("no packet of the corpus tests %q", r.why)
		}
	}
}
