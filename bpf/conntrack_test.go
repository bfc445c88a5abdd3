package bpf_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/internal/rulegen"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/conntrack"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// statefulRulesets are the rulesets the sequences run against: the
// stateful firewall most rulesets begin with, and rules that test every
// state, inverted or not, on every hook.
var statefulRulesets = []string{`*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -p tcp -m tcp --dport 22 -m state --state NEW -j ACCEPT
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT
-A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i eth0 -m conntrack --ctstate NEW -j ACCEPT
-A OUTPUT -p tcp -m tcp --dport 23 -j DROP
COMMIT
`, `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:ct - [0:0]
-A INPUT -j ct
-A INPUT -m conntrack ! --ctstate NEW,ESTABLISHED -j DROP
-A INPUT -p udp -m state --state NEW -m udp --sport 7 -j DROP
-A FORWARD -j ct
-A FORWARD -m state ! --state ESTABLISHED -p tcp -j DROP
-A OUTPUT -j ct
-A OUTPUT -m conntrack --ctstate NEW -p icmp -j DROP
-A OUTPUT -m conntrack --ctstate NEW -p ipv6-icmp -j DROP
-A ct -m conntrack --ctstate INVALID
-A ct -m conntrack --ctstate NEW
-A ct -m conntrack --ctstate ESTABLISHED
-A ct -m conntrack --ctstate RELATED
-A ct -m conntrack --ctstate UNTRACKED
-A ct -m conntrack --ctstate SNAT,DNAT
COMMIT
`, `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctdir REPLY --ctproto udp -j DROP
-A INPUT -m conntrack --ctstate ESTABLISHED --ctorigdstport 22 -j ACCEPT
-A INPUT -m conntrack ! --ctorigsrcport 1000:1001 --ctproto tcp -j DROP
-A FORWARD -m conntrack --ctorigsrcport 1000:1001 ! --ctproto tcp -j DROP
-A FORWARD -m conntrack --ctstate RELATED --ctdir ORIGINAL -j DROP
-A FORWARD -m conntrack --ctdir REPLY --ctorigdstport 2048 -j DROP
-A OUTPUT -m conntrack --ctproto 47 -j DROP
-A OUTPUT -m conntrack --ctdir REPLY ! --ctorigdstport 53 -j DROP
-A OUTPUT -m conntrack --ctstatus ASSURED -j DROP
-A INPUT -m conntrack --ctstate ESTABLISHED --ctrepldstport 0:255 -j DROP
-A INPUT -m conntrack --ctreplsrcport 1000:1001 -j ACCEPT
-A FORWARD -m conntrack --ctrepldstport 33024:33279 -j DROP
-A OUTPUT -m conntrack ! --ctstatus CONFIRMED -p udp -j DROP
-A OUTPUT -m conntrack --ctstate ESTABLISHED ! --ctstatus SEEN_REPLY -j DROP
COMMIT
`}

// flowGen makes packet sequences of a few endpoints, so that flows meet
// again: connections opened, answered, closed and reopened, queries,
// replies, errors about earlier packets.
type flowGen struct {
	r    *rand.Rand
	fam  translator.Family
	sent []*packet.Packet // earlier packets, for errors to quote
}

func (g *flowGen) addr() netip.Addr {
	n := byte(1 + g.r.Intn(3))
	if g.fam == translator.IPv6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: n})
	}
	return netip.AddrFrom4([4]byte{10, 0, 0, n})
}

func (g *flowGen) port() uint16 { return []uint16{22, 53, 7, 1000, 1001}[g.r.Intn(5)] }

