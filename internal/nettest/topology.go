package nettest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpftables/bpftables/translator"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link is one end of a veth pair, as the namespace holding it sees it.
type Link struct {
	Name string
	// Index is the interface index. The plan below sets the firewall's
	// ends only; a Topology's links all have theirs.
	Index int
	MAC   net.HardwareAddr
	// IPv4 and IPv6 are the end's addresses, with the prefix of the link.
	IPv4, IPv6 netip.Prefix
}

// Addr returns the link's address of the family.
func (l Link) Addr(f translator.Family) netip.Addr {
	if f == translator.IPv6 {
		return l.IPv6.Addr()
	}
	return l.IPv4.Addr()
}

// The fixed plan of every topology: the same names, MACs and addresses each
// time, so the packets a test builds fit any topology, and two topologies
// judging the same batch see byte-identical packets. Addresses come from the
// documentation ranges (RFC 5737, RFC 3849) and live only on these veths.
//
// The firewall's ends take interface indexes 3 and 4 and the client's and
// server's get 2, the first free in a new namespace: a veth whose index
// equals its peer's counts as a non-urgent link event and comes up a second
// late (linkwatch_urgent_event in net/core/link_watch.c).
var (
	// ClientLink is the client's veth, facing the firewall.
	ClientLink = Link{Name: "eth0", MAC: mac(0x11),
		IPv4: netip.MustParsePrefix("192.0.2.2/24"), IPv6: netip.MustParsePrefix("2001:db8:1::2/64")}
	// FirewallClientLink is the firewall's veth facing the client.
	FirewallClientLink = Link{Name: "eth0", Index: 3, MAC: mac(0x21),
		IPv4: netip.MustParsePrefix("192.0.2.1/24"), IPv6: netip.MustParsePrefix("2001:db8:1::1/64")}
	// FirewallServerLink is the firewall's veth facing the server.
	FirewallServerLink = Link{Name: "eth1", Index: 4, MAC: mac(0x22),
		IPv4: netip.MustParsePrefix("198.51.100.1/24"), IPv6: netip.MustParsePrefix("2001:db8:2::1/64")}
	// ServerLink is the server's veth, facing the firewall.
	ServerLink = Link{Name: "eth0", MAC: mac(0x31),
		IPv4: netip.MustParsePrefix("198.51.100.2/24"), IPv6: netip.MustParsePrefix("2001:db8:2::2/64")}
)

// Endpoints returns the source and destination a probe's packets take at
// the hook when nothing odd is wanted: client to server for FORWARD, client
// to the firewall's client-side address for INPUT, the firewall's
// server-side address to the server for OUTPUT.
func Endpoints(hook translator.Hook, f translator.Family) (src, dst netip.Addr) {
	switch hook {
	case translator.Input:
		return ClientLink.Addr(f), FirewallClientLink.Addr(f)
	case translator.Output:
		return FirewallServerLink.Addr(f), ServerLink.Addr(f)
	}
	return ClientLink.Addr(f), ServerLink.Addr(f)
}

// mac is a locally administered unicast address.
func mac(last byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0, last} }

// Topology is three network namespaces in a line, client - firewall -
// server, joined by two veth pairs. The client and the server route to each
// other through the firewall, which forwards both families; every other
// destination also leaves the firewall towards the server, so a FORWARD or
// OUTPUT probe may use any unicast destination outside the client's link.
// Neighbours are static, so no packet waits for ARP or neighbour discovery.
// Everything goes away when the test ends.
type Topology struct {
	Client, Firewall, Server *NS
	// The four veth ends, with their interface indexes filled in.
	ClientLink, FirewallClientLink, FirewallServerLink, ServerLink Link

	// Timeout bounds how long a probe waits for its barrier, which comes
	// within a millisecond unless the machine is overloaded or something
	// drops it; zero means DefaultTimeout.
	Timeout time.Duration

	mu       sync.Mutex // one probe at a time
	tags     [2]uint32  // last tag handed out, per family (IPv4, IPv6)
	barriers uint64     // last barrier nonce
	sockets  sockets

	// testHookSent, if set, runs on the probe's thread after its packets
	// are sent and before the barrier.
	testHookSent func() error
}

// Setup prepares a topology's firewall: loads a ruleset into the
// firewall namespace, attaches programs to its links.
type Setup func(tb testing.TB, t *Topology)

