package nettest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"golang.org/x/sys/unix"
)

// Hooks lists the hooks a probe observes: FORWARD (the client sends
// through the firewall, the server's veth watches), INPUT (the client sends
// to the firewall's addresses, raw sockets in the firewall watch) and OUTPUT
// (raw sockets in the firewall send, the server's veth watches).
// PREROUTING and POSTROUTING verdicts show too, folded into whichever of
// these the packet also crosses.
var Hooks = []translator.Hook{translator.Forward, translator.Input, translator.Output}

// MaxBatch is the most packets one probe carries: IPv4 tags are 16 bits.
const MaxBatch = 65535

// Verdicts is what one probe observed: which packets got through.
type Verdicts struct {
	Hook translator.Hook
	// Packets are the IP packets as the test gave them, before tagging.
	Packets [][]byte
	// Tags are the tags the packets carried: the IPv4 identification or
	// the IPv6 flow label.
	Tags []uint32
	// Copies counts, per packet, the copies the observer saw before the
	// probe ended: 0 for a dropped packet, 1 for one let through, more if
	// the firewall duplicated it.
	Copies []int
	// SendErrs holds, per packet, what the sending socket reported: nil,
	// or at OUTPUT EPERM (netfilter dropped it in OUTPUT) or ENOBUFS (a
	// queueing discipline or tc egress dropped it). Any other send error
	// fails the test instead.
	SendErrs []error
}

// Passed reports whether packet i got through.
func (r *Verdicts) Passed(i int) bool { return r.Copies[i] > 0 }

// String lists the packets with what happened to each, one a line.
func (r *Verdicts) String() string {
	var b strings.Builder
	for i, p := range r.Packets {
		fmt.Fprintf(&b, "%s %3d %-7s %s\n", r.Hook, i, r.verdict(i), Describe(p))
	}
	return b.String()
}

func (r *Verdicts) verdict(i int) string {
	switch {
	case r.Copies[i] == 1:
		return "pass"
	case r.Copies[i] > 1:
		return fmt.Sprintf("pass*%d", r.Copies[i])
	case r.SendErrs[i] != nil:
		return "drop(" + errName(r.SendErrs[i]) + ")"
	}
	return "drop"
}

func errName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// Forward probes FORWARD with the packets: see Probe.
func (t *Topology) Forward(tb testing.TB, pkts []packet.Spec) *Verdicts {
	tb.Helper()
	return t.Probe(tb, translator.Forward, Bytes(pkts))
}

// Input probes INPUT with the packets: see Probe.
func (t *Topology) Input(tb testing.TB, pkts []packet.Spec) *Verdicts {
	tb.Helper()
	return t.Probe(tb, translator.Input, Bytes(pkts))
}

// Output probes OUTPUT with the packets: see Probe.
func (t *Topology) Output(tb testing.TB, pkts []packet.Spec) *Verdicts {
	tb.Helper()
	return t.Probe(tb, translator.Output, Bytes(pkts))
}

// Bytes builds each packet.
func Bytes(specs []packet.Spec) [][]byte {
	b := make([][]byte, len(specs))
	for i, s := range specs {
		b[i] = s.Bytes()
	}
	return b
}

// Probe sends the IP packets through the hook and reports which arrived
// past it. It tags every packet first, overwriting the IPv4
// identification (the header checksum is adjusted, so a wrong one stays
// exactly as wrong) or the IPv6 flow label. A topology hands out 65535
// IPv4 and a million IPv6 tags before it repeats one, so a copy of an
// earlier probe's packet that arrives late is not counted. The observers listen before the first packet leaves, and
// the probe ends when a barrier frame sent after the packets has come out
// behind them (see barrier.go), so a packet that has not arrived then was
// dropped. A packet the probe cannot observe at the hook (see
// Unobservable) fails the test, as does any sign that an observer missed
// something or a barrier that does not come within Timeout.
func (t *Topology) Probe(tb testing.TB, hook translator.Hook, pkts [][]byte) *Verdicts {
	tb.Helper()
	if !slices.Contains(Hooks, hook) {
		tb.Fatalf("no probe observes %s", hook)
	}
	if len(pkts) > MaxBatch {
		tb.Fatalf("probe %s: %d packets, at most %d", hook, len(pkts), MaxBatch)
	}
	for i, p := range pkts {
		if why := Unobservable(hook, p); why != "" {
			tb.Fatalf("probe %s: packet %d (%s): %s", hook, i, Describe(p), why)
		}
	}
	r := &Verdicts{Hook: hook, Packets: pkts, Tags: make([]uint32, len(pkts)),
		Copies: make([]int, len(pkts)), SendErrs: make([]error, len(pkts))}
	t.mu.Lock()
	defer t.mu.Unlock()
	tagged := make([][]byte, len(pkts))
	want := map[tagKey]int{}
	for i, p := range pkts {
		tagged[i], r.Tags[i] = t.tag(p)
		want[keyOf(tagged[i], r.Tags[i])] = i
	}
	errc := make(chan error, 1)
	go func() {
		// Locked and never unlocked: the pinned thread ends with the
		// goroutine.
		runtime.LockOSThread()
		errc <- t.probe(hook, tagged, want, r)
	}()
	if err := <-errc; err != nil {
		tb.Fatalf("probe %s: %v", hook, err)
	}
	return r
}