func (g *flowGen) packet() *packet.Packet {
	s := packet.Spec{Src: g.addr(), Dst: g.addr()}
	icmp := uint8(packet.ProtoICMP)
	if g.fam == translator.IPv6 {
		icmp = packet.ProtoICMPv6
	}
	switch n := g.r.Intn(12); {
	case n < 5:
		s.Proto = packet.ProtoTCP
		s.SrcPort, s.DstPort = g.port(), g.port()
		s.TCPFlags = []uint8{packet.SYN, packet.SYN, packet.SYN | packet.ACK, packet.ACK, packet.ACK, packet.ACK | packet.PSH,
			packet.FIN | packet.ACK, packet.RST, packet.RST | packet.ACK, 0, packet.SYN | packet.FIN, packet.ACK | packet.URG}[g.r.Intn(12)]
	case n < 8:
		s.Proto = packet.ProtoUDP
		s.SrcPort, s.DstPort = g.port(), g.port()
	case n < 10:
		s.Proto = icmp
		s.ICMPID = uint16(g.r.Intn(2))
		if g.fam == translator.IPv6 {
			s.ICMPType = []uint8{128, 129, 128, 129, 135, 136, 139, 140, 150}[g.r.Intn(9)]
		} else {
			s.ICMPType = []uint8{8, 0, 8, 0, 13, 14, 9, 17}[g.r.Intn(8)]
		}
	case n < 11 && len(g.sent) > 0:
		// an error about an earlier packet, from its destination or a
		// router, to its source
		quoted := g.sent[g.r.Intn(len(g.sent))]
		s = packet.Spec{Src: quoted.Dst, Dst: quoted.Src, Proto: icmp, ICMPType: 3, ICMPCode: 3, Payload: quoted.Data}
		if g.r.Intn(3) == 0 {
			s.Src = g.addr()
		}
		if g.fam == translator.IPv6 {
			s.ICMPType, s.ICMPCode = 1, 4
		}
		if len(s.Payload) > 28+20*int(g.fam) && g.r.Intn(4) == 0 {
			s.Payload = s.Payload[:g.r.Intn(len(s.Payload))] // cut short
		}
	default:
		s.Proto = 47
	}
	p := s.Build()
	g.sent = append(g.sent, p)
	if len(g.sent) > 20 {
		g.sent = g.sent[1:]
	}
	return p
}

