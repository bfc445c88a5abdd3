package attach

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

// TestXDP attaches at a veth's XDP hook natively and generically and
// checks with real traffic that the program judges the packets, then that
// Detach leaves the interface as it was.
func TestXDP(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    Options
		mode    Mode
		verdict int32
		arrive  int
	}{
		{"native/pass", Options{}, XDPNative, xdpPass, 20},
		{"native/drop", Options{}, XDPNative, xdpDrop, 0},
		{"generic/drop", Options{XDPGeneric: true}, XDPGeneric, xdpDrop, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			top := newTopo(t)
			counts := newCounts(t)
			prog := udpProgram(t, ebpf.XDP, "bpftables_xdp", counts, 0, tt.verdict)
			a, err := top.b.Attach(top.vb, XDP, prog, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("attached: %s", a)
			if a.Mode != tt.mode || a.Link == 0 || a.Pin == "" {
				t.Errorf("attachment %s, want mode %s with a pinned link", a, tt.mode)
			}
			if listed, err := top.b.List(); err != nil || len(listed) != 1 || listed[0] != a {
				t.Errorf("List = %v, %v; want [%s]", listed, err, a)
			}
			f := top.flowAB(t)
			if got := f.exchange(t, 20, tt.arrive); got != tt.arrive {
				t.Errorf("%d of 20 datagrams arrived, want %d", got, tt.arrive)
			}
			if n := waitCount(t, counts, 0, 20); n != 20 {
				t.Errorf("program counted %d packets, want 20", n)
			}
			if err := top.b.Detach(top.vb); err != nil {
				t.Fatal(err)
			}
			assertClean(t, top, top.b, top.vb)
			if got := f.exchange(t, 5, 5); got != 5 {
				t.Errorf("after Detach %d of 5 datagrams arrived", got)
			}
		})
	}
}

// TestLoopback attaches at each hook of lo and checks that the programs
// judge a namespace's traffic to itself: lo has no native XDP, and its
// packets carry an Ethernet header the programs parse.
func TestLoopback(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	for _, tt := range []struct {
		hook Hook
		opts Options
		mode Mode
	}{
		{Ingress, Options{}, TCX},
		{Egress, Options{}, TCX},
		{Ingress, Options{Clsact: true}, Clsact},
		{XDP, Options{}, XDPGeneric},
	} {
		t.Run(tt.hook.String()+"/"+tt.mode.String(), func(t *testing.T) {
			top := newTopo(t)
			counts := newCounts(t)
			typ, drop := ebpf.SchedCLS, int32(tcShot)
			if tt.hook == XDP {
				typ, drop = ebpf.XDP, xdpDrop
			}
			prog := udpProgram(t, typ, "bpftables_lo", counts, 0, drop)
			a, err := top.a.Attach(1, tt.hook, prog, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			requireMode(t, a, tt.mode)
			f := flow{tx: dial(t, top.a, local), rx: listen(t, top.a, local)}
			if got := f.exchange(t, 20, 0); got != 0 {
				t.Errorf("%d of 20 datagrams arrived through a dropping program", got)
			}
			if n := waitCount(t, counts, 0, 20); n != 20 {
				t.Errorf("program counted %d packets, want 20", n)
			}
			if err := top.a.Detach(1); err != nil {
				t.Fatal(err)
			}
			assertClean(t, top, top.a, 1)
			if got := f.exchange(t, 5, 5); got != 5 {
				t.Errorf("after Detach %d of 5 datagrams arrived", got)
			}
		})
	}
}
