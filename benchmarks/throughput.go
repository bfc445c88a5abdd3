package benchmarks

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/internal/pktgen"
	"github.com/bpftables/bpftables/rulesets"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

// ThroughputOptions say what MeasureThroughput measures. The zero value
// of each field is a sensible default, except Bin, which is required.
type ThroughputOptions struct {
	// Bin is the bpftables binary the bpftables contenders run.
	Bin string
	// Families and Sizes are the generated rulesets, each family at each
	// size; nil means every family, and 10,000 rules.
	Families []rulesets.Family
	Sizes    []int
	// Duration is how long the client sends to each contender in each
	// round; zero means 2 s.
	Duration time.Duration
	// Rounds is how many times each contender takes its turn; zero
	// means 3.
	Rounds int
	// Contenders names the contenders to run; nil means all. none is run
	// whether named or not: every ratio is to it.
	Contenders []string
	// Log receives a line per measurement, for progress; nil discards.
	Log io.Writer
}

// probeFlows is how many probe flows a generated ruleset's traffic is drawn
// from, before those the ruleset or the routing would drop are left out:
// enough that every rule class of the families is searched, few enough
// that the Go evaluator judges them in a moment at 10,000 rules.
const probeFlows = 1024

// throughputSeed is the seed of the generated rulesets, the same in every
// run so runs compare.
const throughputSeed = 1

// MeasureThroughput forwards generated traffic through each contender in
// a client - firewall - server topology of its own and reports the
// packets per second that reach the server, for each family and size.
//
// The traffic of a case is the generated ruleset's probe packets, as
// 64-byte frames from the client, less those the ruleset drops (the Go
// evaluator judges them as the FORWARD chain would) and those the
// firewall would not route to the server: every contender then forwards
// the same packets, and its count at the server measures the same work.
// Rounds interleave the contenders (A B C … A B C …); each figure is the
// median of the rounds. A contender that cannot load a case's ruleset, or
// does not run where its name says, has its Error set and the case goes
// on without it. On another error it returns the cases measured so far.
// It needs root.
func MeasureThroughput(o ThroughputOptions) ([]ThroughputResult, error) {
	if o.Bin == "" {
		return nil, fmt.Errorf("throughput: no bpftables binary")
	}
	if o.Families == nil {
		o.Families = rulesets.Families
	}
	if o.Sizes == nil {
		o.Sizes = []int{10000}
	}
	if o.Duration == 0 {
		o.Duration = 2 * time.Second
	}
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	contenders, err := pick(o.Bin, o.Contenders)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	top, err := nettest.BuildTopology("bpft-tput-" + hex.EncodeToString(b[:]))
	if err != nil {
		return nil, err
	}
	defer top.Close()
	r := &rig{top: top, bin: o.Bin, contenders: contenders}
	var results []ThroughputResult
	for _, f := range o.Families {
		for _, n := range o.Sizes {
			rs, err := r.measure(f, n, o)
			if err != nil {
				return results, fmt.Errorf("throughput %s %d: %w", f, n, err)
			}
			results = append(results, rs...)
		}
	}
	return results, nil
}

// pick returns the named contenders, in Contenders' order, with none.
func pick(bin string, names []string) ([]Contender, error) {
	all := Contenders(bin)
	if names == nil {
		return all, nil
	}
	for _, name := range names {
		if _, ok := ContenderNamed(bin, name); !ok {
			return nil, fmt.Errorf("throughput: no contender %q", name)
		}
	}
	var cs []Contender
	for _, c := range all {
		if c.Name == "none" || slices.Contains(names, c.Name) {
			cs = append(cs, c)
		}
	}
	return cs, nil
}

// rig is a topology whose firewall the contenders take turns in.
type rig struct {
	top        *nettest.Topology
	bin        string
	contenders []Contender
}