// TestConntrackAgreesWithEvaluator runs seeded random packet sequences
// through stateful rulesets compiled to BPF and through the evaluator
// with the conntrack model, packet by packet: the state each packet gets,
// the verdict and the counters must agree, so the connection table must
// evolve the same way (including entries a dropped NEW packet must not
// make, and looped-back packets that must not advance their connection).
func TestConntrackAgreesWithEvaluator(t *testing.T) {
	h := newHarness(t)
	seqs, length := 40, 120
	if testing.Short() {
		seqs = 12
	}
	states := map[packet.CTState]int{}
	verdicts := map[bool]int{}
	names := ifaceNames()
	names[1] = "lo"                     // the loopback device's index: its packets were tracked on the way out
	kinds := map[plan.SegmentKind]int{} // segments with state tests
	connMatched := 0                    // packets matched by rules with tests on the connection's fields
	for seed := int64(0); seed < int64(seqs); seed++ {
		fam := translator.IPv4
		if seed%2 == 1 {
			fam = translator.IPv6
		}
		// the fixed rulesets, then random ones (the generator's stateless
		// rules, some with a state match) over segments of every kind
		var text string
		var rg *rulegen.Gen
		opts := plan.Options{}
		if seed < int64(2*len(statefulRulesets)) {
			text = statefulRulesets[seed/2]
		} else {
			rg = rulegen.New(5000+seed, fam)
			text = withStates(rg, fam, rg.Ruleset([]int{10, 40, 150}[seed%3]))
			switch seed % 4 {
			case 1:
				opts = plan.Options{BlockTests: 4}
			case 2, 3:
				opts = plan.Options{BVMinRun: 8, BVChunk: 64}
			}
		}
		rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(text), iptables.RestoreOptions{})
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, text)
		}
		p, err := plan.Build(rs, "filter", opts)
		if errors.Is(err, plan.ErrTooDeep) {
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !p.Conntrack() {
			t.Fatalf("seed %d: the plan does not track connections", seed)
		}
		for _, c := range p.Chains {
			for _, sg := range c.Segments {
				for _, r := range sg.Rules {
					for _, tt := range append(append([]plan.Test(nil), r.Tests...), sg.Common...) {
						if tt.Field == plan.FieldCtState {
							kinds[sg.Kind]++
						}
					}
				}
			}
		}
		if seed < 2 {
			// the XDP entry program tracks connections too: it must load
			x, err := bpf.Generate(p, bpf.XDP)
			if err != nil {
				t.Fatal(err)
			}
			xg, err := h.d.Load(x)
			if err != nil {
				t.Fatalf("seed %d: XDP: %+v", seed, err)
			}
			xg.Close()
		}
		gen, err := h.swapIn(p, names)
		if err != nil {
			t.Fatalf("seed %d: %+v", seed, err)
		}
		clearMap(t, h.d.CT)
		table := conntrack.NewTable(0)
		g := &flowGen{r: rand.New(rand.NewSource(seed)), fam: fam}
		for i := 0; i < length; i++ {
			hook := []translator.Hook{translator.Input, translator.Forward, translator.Output}[g.r.Intn(3)]
			var pk *packet.Packet
			if rg != nil && g.r.Intn(2) == 0 {
				pk = rg.Packet(hook)
				if pk.PktType == packet.Broadcast {
					pk.PktType = packet.Multicast // see TestProgramsAgreeWithEvaluator
				}
			} else {
				pk = g.packet()
				switch hook {
				case translator.Input:
					pk.InIface = "eth0"
				case translator.Forward:
					pk.InIface, pk.OutIface = []string{"eth0", "eth1"}[g.r.Intn(2)], "eth1"
				case translator.Output:
					pk.OutIface = "eth1"
				}
			}
			pk.SrcMAC = []byte{2, 0, 0, 0, 0, 7}
			index := func(name string) uint32 {
				if name == "lo" {
					return 1
				}
				return ifindexes[name]
			}
			loop := hook == translator.Output && g.r.Intn(3) == 0
			if loop {
				pk.OutIface = "lo"
			}
			check := func(hook translator.Hook) bool {
				t.Helper()
				table.Now = monotonic(t) // the datapath's clock
				want := eval.Evaluate(rs, "filter", hook, pk, eval.Options{Conntrack: table})
				vals := plan.Extract(pk, fam, p.Ifaces)
				judged, err := p.Judge(hook, vals)
				if err != nil {
					t.Fatal(err)
				}
				got := h.runOn(gen, hook, pk, index(pk.InIface), index(pk.OutIface))
				gotState := got.pkt[bpf.OffCtState]
				wantState := vals[plan.FieldCtState][0]
				wantDrop := want.Verdict == translator.Drop
				if gotState != wantState || got.drop != wantDrop || fmt.Sprint(got.counters) != fmt.Sprint(sorted(judged.Counters)) {
					t.Fatalf("seed %d packet %d (%s in %q out %q, %s -> %s proto %d flags %#x icmp %d sport %d dport %d): state %#x drop %v counters %v, want state %#x drop %v counters %v\n%s",
						seed, i, hook, pk.InIface, pk.OutIface, pk.Src, pk.Dst, pk.Proto, pk.TCPFlags, pk.ICMPType, pk.SrcPort, pk.DstPort, gotState, got.drop, got.counters, wantState, wantDrop, sorted(judged.Counters), text)
				}
				states[pk.CT.State]++
				verdicts[wantDrop]++
				for _, c := range judged.Counters {
					if c < len(p.Rules) && testsConnection(p.Rules[c]) {
						connMatched++
						break
					}
				}
				return wantDrop
			}
			if drop := check(hook); loop && !drop {
				// the packet comes back in through the loopback device
				lo := *pk
				lo.InIface, lo.OutIface = "lo", ""
				pk = &lo
				check(translator.Input)
			}
			if i%8 == 7 || i == length-1 {
				if msg := compareTables(t, h.d.CT, table); msg != "" {
					t.Fatalf("seed %d after packet %d: the connection tables differ: %s", seed, i, msg)
				}
			}
		}
		gen.Close()
	}
	t.Logf("states: %v; verdicts (drop): %v; state tests by segment kind: %v", states, verdicts, kinds)
	t.Logf("%d packets matched rules that test the connection's direction, protocol, addresses or ports", connMatched)
	if connMatched == 0 {
		t.Error("no packet matched a rule that tests the connection's fields")
	}
	if kinds[plan.Linear] == 0 || kinds[plan.BitVector] == 0 {
		t.Error("state tests no longer run in linear and bit-vector segments")
	}
	for _, s := range []packet.CTState{packet.CTNew, packet.CTEstablished, packet.CTRelated, packet.CTInvalid, packet.CTUntracked} {
		if states[s] == 0 {
			t.Errorf("no packet had the state %#x", s)
		}
	}
}

