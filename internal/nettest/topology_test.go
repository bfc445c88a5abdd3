package nettest

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestTopology reads the topology back from the kernel: each link where
// the plan puts it, up, with its addresses usable (not tentative) and
// routed to the host itself (the firewall's subnet-router anycast
// addresses too), the default routes, static neighbours, and forwarding on
// in the firewall. It looks right after NewTopology returns, when a probe
// may already be on its way.
func TestTopology(t *testing.T) {
	RequireRoot(t)
	topo := NewTopology(t)
	hosts := []struct {
		ns     *NS
		links  []Link
		routes int // default routes, one per family
		neighs int
		router bool // has anycast routes
	}{
		{topo.Client, []Link{topo.ClientLink}, 2, 2, false},
		{topo.Firewall, []Link{topo.FirewallClientLink, topo.FirewallServerLink}, 2, 4, true},
		{topo.Server, []Link{topo.ServerLink}, 2, 2, false},
	}
	for _, h := range hosts {
		nl, err := netlink.NewHandleAt(h.ns.Handle)
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		for _, l := range h.links {
			link, err := nl.LinkByIndex(l.Index)
			if err != nil {
				t.Fatalf("%s: ifindex %d: %v", h.ns.Name, l.Index, err)
			}
			a := link.Attrs()
			if a.Name != l.Name || a.HardwareAddr.String() != l.MAC.String() || a.OperState != netlink.OperUp {
				t.Errorf("%s: ifindex %d is %s %s %s, want %s %s up", h.ns.Name, l.Index, a.Name, a.HardwareAddr, a.OperState, l.Name, l.MAC)
			}
			addrs, err := nl.AddrList(link, netlink.FAMILY_ALL)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ad := range addrs {
				got = append(got, ad.IPNet.String())
				if ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
					t.Errorf("%s %s: address %s is not usable (flags %#x)", h.ns.Name, l.Name, ad.IPNet, ad.Flags)
				}
			}
			if want := []string{l.IPv4.String(), l.IPv6.String()}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s %s: addresses %v, want %v (and no link-local)", h.ns.Name, l.Name, got, want)
			}
		}
		local, err := nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_LOCAL}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		delivered := map[string]bool{}
		for _, r := range local {
			if r.Dst != nil {
				delivered[fmt.Sprintf("%s %s", routeTypes[r.Type], r.Dst.IP)] = true
			}
		}
		for _, l := range h.links {
			want := []string{"local " + l.IPv4.Addr().String(), "local " + l.IPv6.Addr().String()}
			if h.router {
				want = append(want, "anycast "+l.IPv6.Masked().Addr().String())
			}
			for _, w := range want {
				if !delivered[w] {
					t.Errorf("%s %s: no route %s in the local table", h.ns.Name, l.Name, w)
				}
			}
		}
		routes, err := nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		defaults := 0
		for _, r := range routes {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() {
				defaults++
			}
		}
		if defaults != h.routes {
			t.Errorf("%s: %d default routes, want %d: %v", h.ns.Name, defaults, h.routes, routes)
		}
		neighs, err := nl.NeighList(0, netlink.FAMILY_ALL)
		if err != nil {
			t.Fatal(err)
		}
		permanent := 0
		for _, n := range neighs {
			if n.State == netlink.NUD_PERMANENT {
				permanent++
			}
		}
		if permanent != h.neighs {
			t.Errorf("%s: %d permanent neighbours, want %d", h.ns.Name, permanent, h.neighs)
		}
	}
	err := topo.Firewall.Within(func() error {
		for _, k := range []string{"ipv4/ip_forward", "ipv6/conf/all/forwarding", "ipv6/conf/eth1/forwarding"} {
			b, err := os.ReadFile("/proc/sys/net/" + k)
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(b)) != "1" {
				return fmt.Errorf("net/%s is %s", k, b)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// routeTypes names the local table's route types that deliver to the host.
var routeTypes = map[int]string{unix.RTN_LOCAL: "local", unix.RTN_ANYCAST: "anycast"}

func BenchmarkNewTopology(b *testing.B) {
	RequireRoot(b)
	for b.Loop() {
		NewTopology(b)
	}
}

// BenchmarkProbe probes 100 packets, half of each family, all let through.
func BenchmarkProbe(b *testing.B) {
	RequireRoot(b)
	topo := NewTopology(b)
	for _, hook := range Hooks {
		b.Run(hook.String(), func(b *testing.B) {
			var pkts [][]byte
			for i := range 100 {
				s := udp(uint16(1000+i))(hook, families[i%2])
				s.Payload = make([]byte, i*10)
				pkts = append(pkts, s.Bytes())
			}
			for b.Loop() {
				if res := topo.Probe(b, hook, pkts); slices.Contains(res.Copies, 0) {
					b.Fatalf("a packet was lost:\n%s", res)
				}
			}
		})
	}
}
