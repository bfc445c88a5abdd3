package bpf_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/internal/rulegen"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// logRig is a datapath of both kinds with one generation in force.
type logRig struct {
	d    *bpf.Datapath
	gen  *bpf.Generation
	fam  translator.Family
	tc   *ebpf.Program
	xdp  *ebpf.Program
	plan *plan.Plan
}

func newLogRig(tb testing.TB, opts bpf.DatapathOptions, fam translator.Family, rules string) *logRig {
	tb.Helper()
	nettest.RequireRoot(tb)
	d, err := bpf.NewDatapathWith(opts, bpf.TC, bpf.XDP)
	if err != nil {
		nettest.Skip(tb, "BPF is not available: %v", err)
	}
	tb.Cleanup(d.Close)
	rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(rules), iptables.RestoreOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := plan.Build(rs, "filter", plan.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	spec, err := bpf.Generate(p, bpf.TC, bpf.XDP)
	if err != nil {
		tb.Fatal(err)
	}
	gen, err := d.Load(spec)
	if err != nil {
		tb.Fatalf("load: %+v", err)
	}
	tb.Cleanup(gen.Close)
	if err := gen.SetIfaces(map[uint32]string{7: "eth7"}); err != nil {
		tb.Fatal(err)
	}
	if err := d.Swap(gen); err != nil {
		tb.Fatal(err)
	}
	return &logRig{d: d, gen: gen, fam: fam, plan: p,
		tc:  d.Hooks[bpf.HookSpec{Point: bpf.Ingress, L2: 14}],
		xdp: d.Hooks[bpf.HookSpec{Point: bpf.XDPIngress, L2: 14}]}
}

// run sends a frame through the tc or XDP hook as if it arrived on
// interface 7, judged in INPUT; it reports whether it was dropped.
func (r *logRig) run(tb testing.TB, xdp bool, frame []byte) bool {
	tb.Helper()
	if err := r.d.Config.Put(uint32(0), bpf.Config{ForceHook: uint32(translator.Input) + 1, ForceIn: 7}); err != nil {
		tb.Fatal(err)
	}
	prog := r.tc
	if xdp {
		prog = r.xdp
	}
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		tb.Fatalf("test run: %v", err)
	}
	if xdp {
		return ret == 1 // XDP_DROP
	}
	return int32(ret) == 2 // TC_ACT_SHOT
}

// events reads what the ring buffer holds.
func (r *logRig) events(tb testing.TB) []*bpf.LogEvent {
	tb.Helper()
	rd, err := ringbuf.NewReader(r.d.LogRing)
	if err != nil {
		tb.Fatal(err)
	}
	defer rd.Close()
	rd.SetDeadline(time.Now())
	var out []*bpf.LogEvent
	for {
		rec, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		ev, err := bpf.DecodeLogEvent(rec.RawSample)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, ev)
	}
}

func TestLogEvents(t *testing.T) {
	const rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A INPUT -p tcp -j LOG --log-prefix \"tcp: \" --log-level 6 --log-tcp-options\n" +
		"-A INPUT -p tcp --dport 22 -j DROP\n" +
		"-A INPUT -s 192.0.2.0/24 -p tcp --dport 23 -j DROP\n" +
		"-A INPUT -s 192.0.2.0/24 -p tcp --dport 24 -j DROP\n" +
		"-A INPUT -j NFLOG --nflog-group 5 --nflog-prefix all --nflog-size 40\n" +
		"COMMIT\n"
	r := newLogRig(t, bpf.DatapathOptions{}, translator.IPv4, rules)
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	smac, dmac := [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}
	for _, xdp := range []bool{false, true} {
		for _, tc := range []struct {
			name string
			spec packet.Spec
			drop bool
			want []plan.LogSpec // in order
		}{
			{"ssh", packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: 1000, DstPort: 22, TCPFlags: packet.SYN, ID: 5,
				TCPOptions: []byte{2, 4, 5, 0xb4}}, true, r.plan.Logs[:1]},
			{"http", packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: 1000, DstPort: 80, TCPFlags: packet.SYN, ID: 6},
				false, r.plan.Logs},
			{"udp", packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 53, DstPort: 53, ID: 7, Payload: []byte("x")},
				false, r.plan.Logs[1:]},
		} {
			ip := tc.spec.Bytes()
			frame := packet.Ethernet(smac, dmac, ip)
			if got := r.run(t, xdp, frame); got != tc.drop {
				t.Errorf("xdp=%v %s: dropped %v, want %v", xdp, tc.name, got, tc.drop)
			}
			evs := r.events(t)
			if len(evs) != len(tc.want) {
				t.Fatalf("xdp=%v %s: %d events, want %d", xdp, tc.name, len(evs), len(tc.want))
			}
			for i, ev := range evs {
				if ev.Spec != tc.want[i] {
					t.Errorf("xdp=%v %s event %d: rule %+v, want %+v", xdp, tc.name, i, ev.Spec, tc.want[i])
				}
				if ev.Family != translator.IPv4 || ev.Hook != translator.Input || ev.In != 7 || ev.Out != 0 || ev.Len != len(frame) {
					t.Errorf("xdp=%v %s event %d: family %v hook %v in %d out %d len %d", xdp, tc.name, i, ev.Family, ev.Hook, ev.In, ev.Out, ev.Len)
				}
				if !bytes.Equal(ev.MAC, frame[:14]) || !bytes.Equal(ev.Data, ip) {
					t.Errorf("xdp=%v %s event %d: captured %x %x, want %x %x", xdp, tc.name, i, ev.MAC, ev.Data, frame[:14], ip)
				}
			}
		}
	}
	// The LOG rule counts what it logs, and the packets go on.
	cs, err := r.gen.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]uint64{0: 4, 1: 2, 4: 4} {
		if cs[id].Packets != want {
			t.Errorf("rule %d counted %d packets, want %d", id+1, cs[id].Packets, want)
		}
	}
}