// TestConntrackUDPStream: a UDP flow with a reply that lasts two seconds
// becomes a stream (120 s, ASSURED) in the datapath as in the model, and
// a TCP connection that completes its handshake is ASSURED.
func TestConntrackUDPStream(t *testing.T) {
	h := newHarness(t)
	gen, rs := h.loadRuleset(translator.IPv4, statefulRulesets[2])
	clearMap(t, h.d.CT)
	table := conntrack.NewTable(0)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	send := func(s packet.Spec) packet.CTState {
		t.Helper()
		pk := s.Build()
		pk.SrcMAC, pk.InIface, pk.OutIface = []byte{2, 0, 0, 0, 0, 7}, "eth0", "eth1"
		table.Now = monotonic(t)
		want := eval.Evaluate(rs, "filter", translator.Forward, pk, eval.Options{Conntrack: table})
		got := h.runOn(gen, translator.Forward, pk, ifindexes["eth0"], ifindexes["eth1"])
		if got.drop != (want.Verdict == translator.Drop) || got.pkt[bpf.OffCtState] != plan.CTStateBits(pk.CT.State) {
			t.Fatalf("%s -> %s: drop %v state %#x, want %v %#x", pk.Src, pk.Dst, got.drop, got.pkt[bpf.OffCtState], want.Verdict == translator.Drop, plan.CTStateBits(pk.CT.State))
		}
		if msg := compareTables(t, h.d.CT, table); msg != "" {
			t.Fatalf("the connection tables differ: %s", msg)
		}
		return pk.CT.State
	}
	udp := packet.Spec{Src: a, Dst: b, Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 5001}
	reply := packet.Spec{Src: b, Dst: a, Proto: packet.ProtoUDP, SrcPort: 5001, DstPort: 5000}
	send(udp)
	send(reply)
	send(udp)
	syn := packet.Spec{Src: a, Dst: b, Proto: packet.ProtoTCP, SrcPort: 6000, DstPort: 22, TCPFlags: packet.SYN}
	send(syn)
	send(packet.Spec{Src: b, Dst: a, Proto: packet.ProtoTCP, SrcPort: 22, DstPort: 6000, TCPFlags: packet.SYN | packet.ACK})
	send(packet.Spec{Src: a, Dst: b, Proto: packet.ProtoTCP, SrcPort: 6000, DstPort: 22, TCPFlags: packet.ACK})
	time.Sleep(2100 * time.Millisecond)
	send(reply)
	send(udp)
	for k, e := range table.Live() {
		if e.Status&conntrack.StatusAssured == 0 {
			t.Errorf("%+v is not ASSURED", k)
		}
	}
}

// testsConnection reports whether a rule tests its connection's fields.
func testsConnection(r *plan.Rule) bool {
	for _, t := range r.Tests {
		switch t.Field {
		case plan.FieldCtDir, plan.FieldCtStatus, plan.FieldCtProto, plan.FieldCtOrigSrc, plan.FieldCtOrigDst,
			plan.FieldCtOrigSport, plan.FieldCtOrigDport, plan.FieldCtReplSport, plan.FieldCtReplDport:
			return true
		}
	}
	return false
}

// withStates adds a state match to about a third of the generator's
// rules: every state, --ctstate or --state, inverted or not, and
// conntrack's options on the connection (direction, protocol,
// addresses of the flow generator's hosts, original ports).
func withStates(g *rulegen.Gen, fam translator.Family, text string) string {
	lines := strings.Split(text, "\n")
	pick := func(s ...string) string { return s[g.R.Intn(len(s))] }
	host := func() string {
		if fam == translator.IPv6 {
			return pick("2001:db8::1", "2001:db8::2", "2001:db8::/126", "2001:db8::3/128")
		}
		return pick("10.0.0.1", "10.0.0.2", "10.0.0.0/30", "10.0.0.3/32")
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, "-A ") || g.R.Intn(3) != 0 {
			continue
		}
		name, rest, _ := strings.Cut(l[3:], " ")
		inv := func() string { return pick("", "! ") }
		var m string
		if g.R.Intn(2) == 0 {
			st := pick("NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED", "NEW,ESTABLISHED", "RELATED,ESTABLISHED", "INVALID,UNTRACKED", "SNAT", "DNAT,NEW")
			m = " -m conntrack " + inv() + "--ctstate " + st
			if !strings.Contains(st, "NAT") && g.R.Intn(2) == 0 {
				m = " -m state " + inv() + "--state " + st
			}
		} else {
			// options on the connection, with a state that leaves out
			// packets without one, or none
			m = " -m conntrack"
			if g.R.Intn(2) == 0 {
				m += " --ctstate " + pick("NEW", "ESTABLISHED", "RELATED", "NEW,ESTABLISHED,RELATED")
			}
			used := map[int]bool{}
			for n := 1 + g.R.Intn(2); n > 0; n-- {
				opt := g.R.Intn(9)
				if used[opt] {
					continue
				}
				used[opt] = true
				switch opt {
				case 0:
					m += " --ctdir " + pick("ORIGINAL", "REPLY")
				case 1:
					m += " " + inv() + "--ctproto " + pick("tcp", "udp", "icmp", "ipv6-icmp", "47")
				case 2:
					m += " " + inv() + "--ctorigsrc " + host()
				case 3:
					m += " " + inv() + "--ctorigdst " + host()
				case 4:
					m += " " + inv() + "--ctreplsrc " + host() + " " + inv() + "--ctrepldst " + host()
				case 5:
					m += " " + inv() + "--ctorigsrcport " + pick("22", "53", "1000:1001", "0", "7")
				case 7:
					m += " " + inv() + pick("--ctreplsrcport ", "--ctrepldstport ") + pick("22", "53", "1000:1001", "0:255", "33024:33279")
				case 6:
					m += " " + inv() + "--ctstatus " + pick("NONE", "SEEN_REPLY", "ASSURED", "CONFIRMED", "EXPECTED", "SEEN_REPLY,ASSURED")
				default:
					m += " " + inv() + "--ctorigdstport " + pick("22", "53", "1000:1001", "2048", "32768:33023")
				}
			}
		}
		lines[i] = "-A " + name + m + " " + rest
	}
	return strings.Join(lines, "\n")
}

