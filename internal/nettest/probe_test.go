package nettest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
	"golang.org/x/sys/unix"
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
		for _, f := range families {
			t.Run(fmt.Sprintf("%s/%s", hook, f), func(t *testing.T) {
				pkts := oddPackets(hook, f)
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

// TestInputObserverIsPastTheHook checks the claim the INPUT probe rests
// on: raw sockets get only what INPUT accepted. A packet socket on the
// firewall's veth, by contrast, sees every packet whatever INPUT decides,
// so it could not serve as the observer.
func TestInputObserverIsPastTheHook(t *testing.T) {
	RequireRoot(t)
	topo := NewTopology(t)
	var link *observer
	if err := topo.Firewall.Within(func() (err error) { link, err = watchLink(topo.FirewallClientLink.Index, unix.ETH_P_ALL); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(link.fd) })
	var pkts [][]byte
	for _, f := range families {
		for _, p := range []pkt{tcp(22, packet.SYN), udp(53), icmp(8), icmp(128), with(udp(53), fragment(8, false))} {
			if s := p(input, f); Unobservable(input, s.Bytes()) == "" && KernelDrops(input, s.Bytes()) == "" {
				pkts = append(pkts, s.Bytes())
			}
		}
	}
	for _, policy := range []string{"ACCEPT", "DROP"} {
		rules := filterRuleset("-P INPUT " + policy)
		IptablesLegacy(rules, rules)(t, topo)
		if err := link.reset(); err != nil {
			t.Fatal(err)
		}
		res := topo.Probe(t, input, pkts)
		seen := map[tagKey]bool{}
		if err := drain(link, func(k tagKey) { seen[k] = true }); err != nil {
			t.Fatal(err)
		}
		for i, p := range pkts {
			if !seen[keyOf(p, res.Tags[i])] {
				t.Errorf("policy %s: the firewall's packet socket missed packet %d (%s)", policy, i, Describe(p))
			}
			if res.Passed(i) != (policy == "ACCEPT") {
				t.Errorf("policy %s: packet %d (%s): %s", policy, i, Describe(p), res.verdict(i))
			}
		}
	}
}

// TestOutputDropIsEPERM checks that a packet netfilter drops in OUTPUT is
// reported dropped, with the EPERM its sender got.
func TestOutputDropIsEPERM(t *testing.T) {
	RequireRoot(t)
	topo := NewTopology(t, IptablesLegacy(filterRuleset("-A OUTPUT -p udp -j DROP"), ""))
	res := topo.Output(t, []packet.Spec{udp(53)(output, v4), tcp(53, packet.SYN)(output, v4)})
	if res.Passed(0) || !errors.Is(res.SendErrs[0], unix.EPERM) {
		t.Errorf("dropped packet: %s, send error %v; want drop, EPERM", res.verdict(0), res.SendErrs[0])
	}
	if !res.Passed(1) || res.SendErrs[1] != nil {
		t.Errorf("accepted packet: %s, send error %v", res.verdict(1), res.SendErrs[1])
	}
}

// TestCopiesCountedOnce checks attribution: a packet the firewall
// duplicates (TEE) counts two copies, and copies of an earlier probe's
// packets that arrive during a later probe of the same packets count for
// nothing there.
func TestCopiesCountedOnce(t *testing.T) {
	RequireRoot(t)
	tee := "*mangle\n-A FORWARD -p udp --dport 9 -j TEE --gateway " + ServerLink.IPv4.Addr().String() + "\nCOMMIT\n"
	topo := NewTopology(t, IptablesLegacy(tee, ""))
	specs := []packet.Spec{udp(9)(forward, v4), udp(53)(forward, v4), udp(53)(forward, v6),
		with(udp(53), ttl(1))(forward, v4)} // the kernel drops the last
	want := []int{2, 1, 1, 0}
	first := topo.Forward(t, specs)
	if !slices.Equal(first.Copies, want) {
		t.Fatalf("copies %v, want %v:\n%s", first.Copies, want, first)
	}
	// Probe again, and send the first probe's packets, tags and all, once
	// more in the middle of it: they arrive before its barrier.
	topo.testHookSent = func() error {
		for i, p := range first.Packets {
			if err := topo.sendClient(packet.Ethernet([6]byte(ClientLink.MAC), [6]byte(FirewallClientLink.MAC), withTag(p, first.Tags[i]))); err != nil {
				return err
			}
		}
		return nil
	}
	if second := topo.Forward(t, specs); !slices.Equal(second.Copies, want) {
		t.Errorf("copies with the first probe's packets sent again meanwhile %v, want %v", second.Copies, want)
	}
}

// TestLargeBatch probes thousands of packets of both families, some
// dropped: the barrier must come out behind all of them, and every verdict
// be exact.
func TestLargeBatch(t *testing.T) {
	RequireRoot(t)
	rules := filterRuleset("-A FORWARD -p udp --dport 3 -j DROP")
	topo := NewTopology(t, IptablesLegacy(rules, rules))
	var specs []packet.Spec
	for i := range 6000 {
		s := udp(uint16(i%7))(forward, families[i%2])
		s.Payload = make([]byte, i%1000)
		specs = append(specs, s)
	}
	res := topo.Forward(t, specs)
	for i, s := range specs {
		if want := s.DstPort != 3; res.Passed(i) != want || res.Copies[i] > 1 {
			t.Errorf("packet %d (%s): %s, want %s", i, Describe(res.Packets[i]), res.verdict(i), verdictName(want))
		}
	}
}
