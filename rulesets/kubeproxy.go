package rulesets

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"strings"

	"github.com/bpftables/bpftables/translator/packet"
)

// The kube-proxy family is what kube-proxy writes for N ClusterIP Services
// of KubeEndpoints endpoints each, in its iptables mode and its nftables
// mode: the chains, rule text and hashed chain names its own tests expect
// (pkg/proxy/{iptables,nftables}/proxier_test.go, kept in
// ../shared/corpus/rulesets/kube-proxy), the iptables tables in the order
// those tests list them, the nftables commands in the order kube-proxy's
// sync adds them. The cluster is the one those tests configure - pods in
// 10.0.0.0/8 (the local-traffic detector's CIDR), masquerade bit 14 - but
// for the Service CIDR, kubeadm's 10.96.0.0/12 instead of a /16 too small
// for 50,000 Services.
//
// Where kube-proxy makes a choice at run time, the family takes what it
// takes on a stock node: localhost NodePorts on (KUBE-FIREWALL), no nfacct
// counters (kube-proxy drops the -m nfacct match when the kernel has no
// nfnetlink_acct, and iptables-restore fails on a counter that does not
// exist), and, past 1,000 endpoints, its "large cluster mode", which leaves
// the per-endpoint comments out.

// KubeEndpoints is the number of endpoints of each generated Service: a
// Deployment's usual three replicas. A Service's chain picks one with
// `-m statistic --mode random --probability 1/k` rules (iptables) or
// `numgen random mod 3` (nftables).
const KubeEndpoints = 3

var (
	// kubeClusterCIDR is where pods are: traffic from elsewhere to a
	// Service is masqueraded.
	kubeClusterCIDR = netip.MustParsePrefix("10.0.0.0/8")
	// kubeServiceCIDR holds the cluster IPs.
	kubeServiceCIDR = netip.MustParsePrefix("10.96.0.0/12")
	// kubeFirstPod is the first endpoint's address, as in kube-proxy's
	// tests; endpoints are numbered from it.
	kubeFirstPod = netip.MustParseAddr("10.180.0.1")
)

// kubeLargeCluster is the endpoint count past which kube-proxy writes no
// per-endpoint comments (largeClusterEndpointsThreshold).
const kubeLargeCluster = 1000

// kubeService is one Service port and its endpoints.
type kubeService struct {
	namespace, name string
	clusterIP       netip.Addr
	port            uint16
	endpoints       []netip.AddrPort
}

// kubeProto is every Service's protocol: TCP, as most use.
const kubeProto = "tcp"

// portName is the Service port's name as kube-proxy prints it
// (ServicePortName.String): namespace/name:port, where a port's name is
// "p" and its number.
func (s *kubeService) portName() string {
	return fmt.Sprintf("%s/%s:p%d", s.namespace, s.name, s.port)
}

// kubeHash is the base32 of the SHA-256 of s, from which kube-proxy cuts
// its chain names.
func kubeHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(h[:])
}

// svcChain is the Service's KUBE-SVC chain (servicePortPolicyClusterChain).
func (s *kubeService) svcChain() string {
	return "KUBE-SVC-" + kubeHash(s.portName() + kubeProto)[:16]
}

// sepChain is an endpoint's KUBE-SEP chain (servicePortEndpointChainName).
func (s *kubeService) sepChain(ep netip.AddrPort) string {
	return "KUBE-SEP-" + kubeHash(s.portName() + kubeProto + ep.String())[:16]
}

// nftChain is the Service's chain in nftables mode
// (servicePortChainNameBase): a hash of its name, then the name.
func (s *kubeService) nftChain() string {
	name := fmt.Sprintf("%s/%s/%s/p%d", s.namespace, s.name, kubeProto, s.port)
	return "service-" + kubeHash(name)[:8] + "-" + name
}

// nftEndpointChain is an endpoint's chain in nftables mode
// (servicePortEndpointChainNameBase).
func (s *kubeService) nftEndpointChain(ep netip.AddrPort) string {
	name := fmt.Sprintf("%s/%s/%s/p%d__%s/%d", s.namespace, s.name, kubeProto, s.port, ep.Addr(), ep.Port())
	return "endpoint-" + kubeHash(name)[:8] + "-" + name
}