// compareTables holds the datapath's connection table to the model's:
// the same live connections, with the same TCP state and status, and
// the same time left within a second (the model's clock stands still).
func compareTables(tb testing.TB, m *ebpf.Map, table *conntrack.Table) string {
	tb.Helper()
	now := monotonic(tb)
	table.Now = now
	got := map[[40]byte][24]byte{}
	var k [40]byte
	var v [24]byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		if time.Duration(binary.NativeEndian.Uint64(v[:])) > now {
			got[k] = v
		}
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	want := table.Live()
	var diffs []string
	for key, e := range want {
		var kb [40]byte
		copy(kb[:16], key.Src[:])
		copy(kb[16:32], key.Dst[:])
		binary.BigEndian.PutUint16(kb[32:], key.Sport)
		binary.BigEndian.PutUint16(kb[34:], key.Dport)
		kb[36], kb[37] = key.Proto, key.Family
		v, ok := got[kb]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("missing %+v", key))
			continue
		}
		delete(got, kb)
		left := time.Duration(binary.NativeEndian.Uint64(v[:])) - now
		wantLeft := e.Expires - table.Now
		if v[8] != e.TCPState || v[9] != e.Status || left > wantLeft+time.Second || left < wantLeft-time.Second {
			diffs = append(diffs, fmt.Sprintf("%+v: state %d status %#x %v left, want %d %#x %v", key, v[8], v[9], left, e.TCPState, e.Status, wantLeft))
		}
	}
	for kb := range got {
		diffs = append(diffs, fmt.Sprintf("extra %x", kb))
	}
	return strings.Join(diffs, "; ")
}