// NewTopology builds a topology and runs the setups on it in order; the
// topology is ready to carry packets when it returns. With no setup the
// firewall forwards everything. It needs root (see RequireRoot).
func NewTopology(tb testing.TB, setups ...Setup) *Topology {
	tb.Helper()
	t := newTopology(NewNS(tb), NewNS(tb), NewNS(tb))
	tb.Cleanup(t.sockets.close)
	if err := t.build(); err != nil {
		tb.Fatalf("build topology: %v", err)
	}
	for _, setup := range setups {
		setup(tb, t)
	}
	return t
}

func newTopology(client, firewall, server *NS) *Topology {
	return &Topology{
		Client: client, Firewall: firewall, Server: server,
		ClientLink: ClientLink, FirewallClientLink: FirewallClientLink,
		FirewallServerLink: FirewallServerLink, ServerLink: ServerLink,
		sockets: newSockets(),
	}
}

// BuildTopology builds a topology outside a test (the demo), in
// namespaces named prefix-client, prefix-fw and prefix-server; Close
// removes it.
func BuildTopology(prefix string) (*Topology, error) {
	var nss []*NS
	for _, role := range []string{"client", "fw", "server"} {
		ns, err := CreateNS(prefix + "-" + role)
		if err != nil {
			for _, n := range nss {
				n.Delete()
			}
			return nil, err
		}
		nss = append(nss, ns)
	}
	t := newTopology(nss[0], nss[1], nss[2])
	if err := t.build(); err != nil {
		t.Close()
		return nil, fmt.Errorf("build topology: %w", err)
	}
	return t, nil
}

// Close removes a topology BuildTopology made.
func (t *Topology) Close() {
	t.sockets.close()
	for _, ns := range []*NS{t.Client, t.Firewall, t.Server} {
		ns.Delete()
	}
}

// host is one namespace of a topology being built, with its links and
// what it needs.
type host struct {
	ns     *NS
	links  []*Link
	nl     *netlink.Handle
	routes []netip.Addr // default gateways
	neighs []neighbour  // static entries
	router bool         // forwards, so also answers its subnet-router anycast addresses
}

type neighbour struct {
	link *Link // the local end
	peer Link  // the far end, whose addresses resolve to its MAC
}

