package e2e

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// TestLimitBurstAsIptablesLegacy sends a burst of 20 UDP packets at once
// through `--limit 10/second --limit-burst 5` in iptables-legacy and in
// bpftables (tc, IPv4 and IPv6; XDP for IPv4). The bucket holds 5
// credits and gains one every 100 ms, so the kernel accepts the 5 it
// holds plus one per 100 ms the burst takes. Each count must be 5 plus
// at most the credits that can accrue while the probe runs, measured
// around it (the whole probe, longer than the burst itself, plus a
// jiffy either side for the tick boundaries): on an idle machine the
// probe takes a few ms and both accept exactly 5; on a loaded one the
// bound widens with the measured time, so the test cannot fail by
// timing. A second burst after a pause of 350 ms must get the credits
// gained in the pause, within the same kind of bounds.
func TestLimitBurstAsIptablesLegacy(t *testing.T) {
	nettest.RequireRoot(t)
	const burst, n = 5, 20
	const period = 100 * time.Millisecond // 10/second
	ruleset := `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i eth0 -p udp -m limit --limit 10/sec --limit-burst 5 -j ACCEPT
COMMIT
`
	for _, fam := range []translator.Family{translator.IPv4, translator.IPv6} {
		src, _ := nettest.Endpoints(translator.Forward, fam)
		dst := netip.MustParseAddr("203.0.113.9") // beyond the server: nothing answers
		v4, v6 := ruleset, ""
		if fam == translator.IPv6 {
			dst = netip.MustParseAddr("2001:db8:9::9")
			v4, v6 = "", ruleset
		}
		specs := make([]packet.Spec, n)
		for i := range specs {
			specs[i] = packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: uint16(7000 + i), DstPort: 53}
		}
		pkts := nettest.Bytes(specs)
		setups := []struct {
			name  string
			setup nettest.Setup
		}{
			{"iptables-legacy", nettest.IptablesLegacy(v4, v6)},
			{"bpftables", Bpftables(v4, v6)},
		}
		if fam == translator.IPv4 {
			setups = append(setups, struct {
				name  string
				setup nettest.Setup
			}{"bpftables --xdp", Bpftables(v4, v6, "--xdp")})
		}
		for _, s := range setups {
			topo := nettest.NewTopology(t, s.setup)
			start := time.Now()
			v := topo.Probe(t, translator.Forward, pkts)
			took := time.Since(start)
			passed := 0
			for i := range pkts {
				if v.Passed(i) {
					passed++
				}
			}
			// a jiffy is at most 10 ms (HZ 100); one either side
			accrued := int((took + 20*time.Millisecond) / period)
			t.Logf("%s %s: %d of %d accepted in %v (up to %d credits could accrue)", fam, s.name, passed, n, took, accrued)
			if passed < burst || passed > burst+accrued {
				t.Errorf("%s %s: %d of %d accepted in %v; the bucket holds %d and gains at most %d in that time", fam, s.name, passed, n, took, burst, accrued)
			}
			// the bucket's credits go to the first packets
			for i := 0; i < burst; i++ {
				if !v.Passed(i) {
					t.Errorf("%s %s: packet %d of the burst dropped", fam, s.name, i)
				}
			}
			// Steady state: after a pause the bucket has gained a credit
			// per 100 ms of it. The pause between the two bursts' packets
			// lies between the end of the first probe and the start of
			// the second, and their starts and ends; a jiffy either
			// side for the tick boundaries and the credit left over.
			end := time.Now()
			time.Sleep(350 * time.Millisecond)
			pkts2 := nettest.Bytes(specs)
			start2 := time.Now()
			v2 := topo.Probe(t, translator.Forward, pkts2)
			end2 := time.Now()
			passed2 := 0
			for i := range pkts2 {
				if v2.Passed(i) {
					passed2++
				}
			}
			// the bucket holds at most burst credits, however long the pause
			lo := min(burst, int((start2.Sub(end)-20*time.Millisecond)/period))
			hi := min(burst, int((end2.Sub(start)+20*time.Millisecond)/period)+1)
			t.Logf("%s %s: %d of %d accepted after the pause (between %d and %d)", fam, s.name, passed2, n, lo, hi)
			if passed2 < lo || passed2 > hi {
				t.Errorf("%s %s: %d of %d accepted %v to %v after the burst; the bucket gains one each %v: between %d and %d", fam, s.name, passed2, n, start2.Sub(end), end2.Sub(start), period, lo, hi)
			}
		}
	}
}