// TestLogCapturesLongPacketsInPart: a packet longer than an event holds
// is captured in its first LogCapture bytes, with its length.
func TestLogCapturesLongPacketsInPart(t *testing.T) {
	r := newLogRig(t, bpf.DatapathOptions{}, translator.IPv6,
		"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j LOG\nCOMMIT\n")
	ip := packet.Spec{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: packet.ProtoUDP,
		SrcPort: 1, DstPort: 2, Payload: make([]byte, 1000)}.Bytes()
	frame := packet.Ethernet([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}, ip)
	for _, xdp := range []bool{false, true} {
		r.run(t, xdp, frame)
		evs := r.events(t)
		if len(evs) != 1 {
			t.Fatalf("xdp=%v: %d events", xdp, len(evs))
		}
		ev := evs[0]
		if ev.Family != translator.IPv6 || ev.Len != len(frame) || !bytes.Equal(ev.Data, ip[:bpf.LogCapture-14]) {
			t.Errorf("xdp=%v: family %v len %d data %d bytes", xdp, ev.Family, ev.Len, len(ev.Data))
		}
	}
}

// TestLogDrops fills a ring buffer of one page without a reader: the
// events past what it holds are dropped and counted; the rate limiter
// then drops, and counts, all but its burst.
func TestLogDrops(t *testing.T) {
	r := newLogRig(t, bpf.DatapathOptions{LogBufferSize: 4096, LogRate: -1}, translator.IPv4,
		"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j LOG\nCOMMIT\n")
	frame := packet.Ethernet([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2},
		packet.Spec{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Proto: packet.ProtoICMP, ICMPType: 8}.Bytes())
	const sent = 40
	for i := 0; i < sent; i++ {
		r.run(t, i%2 == 1, frame)
	}
	full, rate, err := bpf.LogDrops(r.d.LogDrops)
	if err != nil {
		t.Fatal(err)
	}
	kept := len(r.events(t))
	// 4096 bytes hold 11 events of 352 bytes and their 8-byte headers
	if kept != 11 || full != sent-11 || rate != 0 {
		t.Errorf("kept %d events, dropped %d as the ring was full and %d over the rate; want 11, %d, 0", kept, full, rate, sent-11)
	}

	if err := bpf.SetLogLimit(r.d.LogRate, 3); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		r.run(t, false, frame)
	}
	full2, rate, err := bpf.LogDrops(r.d.LogDrops)
	if err != nil {
		t.Fatal(err)
	}
	if kept := len(r.events(t)); kept != 3 || rate != 5 || full2 != full {
		t.Errorf("under a burst of 3: kept %d, dropped %d over the rate and %d more as full; want 3, 5, 0", kept, rate, full2-full)
	}
}