func (t *Topology) build() error {
	hosts := []*host{
		{ns: t.Client, links: []*Link{&t.ClientLink},
			routes: gateways(t.FirewallClientLink),
			neighs: []neighbour{{&t.ClientLink, t.FirewallClientLink}}},
		{ns: t.Firewall, links: []*Link{&t.FirewallClientLink, &t.FirewallServerLink},
			routes: gateways(t.ServerLink),
			neighs: []neighbour{{&t.FirewallClientLink, t.ClientLink}, {&t.FirewallServerLink, t.ServerLink}},
			router: true},
		{ns: t.Server, links: []*Link{&t.ServerLink},
			routes: gateways(t.FirewallServerLink),
			neighs: []neighbour{{&t.ServerLink, t.FirewallServerLink}}},
	}
	for _, h := range hosts {
		nl, err := netlink.NewHandleAt(h.ns.Handle)
		if err != nil {
			return fmt.Errorf("netlink in %s: %w", h.ns.Name, err)
		}
		defer nl.Close()
		h.nl = nl
	}
	// Sysctls first: a new interface copies the "default" settings.
	if err := t.Firewall.Within(func() error { return sysctls(firewallSysctls) }); err != nil {
		return err
	}
	fw := hosts[1]
	pairs := []struct {
		local, peer *Link
		peerNS      *NS
	}{
		{&t.FirewallClientLink, &t.ClientLink, t.Client},
		{&t.FirewallServerLink, &t.ServerLink, t.Server},
	}
	for _, p := range pairs {
		veth := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: p.local.Name, Index: p.local.Index, HardwareAddr: p.local.MAC},
			PeerName:         p.peer.Name,
			PeerHardwareAddr: p.peer.MAC,
			PeerNamespace:    netlink.NsFd(p.peerNS.Handle),
		}
		if err := fw.nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s - %s: %w", p.local.Name, p.peer.Name, err)
		}
	}
	// Subscribe before bringing links up: the notification that reports a
	// veth operationally up is sent after its queueing discipline is
	// attached, and until then every packet sent on it is dropped.
	done := make(chan struct{})
	defer close(done)
	var waits []func() error
	for _, h := range hosts {
		w, err := watchUp(h.ns, done)
		if err != nil {
			return err
		}
		waits = append(waits, func() error { return w(h.links) })
	}
	for _, h := range hosts {
		lo, err := h.nl.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("%s: lo: %w", h.ns.Name, err)
		}
		if err := h.nl.LinkSetUp(lo); err != nil {
			return fmt.Errorf("%s: lo up: %w", h.ns.Name, err)
		}
		for _, l := range h.links {
			link, err := h.nl.LinkByName(l.Name)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", h.ns.Name, l.Name, err)
			}
			l.Index = link.Attrs().Index
			// No link-local address: nothing here needs one, and without
			// it the links carry no router solicitations or MLD reports.
			if err := h.nl.LinkSetIP6AddrGenMode(link, addrGenModeNone); err != nil {
				return fmt.Errorf("%s: %s: addrgenmode: %w", h.ns.Name, l.Name, err)
			}
			if err := h.nl.LinkSetUp(link); err != nil {
				return fmt.Errorf("%s: %s up: %w", h.ns.Name, l.Name, err)
			}
		}
	}
	for _, w := range waits {
		if err := w(); err != nil {
			return err
		}
	}
	// Subscribe before adding addresses: an IPv6 address gets its local
	// route only later, from a work item (see watchLocal).
	var delivered []func() error
	for _, h := range hosts {
		w, err := watchLocal(h.ns, done)
		if err != nil {
			return err
		}
		delivered = append(delivered, func() error { return w(h.local()) })
	}
	for _, h := range hosts {
		if err := h.configure(); err != nil {
			return fmt.Errorf("%s: %w", h.ns.Name, err)
		}
	}
	for _, w := range delivered {
		if err := w(); err != nil {
			return err
		}
	}
	return nil
}

// configure gives the host's links their addresses, then its routes and
// neighbours, which need the addresses' prefixes.
func (h *host) configure() error {
	for _, l := range h.links {
		for _, p := range []netip.Prefix{l.IPv4, l.IPv6} {
			a := &netlink.Addr{IPNet: ipNet(p), LinkIndex: l.Index}
			if p.Addr().Is6() {
				// No duplicate address detection: the address is never
				// tentative, so it serves as a source at once; packets
				// to it are delivered once its local route is in (see
				// watchLocal).
				a.Flags = unix.IFA_F_NODAD
			}
			if err := h.nl.AddrAdd(nil, a); err != nil {
				return fmt.Errorf("address %s on %s: %w", p, l.Name, err)
			}
		}
	}
	for _, gw := range h.routes {
		r := &netlink.Route{Gw: gw.AsSlice(), Family: netlinkFamily(gw)}
		if err := h.nl.RouteAdd(r); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	for _, n := range h.neighs {
		for _, a := range []netip.Addr{n.peer.IPv4.Addr(), n.peer.IPv6.Addr()} {
			e := &netlink.Neigh{LinkIndex: n.link.Index, Family: netlinkFamily(a), State: netlink.NUD_PERMANENT,
				IP: a.AsSlice(), HardwareAddr: n.peer.MAC}
			if err := h.nl.NeighAdd(e); err != nil {
				return fmt.Errorf("neighbour %s on %s: %w", a, n.link.Name, err)
			}
		}
	}
	return nil
}

// watchUp subscribes to link notifications in ns and returns a function
// that waits until every one of links is operationally up.
func watchUp(ns *NS, done chan struct{}) (func([]*Link) error, error) {
	ch := make(chan netlink.LinkUpdate, 64)
	h := ns.Handle
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{Namespace: &h}); err != nil {
		return nil, fmt.Errorf("%s: subscribe to links: %w", ns.Name, err)
	}
	return func(links []*Link) error {
		up := map[int]bool{}
		timeout := time.After(10 * time.Second)
		for {
			all := true
			for _, l := range links {
				all = all && up[l.Index]
			}
			if all {
				return nil
			}
			select {
			case u, ok := <-ch:
				if !ok {
					return fmt.Errorf("%s: link notifications ended", ns.Name)
				}
				if u.Attrs().OperState == netlink.OperUp {
					up[u.Attrs().Index] = true
				}
			case <-timeout:
				return fmt.Errorf("%s: links not up after 10s", ns.Name)
			}
		}
	}, nil
}