// measure runs one case: the family's ruleset of n rules, every
// contender, o.Rounds rounds.
func (r *rig) measure(f rulesets.Family, n int, o ThroughputOptions) ([]ThroughputResult, error) {
	g := rulesets.GenerateIn(f, n, throughputSeed, probeFlows, "FORWARD")
	frames, err := r.forwarded(g)
	if err != nil {
		return nil, err
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("the ruleset forwards none of the %d probe flows", probeFlows)
	}
	fmt.Fprintf(o.Log, "throughput %s %d: %d of %d probe flows forwarded\n", f, n, len(frames), probeFlows)
	gen, err := r.generator(frames)
	if err != nil {
		return nil, err
	}
	defer gen.Close()
	results := make([]ThroughputResult, len(r.contenders))
	sent := make([][]float64, len(r.contenders))
	for i, c := range r.contenders {
		results[i] = ThroughputResult{Family: f.String(), N: n, Contender: c.Name, Flows: len(frames)}
	}
	for round := 0; round < o.Rounds; round++ {
		for i, c := range r.contenders {
			res := &results[i]
			if res.Error != "" {
				continue
			}
			m, err := r.run(c, g, gen, o.Duration)
			var le *loadError
			if errors.As(err, &le) {
				res.Error = le.Error()
				fmt.Fprintf(o.Log, "throughput %s %d %s: %v\n", f, n, c.Name, err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			res.Rounds = append(res.Rounds, m.arrivedPPS())
			res.Hook = m.hook
			sent[i] = append(sent[i], m.sentPPS())
			fmt.Fprintf(o.Log, "throughput %s %d round %d %-15s sent %9.0f pps, at the server %9.0f pps %s\n",
				f, n, round+1, c.Name, m.sentPPS(), m.arrivedPPS(), m.hook)
		}
	}
	for i := range results {
		if results[i].Error != "" {
			results[i].Rounds = nil
			continue
		}
		results[i].PPS = Median(results[i].Rounds)
		results[i].SentPPS = Median(sent[i])
	}
	none := results[slices.IndexFunc(results, func(t ThroughputResult) bool { return t.Contender == "none" })]
	for i := range results {
		if results[i].Error == "" && none.PPS > 0 {
			results[i].Ratio = results[i].PPS / none.PPS
		}
	}
	return results, nil
}

// forwarded returns the frames of the generated probe packets that the
// firewall forwards to the server: routed there, and accepted by the
// FORWARD chain of the ruleset as the Go evaluator judges it.
func (r *rig) forwarded(g *rulesets.Generated) ([][]byte, error) {
	rs, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(g.Rules), iptables.RestoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("parse the generated ruleset: %w", err)
	}
	var frames [][]byte
	for _, s := range g.Packets {
		if !r.routed(s.Src, s.Dst) {
			continue
		}
		frame, err := pktgen.Frame(r.top.ClientLink.MAC, r.top.FirewallClientLink.MAC, s)
		if err != nil {
			return nil, err
		}
		// Judge the bytes that are sent, as they arrive.
		p, err := packet.Parse(frame[14:])
		if err != nil {
			return nil, err
		}
		p.InIface, p.OutIface = r.top.FirewallClientLink.Name, r.top.FirewallServerLink.Name
		if eval.Evaluate(rs, "filter", translator.Forward, p, eval.Options{}).Verdict == translator.Accept {
			frames = append(frames, frame)
		}
	}
	return frames, nil
}

// routed reports whether the firewall forwards a packet from src to dst
// arriving from the client to the server. The kernel drops martian
// addresses (ip_route_input_slow in net/ipv4/route.c) and a source that
// is one of the firewall's own (fib_validate_source); the firewall
// delivers what is for itself, sends back what is for the client's link,
// and finds no neighbour on the server's link but the server.
func (r *rig) routed(src, dst netip.Addr) bool {
	martian := func(a netip.Addr) bool {
		b := a.As4()
		return b[0] == 0 || b[0] == 127 || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	fw := []netip.Addr{r.top.FirewallClientLink.IPv4.Addr(), r.top.FirewallServerLink.IPv4.Addr()}
	switch {
	case martian(src) || martian(dst) || slices.Contains(fw, src) || slices.Contains(fw, dst):
		return false
	case r.top.ClientLink.IPv4.Contains(dst):
		return false
	case r.top.ServerLink.IPv4.Contains(dst):
		return dst == r.top.ServerLink.IPv4.Addr()
	}
	return true
}

// generator opens the packet generator on the client's link.
func (r *rig) generator(frames [][]byte) (*pktgen.Generator, error) {
	var gen *pktgen.Generator
	err := r.top.Client.Within(func() error {
		var err error
		gen, err = pktgen.Open(r.top.ClientLink.Name, frames)
		return err
	})
	return gen, err
}

// loadError is a contender's failure to load a ruleset: a figure of the
// report, not a failure of the run.
type loadError struct{ err error }

func (e *loadError) Error() string { return e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// measurement is one contender's turn.
type measurement struct {
	sent, arrived uint64
	elapsed       time.Duration
	// hook is where bpftables runs on the firewall's client-side link,
	// as its status reports it.
	hook string
}

func (m measurement) sentPPS() float64    { return float64(m.sent) / m.elapsed.Seconds() }
func (m measurement) arrivedPPS() float64 { return float64(m.arrived) / m.elapsed.Seconds() }

// settle is how long run waits after the last frame is sent before it
// counts: a frame is forwarded in the softirq its send raises, but one in
// a veth's XDP ring waits for the NAPI poll.
const settle = 20 * time.Millisecond

// run gives the firewall to one contender: it clears every contender's
// state, so that nothing another left behind judges too, loads this one,
// sends for d and counts, and clears it again.
func (r *rig) run(c Contender, g *rulesets.Generated, gen *pktgen.Generator, d time.Duration) (measurement, error) {
	var m measurement
	if err := r.clear(); err != nil {
		return m, err
	}
	if err := c.Load(r.top.Firewall, g); err != nil {
		return m, &loadError{err}
	}
	hook, err := r.hook(c)
	if err != nil {
		return m, &loadError{err}
	}
	m.hook = hook
	before, err := r.arrived()
	if err != nil {
		return m, err
	}
	start := time.Now()
	if m.sent, err = gen.Send(d); err != nil {
		return m, err
	}
	m.elapsed = time.Since(start)
	time.Sleep(settle)
	after, err := r.arrived()
	if err != nil {
		return m, err
	}
	m.arrived = after - before
	return m, c.Clear(r.top.Firewall)
}

// clear clears every contender's state in the firewall. iptables-legacy's
// filter table stays, empty and accepting: x_tables removes a table from a
// namespace only when the namespace goes. When iptables-legacy is a
// contender the first clear makes the table, so every turn of the run,
// none's included, passes its FORWARD hook alike (a cost we could not
// tell from the noise of a shared 2-core VM).
func (r *rig) clear() error {
	for _, c := range r.contenders {
		if err := c.Clear(r.top.Firewall); err != nil {
			return fmt.Errorf("clear %s: %w", c.Name, err)
		}
	}
	return nil
}

// bpftablesHooks are the hooks bpftables status must show on the
// firewall's client-side link once a bpftables contender has loaded: the
// flag that asks for XDP must really get XDP.
var bpftablesHooks = map[string]string{
	"bpftables-tc":  "ingress",
	"bpftables-xdp": "xdp",
}

// hook checks that a bpftables contender runs where its name says and
// returns the hooks bpftables status shows on the firewall's client-side
// link; other contenders have none.
func (r *rig) hook(c Contender) (string, error) {
	want, ok := bpftablesHooks[c.Name]
	if !ok {
		return "", nil
	}
	out, err := r.top.Firewall.Command(r.bin, "status").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("bpftables status: %w: %s", err, out)
	}
	// "  eth0 (3)         egress tcx, xdp xdp-native"
	prefix := fmt.Sprintf("%s (%d)", r.top.FirewallClientLink.Name, r.top.FirewallClientLink.Index)
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
		if !ok {
			continue
		}
		hooks := strings.TrimSpace(rest)
		for _, h := range strings.Split(hooks, ", ") {
			if strings.HasPrefix(h, want+" ") {
				return hooks, nil
			}
		}
		return "", fmt.Errorf("%s loaded, but bpftables status shows %s at %s", c.Name, hooks, prefix)
	}
	return "", fmt.Errorf("bpftables status does not show %s:\n%s", prefix, out)
}

// arrived returns the IPv4 packets the server has received: Ip
// InReceives of its network namespace, counted as ip_rcv takes a packet
// from the link, before the server drops ours (not for it; it does not
// forward). The link's rx_packets would be as cheap, but it also counts
// the firewall's IPv6 MLD reports, sent on their own schedule after the
// links come up.
func (r *rig) arrived() (uint64, error) {
	var n uint64
	err := r.top.Server.Within(func() error {
		// thread-self: the counters of this thread's namespace, not the
		// process's.
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		n, err = snmpCounter(string(b), "Ip", "InReceives")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.top.Server.Name, err)
	}
	return n, nil
}

// snmpCounter returns a counter of /proc/net/snmp, where each group is a
// line of names and a line of values, both starting with "Group:".
func snmpCounter(snmp, group, name string) (uint64, error) {
	var names []string
	for _, line := range strings.Split(snmp, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != group+":" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		i := slices.Index(names, name)
		if i < 0 || i >= len(fields) {
			break
		}
		return strconv.ParseUint(fields[i], 10, 64)
	}
	return 0, fmt.Errorf("no %s %s in /proc/net/snmp", group, name)
}

// Median returns the median of xs, the mean of the middle two for an even
// count; 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
