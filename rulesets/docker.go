package rulesets

import (
	"fmt"
	"math/rand"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator/packet"
)

// The Docker family is what Docker's bridge driver writes for N containers
// on one bridge network, each publishing one TCP port (docker run -p
// HOSTPORT:PORT), with the daemon's defaults: userland proxy on (so no
// hairpin NAT), inter-container traffic allowed, masquerading, gateway
// mode nat. Its iptables tables are Docker 28's, as the bridge driver's
// tests expect them (moby's iptabler testdata, kept in
// ../shared/corpus/rulesets/docker/iptables): raw PREROUTING drops what is
// sent straight to a container from outside the bridge; nat DOCKER DNATs
// each published port; filter FORWARD goes through DOCKER-FORWARD,
// DOCKER-CT, DOCKER-INTERNAL and DOCKER-BRIDGE to DOCKER, which accepts
// each published port and drops the rest. Before them, FORWARD jumps to
// DOCKER-USER, which the daemon creates outside the bridge driver, empty.
//
// Its nftables form is Docker's own nftables layout (the nftabler's
// testdata beside the iptables one) with the rules Docker writes per
// container and per port - raw drops, DNATs, accepts - as one rule each
// over a set or a map, as an nftables user would write them.
//
// N is at most 64,511: each container's host port is a distinct
// unprivileged port, and the update publishes one more.

// DockerBridge is the interface Docker's rules name as the bridge: eth1,
// the firewall's server-side link in internal/nettest's topology, where
// the server stands in for every container, so that forwarded traffic to
// a published port leaves by the bridge and walks Docker's filter chains.
const DockerBridge = "eth1"

// dockerSubnet is the bridge network's: docker0's default.
var dockerSubnet = netip.MustParsePrefix("172.17.0.0/16")

// dockerPort is one container and the port it publishes.
type dockerPort struct {
	addr           netip.Addr
	port, hostPort uint16
}

// dockerHost is a host's bridge network and its containers, in the order
// they were started.
type dockerHost struct {
	bridge     string
	subnet     netip.Prefix
	containers []dockerPort
}

func (g *Generated) docker(r *rand.Rand, count int) {
	const firstPort, ports = 1024, 65536 - 1024
	if g.N+1 > ports {
		panic(fmt.Sprintf("rulesets: Docker publishes at most %d ports, not %d", ports-1, g.N))
	}
	hostPorts := r.Perm(ports)
	h := &dockerHost{bridge: DockerBridge, subnet: dockerSubnet}
	// Container i has the bridge's address i+2: the gateway has .1.
	container := func(i int) dockerPort {
		port := []uint16{80, 443, 8080, 3000, 5432, 6379, 8000, 9000}[r.Intn(8)]
		return dockerPort{addr: plus(dockerSubnet.Addr(), i+2), port: port, hostPort: uint16(firstPort + hostPorts[i])}
	}
	for i := 0; i < g.N; i++ {
		h.containers = append(h.containers, container(i))
	}
	g.Rules, g.NFT = h.iptables(), h.nft()
	if g.N > 0 {
		last := h.containers[g.N-1]
		for i := 0; i < count; i++ {
			g.Packets = append(g.Packets, packet.Spec{Src: addr(172, r.Intn(1<<16)), Dst: HostAddr, Proto: packet.ProtoTCP, SrcPort: uint16(1024 + r.Intn(60000)), DstPort: last.hostPort, TCPFlags: packet.SYN})
		}
	}
	g.dockerUpdate(h, container(g.N))
}

// rawDrop, accept and dnat are the rules Docker writes for a container
// (raw PREROUTING, when its endpoint is created) and for a published port
// (filter DOCKER and nat DOCKER).
func (h *dockerHost) rawDrop(c dockerPort) string {
	return fmt.Sprintf("-d %s/32 ! -i %s -j DROP", c.addr, h.bridge)
}

func (h *dockerHost) accept(c dockerPort) string {
	return fmt.Sprintf("-d %s/32 ! -i %s -o %s -p tcp -m tcp --dport %d -j ACCEPT", c.addr, h.bridge, h.bridge, c.port)
}

func (h *dockerHost) dnat(c dockerPort) string {
	return fmt.Sprintf("! -i %s -p tcp -m tcp --dport %d -j DNAT --to-destination %s", h.bridge, c.hostPort, netip.AddrPortFrom(c.addr, c.port))
}

