package live_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/live"
)

// TestNewInterface: an interface that appears after the restore is
// unjudged until AttachInterface (what `bpftables watch` calls) puts the
// hooks on it and enters its name for the rules' interface patterns.
func TestNewInterface(t *testing.T) {
	fw, peer := nettest.NewNS(t), nettest.NewNS(t)
	layout := testLayout(t)
	sh := func(ns *nettest.NS, args ...string) {
		t.Helper()
		if out, err := ns.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	sh(fw, "ip", "link", "set", "lo", "up")
	var port int
	var l *net.UDPConn
	fw.Do(t, func() {
		mustApply(t, live.Options{Layout: layout}, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i vx+ -p udp -j DROP\nCOMMIT\n")
	})
	// The new interface: vx0, its peer in the other namespace.
	sh(fw, "ip", "link", "add", "vx0", "type", "veth", "peer", "name", "eth0", "netns", peer.Name)
	sh(fw, "ip", "addr", "add", "10.9.0.1/24", "dev", "vx0")
	sh(fw, "ip", "link", "set", "vx0", "up")
	sh(peer, "ip", "addr", "add", "10.9.0.2/24", "dev", "eth0")
	sh(peer, "ip", "link", "set", "eth0", "up")
	fw.Do(t, func() {
		var err error
		if l, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(10, 9, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		port = l.LocalAddr().(*net.UDPAddr).Port
	})
	defer l.Close()
	send := func() bool {
		var arrived bool
		peer.Do(t, func() {
			c, err := net.Dial("udp", "10.9.0.1:"+strconv.Itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := 0; i < 5; i++ { // the first may wait for ARP
				if _, err := c.Write([]byte("probe")); err != nil {
					t.Fatal(err)
				}
			}
		})
		fw.Do(t, func() {
			for udpRead(t, l) { // drain
				arrived = true
			}
		})
		return arrived
	}
	if !send() {
		t.Fatal("before AttachInterface, vx0 has no hooks: the datagrams should arrive")
	}
	fw.Do(t, func() {
		n, err := live.Open(live.Options{Layout: layout})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		st, err := n.Status()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range st.Interfaces {
			if i.Name == "vx0" {
				if err := n.AttachInterface(i); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	if send() {
		t.Fatal("after AttachInterface, -i vx+ did not drop the datagrams")
	}
}