// kubeCluster is the Services of one generated ruleset.
type kubeCluster struct {
	services []*kubeService
	pods     int // endpoints numbered so far
	large    bool
}

// plus returns the address i after a.
func plus(a netip.Addr, i int) netip.Addr {
	b := a.As4()
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) + uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// nextPod returns a pod address no endpoint has had.
func (c *kubeCluster) nextPod() netip.Addr {
	c.pods++
	return plus(kubeFirstPod, c.pods-1)
}

func newKubeCluster(r *rand.Rand, n int) *kubeCluster {
	c := &kubeCluster{large: n*KubeEndpoints > kubeLargeCluster}
	for i := 0; i < n; i++ {
		port := []uint16{80, 443, 8080, 8443, 9090, 3000, 5432, 6379}[r.Intn(8)]
		s := &kubeService{
			namespace: fmt.Sprintf("ns%d", i+1), name: fmt.Sprintf("svc%d", i+1),
			clusterIP: plus(kubeServiceCIDR.Addr(), i+1), port: port,
		}
		for range KubeEndpoints {
			s.endpoints = append(s.endpoints, netip.AddrPortFrom(c.nextPod(), port))
		}
		c.services = append(c.services, s)
	}
	return c
}

func (g *Generated) kubeProxy(r *rand.Rand, count int) {
	c := newKubeCluster(r, g.N)
	g.Rules, g.NFT = c.iptables(), c.nft()
	if g.N == 0 {
		return
	}
	last := c.services[len(c.services)-1]
	for i := 0; i < count; i++ {
		g.Packets = append(g.Packets, packet.Spec{Src: addr(172, r.Intn(1<<16)), Dst: last.clusterIP, Proto: packet.ProtoTCP, SrcPort: uint16(1024 + r.Intn(60000)), DstPort: last.port, TCPFlags: packet.SYN})
	}
	g.kubeUpdate(c)
}

// kubeChain is a chain and its rules (without "-A CHAIN").
type kubeChain struct {
	name  string
	rules []string
}

// writeTable writes a table as kube-proxy's tests expect it: the
// built-in chains (with the jumps into kube-proxy's chains, which
// kube-proxy inserts with iptables -I at start-up rather than in its
// restore input), then KUBE-NODEPORTS and KUBE-SERVICES, then the other
// chains in name order, each chain's line before any rule; then the
// chains to delete.
func writeTable(b *strings.Builder, table string, builtin []kubeChain, chains []kubeChain, deleted []string) {
	slices.SortFunc(chains[2:], func(a, b kubeChain) int { return strings.Compare(a.name, b.name) })
	fmt.Fprintf(b, "*%s\n", table)
	for _, c := range builtin {
		fmt.Fprintf(b, ":%s ACCEPT [0:0]\n", c.name)
	}
	for _, c := range chains {
		fmt.Fprintf(b, ":%s - [0:0]\n", c.name)
	}
	for _, c := range slices.Concat(builtin, chains) {
		for _, r := range c.rules {
			fmt.Fprintf(b, "-A %s %s\n", c.name, r)
		}
	}
	for _, c := range deleted {
		fmt.Fprintf(b, "-X %s\n", c)
	}
	b.WriteString("COMMIT\n")
}

// kubeFilterBuiltin is the filter table's built-in chains with the jumps
// kube-proxy (iptablesJumpChains) and the kubelet (KUBE-FIREWALL) insert.
var kubeFilterBuiltin = []kubeChain{
	{"INPUT", []string{
		`-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS`,
		`-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`,
		`-j KUBE-FIREWALL`,
	}},
	{"FORWARD", []string{
		`-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`,
		`-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`,
	}},
	{"OUTPUT", []string{
		`-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-j KUBE-FIREWALL`,
	}},
}

// kubeNATBuiltin is the nat table's built-in chains with kube-proxy's
// jumps.
var kubeNATBuiltin = []kubeChain{
	{"PREROUTING", []string{`-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`}},
	{"INPUT", nil},
	{"OUTPUT", []string{`-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`}},
	{"POSTROUTING", []string{`-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`}},
}