// monotonic is the clock bpf_ktime_get_ns reads.
func monotonic(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// clearMap empties a hash map.
func clearMap(tb testing.TB, m *ebpf.Map) {
	tb.Helper()
	var keys [][]byte
	var k []byte
	it := m.Iterate()
	var v []byte
	for it.Next(&k, &v) {
		keys = append(keys, append([]byte(nil), k...))
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil {
			tb.Fatal(err)
		}
	}
}

func sorted(c []int) []int {
	out := append([]int(nil), c...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestConntrackPressure floods a small connection table with new flows,
// four times its size: two established flows (one busy, one idle since
// the start) keep their entries, the flood's oldest flows lose theirs,
// its newest keep them, and the fill level reads (nearly) full. The
// kernel's LRU keeps entries looked up again on an active list that a
// flood of new, once-used entries does not reach, so established flows
// outlast new ones.
func TestConntrackPressure(t *testing.T) {
	nettest.RequireRoot(t)
	// one CPU's LRU lists, as a steady flow would see: the thread, and
	// the test runs on it, stay on the CPU it is on
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	var c [2]uint32 // getcpu's cpu and node
	if _, _, errno := unix.Syscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&c[0])), 0, 0); errno != 0 {
		t.Fatal(errno)
	}
	one.Set(int(c[0]))
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &all)
	const size = 1024
	d, err := bpf.NewDatapathWith(bpf.DatapathOptions{ConntrackSize: size}, bpf.TC)
	if err != nil {
		nettest.Skip(t, "BPF is not available: %v", err)
	}
	t.Cleanup(d.Close)
	h := &harness{tb: t, d: d, prog: d.Hooks[bpf.HookSpec{Point: bpf.Ingress, L2: 14}]}
	gen, _ := h.loadRuleset(translator.IPv4, statefulRulesets[0])
	client, server := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.9.0.1")
	udp := func(src, dst netip.Addr, sport, dport uint16) *packet.Packet {
		pk := packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: sport, DstPort: dport}.Build()
		pk.SrcMAC = []byte{2, 0, 0, 0, 0, 7}
		return pk
	}
	// flows from the client, through FORWARD from eth0; their replies
	// come back from eth1
	open := func(sport uint16) {
		t.Helper()
		if r := h.runOn(gen, translator.Forward, udp(client, server, sport, 53), ifindexes["eth0"], ifindexes["eth1"]); r.drop {
			t.Fatalf("new flow from port %d dropped", sport)
		}
	}
	replyPasses := func(sport uint16) bool {
		t.Helper()
		r := h.runOn(gen, translator.Forward, udp(server, client, 53, sport), ifindexes["eth1"], ifindexes["eth0"])
		return !r.drop
	}
	open(1)
	open(2)
	if !replyPasses(1) || !replyPasses(2) {
		t.Fatal("replies of tracked flows are dropped")
	}
	for i := 0; i < 4*size; i++ {
		open(uint16(1000 + i))
		if i%64 == 0 && !replyPasses(1) {
			t.Fatalf("the busy flow lost its entry after %d new flows", i)
		}
	}
	if !replyPasses(1) {
		t.Error("the busy flow lost its entry")
	}
	if !replyPasses(2) {
		t.Error("the established flow idle since the start lost its entry to new flows")
	}
	if replyPasses(1000) {
		t.Error("the flood's first flow kept its entry through 4 table sizes of new flows")
	}
	if !replyPasses(1000 + 4*size - 1) {
		t.Error("the flood's last flow has no entry")
	}
	fill, err := bpf.ReadConntrackFill(d.CT)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fill level after the flood: %+v", fill)
	// the LRU keeps up to 128 free entries per CPU in reserve
	if fill.Size != size || fill.Entries < size-128*runtime.NumCPU() || fill.Entries > size || fill.Live != fill.Entries {
		t.Errorf("fill level %+v, want a full table of %d live entries", fill, size)
	}
}

// BenchmarkConntrack measures the per-packet cost of connection tracking
// (BPF_PROG_TEST_RUN, the hook program and the generation): a stateless
// rule against the same decision made by state, for a packet of a known
// connection in each direction (the reply direction looks up twice).
func BenchmarkConntrack(b *testing.B) {
	h := newHarness(b)
	client, server := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.9.0.1")
	query := packet.Spec{Src: client, Dst: server, Proto: packet.ProtoUDP, SrcPort: 1000, DstPort: 53}.Build()
	reply := packet.Spec{Src: server, Dst: client, Proto: packet.ProtoUDP, SrcPort: 53, DstPort: 1000}.Build()
	for _, c := range []struct{ name, rules string }{
		{"stateless", "-A FORWARD -p udp -m udp --dport 53 -j ACCEPT\n-A FORWARD -p udp -m udp --sport 53 -j ACCEPT\n"},
		{"conntrack", "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\n"},
	} {
		h.loadRuleset(translator.IPv4, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"+c.rules+"COMMIT\n")
		if err := h.d.Config.Put(uint32(0), bpf.Config{ForceHook: uint32(translator.Forward) + 1, ForceIn: 101, ForceOut: 102}); err != nil {
			b.Fatal(err)
		}
		for _, dir := range []struct {
			name string
			pk   *packet.Packet
		}{{"original", query}, {"reply", reply}} {
			b.Run(c.name+"/"+dir.name, func(b *testing.B) {
				frame := packet.Ethernet([6]byte{2, 0, 0, 0, 0, 7}, [6]byte{}, dir.pk.Data)
				// the connection exists: the query was accepted once
				if _, _, err := h.prog.Benchmark(packet.Ethernet([6]byte{2, 0, 0, 0, 0, 7}, [6]byte{}, query.Data), 1, nil); err != nil {
					b.Fatal(err)
				}
				ret, d, err := h.prog.Benchmark(frame, b.N, b.ResetTimer)
				if err != nil {
					b.Fatal(err)
				}
				if int32(ret) != -1 {
					b.Fatalf("the packet was not accepted: %d", int32(ret))
				}
				b.ReportMetric(float64(d.Nanoseconds()), "ns/packet")
			})
		}
	}
}