// probe sends the tagged packets and then the barrier, from a thread
// pinned to one CPU, and counts arrivals into r.
func (t *Topology) probe(hook translator.Hook, pkts [][]byte, want map[tagKey]int, r *Verdicts) error {
	if err := pinThread(); err != nil {
		return err
	}
	// The observers first, so they hear the first packet; whatever they
	// queued since the last probe is stale.
	obs, err := t.observers(hook, pkts)
	if err != nil {
		return err
	}
	for _, o := range append([]*observer{t.sockets.server, t.sockets.firewall}, obs...) {
		if err := o.reset(); err != nil {
			return err
		}
	}
	seen := func(k tagKey) {
		if i, ok := want[k]; ok {
			r.Copies[i]++
		}
	}
	for i, p := range pkts {
		if err := t.send(hook, p); err != nil {
			if hook == translator.Output && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOBUFS)) {
				r.SendErrs[i] = err
				continue
			}
			return fmt.Errorf("send packet %d (%s): %w", i, Describe(r.Packets[i]), err)
		}
	}
	if t.testHookSent != nil {
		if err := t.testHookSent(); err != nil {
			return err
		}
	}
	timeout := t.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	t.barriers++
	if hook != translator.Output {
		if err := t.sendClient(barrierFrame(t.ClientLink.MAC, t.FirewallClientLink.MAC, t.barriers)); err != nil {
			return fmt.Errorf("send barrier: %w", err)
		}
		if err := await(t.sockets.firewall, t.barriers, deadline, func(tagKey) {}); err != nil {
			return fmt.Errorf("the barrier from the client did not reach the firewall within %v (does it drop non-IP frames?): %w", timeout, err)
		}
	}
	if hook != translator.Input {
		if err := t.sendBypass(barrierFrame(t.FirewallServerLink.MAC, t.ServerLink.MAC, t.barriers)); err != nil {
			return fmt.Errorf("send barrier: %w", err)
		}
		if err := await(t.sockets.server, t.barriers, deadline, seen); err != nil {
			return fmt.Errorf("the barrier from the firewall did not reach the server within %v: %w", timeout, err)
		}
	}
	for _, o := range obs {
		if err := drain(o, seen); err != nil {
			return err
		}
		if err := o.checkDrops(); err != nil {
			return err
		}
	}
	return nil
}

// tagKey identifies a tagged packet wherever it is seen. The protocol is
// rawProto's: an IPv6 packet with a fragment header that ip6_input_finish
// offers to the raw sockets of each header in turn is counted once, by the
// socket of its first.
type tagKey struct {
	ipv6     bool
	tag      uint32
	src, dst netip.Addr
	proto    uint8
}

func keyOf(ip []byte, tag uint32) tagKey {
	if ip[0]>>4 == 6 {
		return tagKey{true, tag, netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), ip[6]}
	}
	return tagKey{false, tag, netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), ip[9]}
}

// tag returns a copy of the packet carrying the topology's next tag for
// its family.
func (t *Topology) tag(p []byte) ([]byte, uint32) {
	if p[0]>>4 == 6 {
		t.tags[1] = t.tags[1]%0xfffff + 1
		return withTag(p, t.tags[1]), t.tags[1]
	}
	// Never zero: the kernel picks its own identification for a zero
	// one sent through a raw socket.
	t.tags[0] = t.tags[0]%0xffff + 1
	return withTag(p, t.tags[0]), t.tags[0]
}

// withTag returns a copy of the packet carrying the tag: in the IPv6 flow
// label, or in the IPv4 identification with the header checksum adjusted
// by the difference, so that a wrong checksum stays exactly as wrong.
func withTag(p []byte, tag uint32) []byte {
	p = append([]byte(nil), p...)
	if p[0]>>4 == 6 {
		binary.BigEndian.PutUint32(p, binary.BigEndian.Uint32(p)&^0xfffff|tag)
		return p
	}
	old := binary.BigEndian.Uint16(p[4:])
	binary.BigEndian.PutUint16(p[4:], uint16(tag))
	binary.BigEndian.PutUint16(p[10:], packet.ChecksumReplace(binary.BigEndian.Uint16(p[10:]), old, uint16(tag)))
	return p
}
