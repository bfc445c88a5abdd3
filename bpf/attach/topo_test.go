package attach

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// mountBPFFS mounts a bpffs of the test's own on a temporary directory.
func mountBPFFS(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		nettest.Skip(tb, "cannot mount a bpffs: %v", err)
	}
	// Registered after TempDir's cleanup, so it runs before it.
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			tb.Errorf("unmount bpffs: %v", err)
		}
	})
	return dir
}

// topo is two network namespaces joined by a veth pair: a's end "va"
// (198.18.0.1) and b's end "vb" (198.18.0.2), each with its lo up, and
// an NS for each whose links are pinned in a bpffs of the test's own.
type topo struct {
	nsA, nsB   *nettest.NS
	a, b       *NS
	va, vb     int // the veth ends' interface indexes
	addrA      netip.Addr
	addrB      netip.Addr
	bpffs      string
	pinA, pinB string
}

func newTopo(tb testing.TB) *topo {
	tb.Helper()
	nettest.RequireRoot(tb)
	t := &topo{
		nsA:   nettest.NewNS(tb),
		nsB:   nettest.NewNS(tb),
		addrA: netip.MustParseAddr("198.18.0.1"),
		addrB: netip.MustParseAddr("198.18.0.2"),
		bpffs: mountBPFFS(tb),
	}
	t.pinA, t.pinB = filepath.Join(t.bpffs, "a"), filepath.Join(t.bpffs, "b")
	ip(tb, t.nsA, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", t.nsB.Name)
	for _, s := range []struct {
		ns   *nettest.NS
		dev  string
		addr netip.Addr
	}{{t.nsA, "va", t.addrA}, {t.nsB, "vb", t.addrB}} {
		ip(tb, s.ns, "addr", "add", s.addr.String()+"/24", "dev", s.dev)
		ip(tb, s.ns, "link", "set", s.dev, "up")
		ip(tb, s.ns, "link", "set", "lo", "up")
	}
	t.a, t.va = openNS(tb, t.nsA, t.pinA, "va")
	t.b, t.vb = openNS(tb, t.nsB, t.pinB, "vb")
	return t
}

// openNS opens the namespace as an NS with pins and returns the index of
// its interface dev.
func openNS(tb testing.TB, ns *nettest.NS, pins, dev string) (*NS, int) {
	tb.Helper()
	n, err := OpenNS(nsPath(ns), pins)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Close() })
	return n, indexOf(tb, n, dev)
}

// indexOf returns the index of interface dev of ns.
func indexOf(tb testing.TB, ns *NS, dev string) int {
	tb.Helper()
	l, err := ns.nl.LinkByName(dev)
	if err != nil {
		tb.Fatalf("%s: %v", dev, err)
	}
	return l.Attrs().Index
}

func nsPath(ns *nettest.NS) string { return "/run/netns/" + ns.Name }

// ip runs ip(8) in the namespace and fails the test if it fails.
func ip(tb testing.TB, ns *nettest.NS, args ...string) string {
	tb.Helper()
	r := ns.Run(tb, "", "ip", args...)
	if r.Status != 0 {
		tb.Fatalf("ip %v: status %d: %s", args, r.Status, r.Stderr)
	}
	return r.Stdout
}

// tc runs tc(8) in the namespace and returns its output.
func tc(tb testing.TB, ns *nettest.NS, args ...string) string {
	tb.Helper()
	nettest.RequireTool(tb, "tc")
	r := ns.Run(tb, "", "tc", args...)
	if r.Status != 0 {
		tb.Fatalf("tc %v: status %d: %s", args, r.Status, r.Stderr)
	}
	return r.Stdout
}

// listen opens a UDP socket on addr:testPort inside ns.
func listen(tb testing.TB, ns *NS, addr netip.Addr) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	err := ns.do(func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, testPort)))
		return err
	})
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// dial opens a UDP socket inside ns that sends to addr:testPort.
func dial(tb testing.TB, ns *NS, addr netip.Addr) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	err := ns.do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, testPort)))
		return err
	})
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// send sends n datagrams on c.
func send(tb testing.TB, c *net.UDPConn, n int) {
	tb.Helper()
	for i := range n {
		if _, err := c.Write([]byte("bpftables")); err != nil {
			tb.Fatalf("send datagram %d: %v", i, err)
		}
	}
}

// received reads the datagrams that arrive on c and returns their number:
// it waits long for the want-th, briefly for any more.
func received(tb testing.TB, c *net.UDPConn, want int) int {
	tb.Helper()
	buf := make([]byte, 64)
	n := 0
	for {
		wait := 50 * time.Millisecond
		if n < want {
			wait = 2 * time.Second
		}
		c.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return n
			}
			tb.Fatalf("receive: %v", err)
		}
		n++
	}
}

// flow is a UDP flow from a to b.
type flow struct{ tx, rx *net.UDPConn }

func (t *topo) flowAB(tb testing.TB) flow {
	tb.Helper()
	return flow{tx: dial(tb, t.a, t.addrB), rx: listen(tb, t.b, t.addrB)}
}

// exchange sends n datagrams and returns how many arrived, expecting want.
func (f flow) exchange(tb testing.TB, n, want int) int {
	tb.Helper()
	send(tb, f.tx, n)
	return received(tb, f.rx, want)
}

// nsOf returns the namespace of top that ns is.
func nsOf(top *topo, ns *NS) *nettest.NS {
	if ns == top.a {
		return top.nsA
	}
	return top.nsB
}

// iface returns the interface ifindex of ns.
func iface(tb testing.TB, ns *NS, ifindex int) netlink.Link {
	tb.Helper()
	l, err := ns.nl.LinkByIndex(ifindex)
	if err != nil {
		tb.Fatalf("interface %d: %v", ifindex, err)
	}
	return l
}

func ifname(tb testing.TB, ns *NS, ifindex int) string {
	tb.Helper()
	return iface(tb, ns, ifindex).Attrs().Name
}