// withLogRules adds a LOG rule before about one rule in two of a
// ruleset: the same matches, numbered prefixes.
func withLogRules(text string, r *rand.Rand) string {
	var b strings.Builder
	n := 0
	for _, l := range strings.SplitAfter(text, "\n") {
		if strings.HasPrefix(l, "-A ") && r.Intn(2) == 0 {
			m := strings.TrimSuffix(l, "\n")
			for _, t := range []string{" -j ", " -g "} {
				if i := strings.Index(m, t); i >= 0 {
					m = m[:i]
				}
			}
			n++
			fmt.Fprintf(&b, "%s -j LOG --log-prefix \"r%d \"\n", m, n)
		}
		b.WriteString(l)
	}
	return b.String()
}

// TestLogRulesAgreeWithEvaluator runs random rulesets with LOG rules
// among their rules: verdicts and counters agree with the evaluator as
// ever (a LOG rule counts and goes on), and the packet's events are the
// evaluator's LOG effects, in order, each with the packet's bytes.
func TestLogRulesAgreeWithEvaluator(t *testing.T) {
	h := newHarness(t)
	if h.d.LogRing == nil {
		t.Fatal("the datapath has no log ring buffer")
	}
	if err := bpf.SetLogRate(h.d.LogRate, 0); err != nil {
		t.Fatal(err)
	}
	rd, err := ringbuf.NewReader(h.d.LogRing)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	logged, several, cases := 0, 0, 0
	for seed := int64(0); seed < 24; seed++ {
		fam := translator.IPv4
		if seed%3 == 2 {
			fam = translator.IPv6
		}
		g := rulegen.New(5000+seed, fam)
		text := withLogRules(g.Ruleset([]int{5, 20, 60, 200}[seed%4]), rand.New(rand.NewSource(seed)))
		rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(text), iptables.RestoreOptions{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		p, err := plan.Build(rs, "filter", plan.Options{})
		if errors.Is(err, plan.ErrTooDeep) {
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		gen, err := h.swapIn(p, ifaceNames())
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for i := 0; i < 40; i++ {
			hook := []translator.Hook{translator.Input, translator.Forward, translator.Output}[i%3]
			pk := g.Packet(hook)
			if pk.SrcMAC == nil {
				pk.SrcMAC = []byte{2, 0, 0, 0, 0, 7}
			}
			if pk.PktType == packet.Broadcast {
				pk.PktType = packet.Multicast
			}
			want := eval.Evaluate(rs, "filter", hook, pk, eval.Options{})
			judged, err := p.Judge(hook, plan.Extract(pk, fam, p.Ifaces))
			if err != nil {
				t.Fatal(err)
			}
			got := h.run(gen, hook, pk)
			cases++
			wantCounters := append([]int(nil), judged.Counters...)
			sort.Ints(wantCounters)
			if got.drop != (want.Verdict == translator.Drop) || fmt.Sprint(got.counters) != fmt.Sprint(wantCounters) {
				t.Fatalf("seed %d packet %d: evaluator drop=%v counters %v; programs drop=%v counters %v\n%s",
					seed, i, want.Verdict == translator.Drop, wantCounters, got.drop, got.counters, text)
			}
			var wantPrefixes, gotPrefixes []string
			for _, e := range want.Effects {
				if e.Target == "LOG" {
					_, line, _ := strings.Cut(e.Detail, ">")
					prefix, _, _ := strings.Cut(line, "IN=")
					wantPrefixes = append(wantPrefixes, prefix)
				}
			}
			rd.SetDeadline(time.Now())
			for {
				rec, err := rd.Read()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				ev, err := bpf.DecodeLogEvent(rec.RawSample)
				if err != nil {
					t.Fatal(err)
				}
				gotPrefixes = append(gotPrefixes, ev.Spec.Prefix)
				if ev.Hook != hook || !bytes.Equal(ev.Data, pk.Data[:min(len(pk.Data), bpf.LogCapture-14)]) {
					t.Errorf("seed %d packet %d: event at %v with %d bytes, want %v and the packet's %d", seed, i, ev.Hook, len(ev.Data), hook, len(pk.Data))
				}
			}
			if fmt.Sprint(gotPrefixes) != fmt.Sprint(wantPrefixes) {
				t.Fatalf("seed %d packet %d (%s): logged %q, the evaluator %q\n%s", seed, i, hook, gotPrefixes, wantPrefixes, text)
			}
			logged += len(gotPrefixes)
			if len(gotPrefixes) > 1 {
				several++
			}
		}
		gen.Close()
	}
	t.Logf("%d packets, %d events, %d packets logged more than once", cases, logged, several)
	if logged < 100 || several < 10 { // seeded: 173 and 23
		t.Errorf("only %d events for %d packets, %d logged more than once: the LOG rules are rarely reached", logged, cases, several)
	}
}