// A localRoute is a route of the local table that delivers packets to a
// host's own address: RTN_LOCAL for an address of its links, RTN_ANYCAST
// for a router's subnet-router anycast address.
type localRoute struct {
	typ  int
	addr netip.Addr
}

// local lists the local routes the host needs before a packet sent to one
// of its addresses is delivered to it rather than forwarded.
func (h *host) local() []localRoute {
	var rs []localRoute
	for _, l := range h.links {
		rs = append(rs, localRoute{unix.RTN_LOCAL, l.IPv4.Addr()}, localRoute{unix.RTN_LOCAL, l.IPv6.Addr()})
		if h.router {
			rs = append(rs, localRoute{unix.RTN_ANYCAST, l.IPv6.Masked().Addr()})
		}
	}
	return rs
}

// watchLocal subscribes to route notifications in ns and returns a
// function that waits until every one of routes is in the local table.
//
// An IPv4 address has its local route when the netlink request that adds
// it returns. An IPv6 address, even with IFA_F_NODAD, gets its local route
// (and a router its anycast route) only when addrconf_dad_work runs, a
// work item that takes the RTNL lock after the request has returned
// (__ipv6_ifa_notify in net/ipv6/addrconf.c). Until then a packet to the
// address matches the link's prefix route and is forwarded back out, to
// wait for a neighbour that never answers. The work runs a millisecond or
// two late on an idle machine, and up to ~110 ms late while the other
// kernel tests (namespaces, links, TCX programs, iptables) run beside it.
func watchLocal(ns *NS, done chan struct{}) (func([]localRoute) error, error) {
	ch := make(chan netlink.RouteUpdate, 64)
	h := ns.Handle
	if err := netlink.RouteSubscribeWithOptions(ch, done, netlink.RouteSubscribeOptions{Namespace: &h}); err != nil {
		return nil, fmt.Errorf("%s: subscribe to routes: %w", ns.Name, err)
	}
	return func(routes []localRoute) error {
		have := map[localRoute]bool{}
		timeout := time.After(10 * time.Second)
		for {
			var missing []string
			for _, r := range routes {
				if !have[r] {
					missing = append(missing, r.addr.String())
				}
			}
			if len(missing) == 0 {
				return nil
			}
			select {
			case u, ok := <-ch:
				if !ok {
					return fmt.Errorf("%s: route notifications ended", ns.Name)
				}
				if u.Table != unix.RT_TABLE_LOCAL || u.Dst == nil {
					continue
				}
				a, ok := netip.AddrFromSlice(u.Dst.IP)
				if ones, bits := u.Dst.Mask.Size(); !ok || ones != bits {
					continue
				}
				// u.Type is the message's: new or deleted.
				have[localRoute{u.Route.Type, a.Unmap()}] = u.Type == unix.RTM_NEWROUTE
			case <-timeout:
				return fmt.Errorf("%s: no local route for %s after 10s", ns.Name, strings.Join(missing, ", "))
			}
		}
	}, nil
}

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE (linux/if_link.h): no
// automatic IPv6 addresses.
const addrGenModeNone = 1

// gateways lists a link's addresses, to use as default gateways.
func gateways(l Link) []netip.Addr { return []netip.Addr{l.IPv4.Addr(), l.IPv6.Addr()} }

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netlinkFamily(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// firewallSysctls make the firewall a router.
var firewallSysctls = map[string]string{
	"ipv4/ip_forward":          "1",
	"ipv6/conf/all/forwarding": "1",
	// A new namespace inherits the host's IPv4 settings, often
	// rp_filter=1 or 2; a probe's source may be any address.
	"ipv4/conf/all/rp_filter":     "0",
	"ipv4/conf/default/rp_filter": "0",
}

// sysctls writes net.* sysctls of the calling thread's network namespace.
func sysctls(kv map[string]string) error {
	for k, v := range kv {
		if err := os.WriteFile(filepath.Join("/proc/sys/net", k), []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl net/%s: %w", k, err)
		}
	}
	return nil
}