// iptables returns the tables as iptables-save prints them once every
// container is running.
func (h *dockerHost) iptables() string {
	var b strings.Builder
	b.WriteString("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for _, c := range h.containers {
		fmt.Fprintf(&b, "-A PREROUTING %s\n", h.rawDrop(c))
	}
	b.WriteString("COMMIT\n")

	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for _, c := range []string{"DOCKER", "DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-FORWARD", "DOCKER-INTERNAL", "DOCKER-USER"} {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	b.WriteString("-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-FORWARD\n")
	// Docker inserts each port's ACCEPT at the head of DOCKER, before the
	// network's DROP: the last container started comes first.
	for i := len(h.containers) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "-A DOCKER %s\n", h.accept(h.containers[i]))
	}
	fmt.Fprintf(&b, `-A DOCKER ! -i %[1]s -o %[1]s -j DROP
-A DOCKER-BRIDGE -o %[1]s -j DOCKER
-A DOCKER-CT -o %[1]s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -j DOCKER-CT
-A DOCKER-FORWARD -j DOCKER-INTERNAL
-A DOCKER-FORWARD -j DOCKER-BRIDGE
-A DOCKER-FORWARD -i %[1]s -j ACCEPT
COMMIT
`, h.bridge)

	fmt.Fprintf(&b, `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s %s ! -o %s -j MASQUERADE
`, h.subnet, h.bridge)
	for _, c := range h.containers {
		fmt.Fprintf(&b, "-A DOCKER %s\n", h.dnat(c))
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// elements writes a set's or map's elements, one a line.
func elements(b *strings.Builder, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "\t\telements = {\n\t\t\t%s }\n", strings.Join(items, ",\n\t\t\t"))
}

// nft returns the nftables ruleset, after a flush ruleset.
func (h *dockerHost) nft() string {
	var addrs, published, dnat []string
	for _, c := range h.containers {
		addrs = append(addrs, c.addr.String())
		published = append(published, fmt.Sprintf("%s . %d", c.addr, c.port))
		dnat = append(dnat, fmt.Sprintf("%d : %s . %d", c.hostPort, c.addr, c.port))
	}
	var b strings.Builder
	b.WriteString("flush ruleset\ntable ip docker-bridges {\n")
	b.WriteString("\tset containers {\n\t\ttype ipv4_addr\n")
	elements(&b, addrs)
	b.WriteString("\t}\n\n\tset published {\n\t\ttype ipv4_addr . inet_service\n")
	elements(&b, published)
	b.WriteString("\t}\n\n\tmap published-ports {\n\t\ttype inet_service : ipv4_addr . inet_service\n")
	elements(&b, dnat)
	fmt.Fprintf(&b, `	}

	map filter-forward-in-jumps {
		type ifname : verdict
		elements = { "%[1]s" : jump filter-forward-in__%[1]s }
	}

	map filter-forward-out-jumps {
		type ifname : verdict
		elements = { "%[1]s" : jump filter-forward-out__%[1]s }
	}

	map nat-postrouting-in-jumps {
		type ifname : verdict
		elements = { "%[1]s" : jump nat-postrouting-in__%[1]s }
	}

	map nat-postrouting-out-jumps {
		type ifname : verdict
		elements = { "%[1]s" : jump nat-postrouting-out__%[1]s }
	}

	chain filter-FORWARD {
		type filter hook forward priority filter; policy accept;
		oifname vmap @filter-forward-in-jumps
		iifname vmap @filter-forward-out-jumps
	}

	chain nat-OUTPUT {
		type nat hook output priority -100; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local jump nat-prerouting-and-output
	}

	chain nat-POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
		iifname vmap @nat-postrouting-out-jumps
		oifname vmap @nat-postrouting-in-jumps
	}

	chain nat-PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump nat-prerouting-and-output
	}

	chain nat-prerouting-and-output {
		iifname != "%[1]s" dnat ip to tcp dport map @published-ports
	}

	chain raw-PREROUTING {
		type filter hook prerouting priority raw; policy accept;
		ip daddr @containers iifname != "%[1]s" drop
	}

	chain filter-forward-in__%[1]s {
		ct state established,related accept
		iifname "%[1]s" accept
		ip daddr . tcp dport @published accept
		drop
	}

	chain filter-forward-out__%[1]s {
		ct state established,related accept
		accept
	}

	chain nat-postrouting-in__%[1]s {
	}

	chain nat-postrouting-out__%[1]s {
		oifname != "%[1]s" ip saddr %[2]s masquerade
	}
}
`, h.bridge, h.subnet)
	return b.String()
}

// dockerUpdate starts one more container publishing a port. Docker runs
// one iptables command per rule - the raw drop appended, the ACCEPT
// inserted at the head of DOCKER, the DNAT appended - which Update writes
// as one restore script; NFTUpdate adds the set and map elements.
func (g *Generated) dockerUpdate(h *dockerHost, c dockerPort) {
	g.UpdateName = "one port"
	g.Update = fmt.Sprintf("*raw\n-A PREROUTING %s\nCOMMIT\n*filter\n-I DOCKER %s\nCOMMIT\n*nat\n-A DOCKER %s\nCOMMIT\n", h.rawDrop(c), h.accept(c), h.dnat(c))
	g.NFTUpdate = fmt.Sprintf("add element ip docker-bridges containers { %s }\nadd element ip docker-bridges published { %s . %d }\nadd element ip docker-bridges published-ports { %d : %s . %d }\n",
		c.addr, c.addr, c.port, c.hostPort, c.addr, c.port)
}