// kubeFilterChains is the filter table kube-proxy writes on every sync;
// none of it depends on Services that have endpoints.
func kubeFilterChains() []kubeChain {
	return []kubeChain{
		{"KUBE-NODEPORTS", nil},
		{"KUBE-SERVICES", nil},
		{"KUBE-EXTERNAL-SERVICES", nil},
		{"KUBE-FIREWALL", []string{`-m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`}},
		{"KUBE-FORWARD", []string{
			`-m conntrack --ctstate INVALID -j DROP`,
			`-m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT`,
			`-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
		}},
		{"KUBE-PROXY-FIREWALL", nil},
	}
}

// natChains is the nat table kube-proxy writes when the Services in
// written changed: its own chains, KUBE-SERVICES with every Service, and
// the KUBE-SVC and KUBE-SEP chains of the written ones. (A sync leaves out
// the chains of Services that did not change.)
func (c *kubeCluster) natChains(written []*kubeService) []kubeChain {
	var services []string
	for _, s := range c.services {
		services = append(services, fmt.Sprintf(`-m comment --comment "%s cluster IP" -m %s -p %s -d %s --dport %d -j %s`, s.portName(), kubeProto, kubeProto, s.clusterIP, s.port, s.svcChain()))
	}
	services = append(services, `-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`)
	chains := []kubeChain{
		{"KUBE-NODEPORTS", nil},
		{"KUBE-SERVICES", services},
		{"KUBE-MARK-MASQ", []string{"-j MARK --or-mark 0x4000"}},
		{"KUBE-POSTROUTING", []string{
			"-m mark ! --mark 0x4000/0x4000 -j RETURN",
			"-j MARK --xor-mark 0x4000",
			`-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`,
		}},
	}
	for _, s := range written {
		chains = append(chains, c.serviceChains(s)...)
	}
	return chains
}

// serviceChains returns a Service's KUBE-SVC chain and its endpoints'
// KUBE-SEP chains.
func (c *kubeCluster) serviceChains(s *kubeService) []kubeChain {
	// comment is kube-proxy's appendServiceCommentLocked: left out in a
	// large cluster.
	comment := func(text string) string {
		if c.large {
			return ""
		}
		if strings.Contains(text, " ") {
			text = `"` + text + `"`
		}
		return "-m comment --comment " + text + " "
	}
	svc := kubeChain{name: s.svcChain(), rules: []string{
		fmt.Sprintf(`-m comment --comment "%s cluster IP" -m %s -p %s -d %s --dport %d ! -s %s -j KUBE-MARK-MASQ`, s.portName(), kubeProto, kubeProto, s.clusterIP, s.port, kubeClusterCIDR),
	}}
	chains := []kubeChain{svc}
	for i, ep := range s.endpoints {
		// Each rule takes 1/(endpoints left) of what reaches it; the last
		// takes the rest.
		probability := ""
		if left := len(s.endpoints) - i; left > 1 {
			probability = fmt.Sprintf("-m statistic --mode random --probability %0.10f ", 1/float64(left))
		}
		chains[0].rules = append(chains[0].rules, comment(s.portName()+" -> "+ep.String())+probability+"-j "+s.sepChain(ep))
		chains = append(chains, kubeChain{name: s.sepChain(ep), rules: []string{
			comment(s.portName()) + fmt.Sprintf("-s %s -j KUBE-MARK-MASQ", ep.Addr()),
			comment(s.portName()) + fmt.Sprintf("-m %s -p %s -j DNAT --to-destination %s", kubeProto, kubeProto, ep),
		}})
	}
	return chains
}

// iptables returns the ruleset as a full sync writes it, with the
// built-in chains' jumps.
func (c *kubeCluster) iptables() string {
	var b strings.Builder
	writeTable(&b, "filter", kubeFilterBuiltin, kubeFilterChains(), nil)
	writeTable(&b, "nat", kubeNATBuiltin, c.natChains(c.services), nil)
	return b.String()
}

// kubeNFTSetup is the part of kube-proxy's nftables transaction that does
// not depend on Services (setupNFTables), with the Service CIDR and the
// node's address to fill in.
const kubeNFTSetup = `add table ip kube-proxy { comment "rules for kube-proxy" ; }

add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }

add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }

add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check

add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { %s } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports

add element ip kube-proxy nodeport-ips { %s }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
`

// writeNFT writes what a sync writes for a Service whose chains it
// rewrites: the chains added and flushed (the endpoints' first, which the
// Service's chain jumps to), the Service's map elements when elements is
// set, then the chains' rules.
func (s *kubeService) writeNFT(b *strings.Builder, elements bool) {
	var chains []string
	for _, ep := range s.endpoints {
		chains = append(chains, s.nftEndpointChain(ep))
	}
	chains = append(chains, s.nftChain())
	for _, ch := range chains {
		fmt.Fprintf(b, "add chain ip kube-proxy %[1]s\nflush chain ip kube-proxy %[1]s\n", ch)
	}
	if elements {
		fmt.Fprintf(b, "add element ip kube-proxy cluster-ips { %s }\n", s.clusterIP)
		fmt.Fprintf(b, "add element ip kube-proxy service-ips { %s . %s . %d : goto %s }\n", s.clusterIP, kubeProto, s.port, s.nftChain())
	}
	var vmap []string
	for i, ep := range s.endpoints {
		vmap = append(vmap, fmt.Sprintf("%d : goto %s", i, s.nftEndpointChain(ep)))
	}
	fmt.Fprintf(b, "add rule ip kube-proxy %s ip daddr %s ip saddr != %s jump mark-for-masquerade\n", s.nftChain(), s.clusterIP, kubeClusterCIDR)
	fmt.Fprintf(b, "add rule ip kube-proxy %s numgen random mod %d vmap { %s }\n", s.nftChain(), len(s.endpoints), strings.Join(vmap, " , "))
	for _, ep := range s.endpoints {
		fmt.Fprintf(b, "add rule ip kube-proxy %s ip saddr %s jump mark-for-masquerade\n", s.nftEndpointChain(ep), ep.Addr())
		fmt.Fprintf(b, "add rule ip kube-proxy %s meta l4proto %s dnat to %s\n", s.nftEndpointChain(ep), kubeProto, ep)
	}
}

// nft returns kube-proxy's nftables transaction for a full sync, after a
// flush ruleset.
func (c *kubeCluster) nft() string {
	var b strings.Builder
	b.WriteString("flush ruleset\n")
	fmt.Fprintf(&b, kubeNFTSetup, kubeServiceCIDR, HostAddr)
	for _, s := range c.services {
		b.WriteString("\n")
		s.writeNFT(&b, true)
	}
	return b.String()
}

// kubeUpdate moves the last endpoint of the middle Service to a new pod
// and writes what kube-proxy's next (partial) sync writes for it.
//
// iptables: the filter table and kube-proxy's own nat chains in full, as
// every sync writes them (KUBE-SERVICES with every Service), and the
// changed Service's chains; the stale KUBE-SEP chain is flushed and
// deleted - except in a large cluster, where kube-proxy deletes stale
// chains at most once a sync period and this sync leaves it be.
//
// nftables: the Service's chains added and flushed, their rules added
// again, the stale endpoint chain flushed. (kube-proxy deletes it a second
// later, in a transaction of its own.) The maps hold the Service's chain,
// which keeps its name, so they do not change.
func (g *Generated) kubeUpdate(c *kubeCluster) {
	s := c.services[middle(len(c.services))-1]
	old := s.endpoints[len(s.endpoints)-1]
	s.endpoints[len(s.endpoints)-1] = netip.AddrPortFrom(c.nextPod(), old.Port())

	var b strings.Builder
	writeTable(&b, "filter", nil, kubeFilterChains(), nil)
	nat := c.natChains([]*kubeService{s})
	var deleted []string
	if !c.large {
		nat = append(nat, kubeChain{name: s.sepChain(old)})
		deleted = append(deleted, s.sepChain(old))
	}
	writeTable(&b, "nat", nil, nat, deleted)

	var nft strings.Builder
	s.writeNFT(&nft, false)
	fmt.Fprintf(&nft, "flush chain ip kube-proxy %s\n", s.nftEndpointChain(old))

	g.UpdateName = "one Service"
	g.Update, g.NFTUpdate = b.String(), nft.String()
}
