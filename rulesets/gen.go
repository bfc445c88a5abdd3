// Package rulesets generates the rulesets bpftables is measured with:
// seeded and deterministic, each as iptables-restore text, the same intent
// for nftables, the traffic to probe it with, and one small change to it.
//
//   - Blocklist: N `-s ADDR/32 -j DROP`, traffic from other addresses.
//   - Allowlist: N `-d ADDR -p tcp --dport PORT -j ACCEPT` under a DROP
//     policy, traffic to the last rule.
//   - Mixed: ClassBench-like rules - source and destination prefixes of
//     mixed lengths, port ranges, protocols - with traffic drawn from them,
//     and a quarter of it matching no rule.
//   - KubeProxy: N Services of KubeEndpoints endpoints each, in the chains
//     kube-proxy writes (kubeproxy.go), traffic to the last Service.
//   - Docker: N published ports, one container each, in the chains Docker
//     writes (docker.go), traffic to the last published port.
package rulesets

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"strings"

	"github.com/bpftables/bpftables/translator/packet"
)

// Family names what the generated rules and packets use.
type Family int

// Generated families.
const (
	Blocklist Family = iota
	Allowlist
	Mixed
	KubeProxy
	Docker
)

// Families lists the families whose rules are all in the filter table, in
// one built-in chain: what a filter-only datapath can run.
var Families = []Family{Blocklist, Allowlist, Mixed}

// Shaped lists the families shaped like a tool's own rules, with nat
// tables and stateful matches.
var Shaped = []Family{KubeProxy, Docker}

// All lists every family, Families then Shaped.
var All = slices.Concat(Families, Shaped)

// HostAddr is the host's own address in the shaped families: the node IP
// kube-proxy's nftables mode takes NodePorts on, and where the Docker
// family's packets go to reach published ports. It is 192.0.2.1, the
// firewall's client-side address in internal/nettest's topology, so that
// there traffic to it is the host's own, as Docker's DNAT requires.
var HostAddr = netip.MustParseAddr("192.0.2.1")

// String returns the family's name.
func (f Family) String() string {
	return [...]string{"blocklist", "allowlist", "mixed", "kube-proxy", "docker"}[f]
}

// Generated is a generated ruleset and its probe traffic.
type Generated struct {
	Family Family
	// N is how many rules, Services or published ports there are.
	N int
	// Chain is the built-in chain of the filter table the rules are in:
	// INPUT or FORWARD. The shaped families' rules are where their tool
	// puts them, whichever; their packets are for FORWARD (and the nat
	// table's PREROUTING before it).
	Chain string
	// Rules is iptables-restore text: the filter table, and for the
	// shaped families the nat (and raw) tables too.
	Rules string
	// NFT is the same intent as an nft -f script for the kernel's
	// nftables, written as an nftables user would: sets where the rules
	// are one shape (blocklist, allowlist), rules where first-match order
	// among overlapping rules matters (mixed), kube-proxy's own nftables
	// mode, Docker's with its per-port rules as sets and maps. It starts
	// with flush ruleset: it replaces everything in the namespace.
	NFT string
	// Packets are the probe packets, to the chain's hook.
	Packets []packet.Spec
	// Update is an iptables-restore script, for --noflush, that makes one
	// small change to Rules as a user of the family would: blocklist,
	// allowlist and mixed replace the middle rule of the chain (-R CHAIN
	// (N+1)/2); kube-proxy's is what it writes when one endpoint of the
	// middle Service changes; Docker's publishes one more port. It applies
	// to the ruleset Rules loads, once: load Rules again before applying
	// it again.
	Update string
	// NFTUpdate is the nft -f script a user of nftables would run for the
	// same change to NFT: set and map elements deleted and added, or
	// kube-proxy's own transaction. Mixed replaces its rule by handle,
	// `replace rule ip bench CHAIN handle H ...`: nft numbers the chains
	// and rules of a table from 1 in the order it adds them, so in the
	// table NFT creates (after its flush ruleset) rule k of the chain has
	// handle k+1. Like Update, it applies once to the ruleset NFT loads:
	// elements it deletes are gone afterwards.
	NFTUpdate string
	// UpdateName says what Update changes: "one rule", "one Service" or
	// "one port".
	UpdateName string
}

// Generate makes a ruleset of n rules of the family in INPUT from the
// seed, with count probe packets.
func Generate(f Family, n int, seed int64, count int) *Generated {
	return GenerateIn(f, n, seed, count, "INPUT")
}

// GenerateIn is Generate with the rules in chain, INPUT or FORWARD; the
// same seed gives the same rules and packets in either.
func GenerateIn(f Family, n int, seed int64, count int, chain string) *Generated {
	r := rand.New(rand.NewSource(seed))
	g := &Generated{Family: f, N: n, Chain: chain}
	switch f {
	case Blocklist:
		g.blocklist(r, count)
	case Allowlist:
		g.allowlist(r, count)
	case Mixed:
		g.mixed(r, count)
	case KubeProxy:
		g.kubeProxy(r, count)
	case Docker:
		g.docker(r, count)
	}
	return g
}

// middle is the number (from 1) of the rule an update replaces: the middle
// one of n, so that a chain held as a list is neither cut at its head nor
// at its tail.
func middle(n int) int { return (n + 1) / 2 }

// header starts the filter table with the chain's policy; the other
// built-in chains accept.
func (g *Generated) header(b *strings.Builder, policy string) {
	b.WriteString("*filter\n")
	for _, c := range []string{"INPUT", "FORWARD", "OUTPUT"} {
		p := "ACCEPT"
		if c == g.Chain {
			p = policy
		}
		fmt.Fprintf(b, ":%s %s [0:0]\n", c, p)
	}
}

// nftHeader starts the nft script: a table with the chain's base chain.
func (g *Generated) nftHeader(b *strings.Builder) {
	b.WriteString("flush ruleset\ntable ip bench {\n")
}

// nftChain writes the base chain of the generated chain's hook.
func (g *Generated) nftChain(b *strings.Builder, policy string, rules []string) {
	fmt.Fprintf(b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy %s;\n",
		strings.ToLower(g.Chain), strings.ToLower(g.Chain), policy)
	for _, r := range rules {
		fmt.Fprintf(b, "\t\t%s\n", r)
	}
	b.WriteString("\t}\n}\n")
}

// addr returns the i-th address of a /8 spread so rules differ.
func addr(base byte, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{base, byte(i >> 16), byte(i >> 8), byte(i)})
}

func (g *Generated) blocklist(r *rand.Rand, count int) {
	var b, nft strings.Builder
	g.header(&b, "ACCEPT")
	g.nftHeader(&nft)
	nft.WriteString("\tset blocked {\n\t\ttype ipv4_addr\n\t\telements = {")
	seen := map[netip.Addr]bool{}
	list := make([]netip.Addr, 0, g.N)
	for i := 0; i < g.N; i++ {
		a := addr(10, r.Intn(1<<22))
		list = append(list, a)
		fmt.Fprintf(&b, "-A %s -s %s/32 -j DROP\n", g.Chain, a)
		if !seen[a] { // a set holds an address once
			if len(seen) > 0 {
				nft.WriteString(",")
			}
			seen[a] = true
			fmt.Fprintf(&nft, "\n\t\t\t%s", a)
		}
	}
	nft.WriteString(" }\n\t}\n")
	g.nftChain(&nft, "accept", []string{"ip saddr @blocked drop"})
	b.WriteString("COMMIT\n")
	g.Rules, g.NFT = b.String(), nft.String()
	for i := 0; i < count; i++ {
		// 11.x.y.z: never in the list
		g.Packets = append(g.Packets, packet.Spec{Src: addr(11, r.Intn(1<<22)), Dst: addr(192, 1), Proto: packet.ProtoTCP, SrcPort: uint16(1024 + r.Intn(60000)), DstPort: 443, TCPFlags: packet.SYN})
	}
	g.blocklistUpdate(r, list)
}

// blocklistUpdate blocks an address not yet in the list in place of the
// middle rule's.
func (g *Generated) blocklistUpdate(r *rand.Rand, list []netip.Addr) {
	if len(list) == 0 {
		return
	}
	times := map[netip.Addr]int{}
	for _, a := range list {
		times[a]++
	}
	k := middle(len(list))
	old, nu := list[k-1], list[k-1]
	for times[nu] > 0 {
		nu = addr(10, r.Intn(1<<22))
	}
	g.UpdateName = "one rule"
	g.Update = fmt.Sprintf("*filter\n-R %s %d -s %s/32 -j DROP\nCOMMIT\n", g.Chain, k, nu)
	var nft strings.Builder
	if times[old] == 1 { // else another rule still blocks it
		fmt.Fprintf(&nft, "delete element ip bench blocked { %s }\n", old)
	}
	fmt.Fprintf(&nft, "add element ip bench blocked { %s }\n", nu)
	g.NFTUpdate = nft.String()
}

func (g *Generated) allowlist(r *rand.Rand, count int) {
	var b, nft strings.Builder
	g.header(&b, "DROP")
	g.nftHeader(&nft)
	nft.WriteString("\tset allowed {\n\t\ttype ipv4_addr . inet_service\n\t\telements = {")
	var last netip.Addr
	var lastPort int
	ports := make([]int, 0, g.N)
	for i := 0; i < g.N; i++ {
		last, lastPort = addr(10, i), 1+r.Intn(65535)
		ports = append(ports, lastPort)
		fmt.Fprintf(&b, "-A %s -d %s/32 -p tcp -m tcp --dport %d -j ACCEPT\n", g.Chain, last, lastPort)
		if i > 0 {
			nft.WriteString(",")
		}
		fmt.Fprintf(&nft, "\n\t\t\t%s . %d", last, lastPort)
	}
	nft.WriteString(" }\n\t}\n")
	g.nftChain(&nft, "drop", []string{"ip daddr . tcp dport @allowed accept"})
	b.WriteString("COMMIT\n")
	g.Rules, g.NFT = b.String(), nft.String()
	for i := 0; i < count; i++ {
		g.Packets = append(g.Packets, packet.Spec{Src: addr(172, r.Intn(1<<16)), Dst: last, Proto: packet.ProtoTCP, SrcPort: uint16(1024 + r.Intn(60000)), DstPort: uint16(lastPort), TCPFlags: packet.SYN})
	}
	g.allowlistUpdate(r, ports)
}

// allowlistUpdate moves the middle rule's service to another port.
func (g *Generated) allowlistUpdate(r *rand.Rand, ports []int) {
	if len(ports) == 0 {
		return
	}
	k := middle(len(ports))
	a, old, nu := addr(10, k-1), ports[k-1], ports[k-1]
	for nu == old {
		nu = 1 + r.Intn(65535)
	}
	g.UpdateName = "one rule"
	g.Update = fmt.Sprintf("*filter\n-R %s %d -d %s/32 -p tcp -m tcp --dport %d -j ACCEPT\nCOMMIT\n", g.Chain, k, a, nu)
	g.NFTUpdate = fmt.Sprintf("delete element ip bench allowed { %s . %d }\nadd element ip bench allowed { %s . %d }\n", a, old, a, nu)
}

// mixedRule is one ClassBench-like rule.
type mixedRule struct {
	src, dst     netip.Prefix
	proto        uint8 // 0 any
	sport, dport [2]uint16
	accept       bool
}

// prefixLen draws a prefix length as ClassBench's ACL seeds spread them:
// many host routes and /24s, some wide prefixes, some wildcards.
func prefixLen(r *rand.Rand) int {
	switch x := r.Intn(100); {
	case x < 15:
		return 0
	case x < 25:
		return 8 + r.Intn(8)
	case x < 55:
		return 16 + r.Intn(9)
	default:
		return 25 + r.Intn(8)
	}
}

func portRange(r *rand.Rand) [2]uint16 {
	switch x := r.Intn(100); {
	case x < 45:
		return [2]uint16{0, 65535}
	case x < 80:
		p := []uint16{22, 25, 53, 80, 110, 123, 143, 443, 993, 3306, 5432, 8080}[r.Intn(12)]
		return [2]uint16{p, p}
	case x < 90:
		return [2]uint16{1024, 65535}
	default:
		lo := uint16(r.Intn(60000))
		return [2]uint16{lo, lo + uint16(r.Intn(5000))}
	}
}

// drawMixed draws one ClassBench-like rule.
func drawMixed(r *rand.Rand) mixedRule {
	// ACL rules name at least one address: a rule with neither would
	// match the traffic from outside 10/8 that is meant to match nothing.
	sl, dl := prefixLen(r), prefixLen(r)
	for sl == 0 && dl == 0 {
		dl = prefixLen(r)
	}
	src, _ := addr(10, r.Intn(1<<24)).Prefix(sl)
	dst, _ := addr(10, r.Intn(1<<24)).Prefix(dl)
	mr := mixedRule{src: src, dst: dst, sport: [2]uint16{0, 65535}, dport: [2]uint16{0, 65535}, accept: r.Intn(3) > 0}
	switch x := r.Intn(100); {
	case x < 55:
		mr.proto = packet.ProtoTCP
	case x < 85:
		mr.proto = packet.ProtoUDP
	case x < 90:
		mr.proto = packet.ProtoICMP
	}
	if mr.proto == packet.ProtoTCP || mr.proto == packet.ProtoUDP {
		mr.sport, mr.dport = portRange(r), portRange(r)
		if r.Intn(4) > 0 {
			mr.sport = [2]uint16{0, 65535} // source ports are mostly open
		}
	}
	return mr
}

func (g *Generated) mixed(r *rand.Rand, count int) {
	var rules []mixedRule
	for i := 0; i < g.N; i++ {
		rules = append(rules, drawMixed(r))
	}
	var b strings.Builder
	g.header(&b, "DROP")
	nftRules := make([]string, 0, len(rules))
	for _, mr := range rules {
		nftRules = append(nftRules, mr.nft())
		fmt.Fprintf(&b, "-A %s %s\n", g.Chain, mr.iptables())
	}
	b.WriteString("COMMIT\n")
	g.Rules = b.String()
	var nft strings.Builder
	g.nftHeader(&nft)
	g.nftChain(&nft, "drop", nftRules)
	g.NFT = nft.String()
	// Traffic: three packets in four have headers drawn from random
	// rules, so they match somewhere in the list as real traffic would;
	// the fourth matches no rule at all (addresses outside 10/8, checked
	// against every rule), the worst case for a classifier that scans.
	for i := 0; i < count; i++ {
		if i%4 == 3 {
			g.Packets = append(g.Packets, unmatched(r, rules))
			continue
		}
		mr := rules[r.Intn(len(rules))]
		s := packet.Spec{Src: inPrefix(r, mr.src), Dst: inPrefix(r, mr.dst), Proto: mr.proto}
		if s.Proto == 0 {
			s.Proto = packet.ProtoTCP
		}
		s.SrcPort = inRange(r, mr.sport)
		s.DstPort = inRange(r, mr.dport)
		if s.Proto == packet.ProtoTCP {
			s.TCPFlags = packet.SYN
		}
		if s.Proto == packet.ProtoICMP {
			s.ICMPType = 8
		}
		g.Packets = append(g.Packets, s)
	}
	g.mixedUpdate(r)
}

// mixedUpdate replaces the middle rule with a new one.
func (g *Generated) mixedUpdate(r *rand.Rand) {
	if g.N == 0 {
		return
	}
	k, mr := middle(g.N), drawMixed(r)
	g.UpdateName = "one rule"
	g.Update = fmt.Sprintf("*filter\n-R %s %d %s\nCOMMIT\n", g.Chain, k, mr.iptables())
	g.NFTUpdate = fmt.Sprintf("replace rule ip bench %s handle %d %s\n", strings.ToLower(g.Chain), k+1, mr.nft())
}

// iptables returns the rule's match and target in iptables' syntax.
func (mr mixedRule) iptables() string {
	var parts []string
	if mr.src.Bits() > 0 {
		parts = append(parts, "-s "+mr.src.String())
	}
	if mr.dst.Bits() > 0 {
		parts = append(parts, "-d "+mr.dst.String())
	}
	if mr.proto != 0 {
		parts = append(parts, "-p "+map[uint8]string{6: "tcp", 17: "udp", 1: "icmp"}[mr.proto])
	}
	for _, p := range []struct {
		name string
		r    [2]uint16
	}{{"sport", mr.sport}, {"dport", mr.dport}} {
		switch {
		case p.r == [2]uint16{0, 65535}:
		case p.r[0] == p.r[1]:
			parts = append(parts, fmt.Sprintf("--%s %d", p.name, p.r[0]))
		default:
			parts = append(parts, fmt.Sprintf("--%s %d:%d", p.name, p.r[0], p.r[1]))
		}
	}
	if mr.accept {
		parts = append(parts, "-j ACCEPT")
	} else {
		parts = append(parts, "-j DROP")
	}
	return strings.Join(parts, " ")
}

// nft returns the rule in nft's syntax. Rules that overlap with other
// verdicts keep their order only as rules: no nftables set can say that
// the first of two overlapping entries wins.
func (mr mixedRule) nft() string {
	var parts []string
	if mr.src.Bits() > 0 {
		parts = append(parts, "ip saddr "+mr.src.String())
	}
	if mr.dst.Bits() > 0 {
		parts = append(parts, "ip daddr "+mr.dst.String())
	}
	proto := map[uint8]string{6: "tcp", 17: "udp", 1: "icmp"}[mr.proto]
	if proto != "" {
		parts = append(parts, "meta l4proto "+proto)
	}
	for _, p := range []struct {
		name string
		r    [2]uint16
	}{{"sport", mr.sport}, {"dport", mr.dport}} {
		switch {
		case p.r == [2]uint16{0, 65535}:
		case p.r[0] == p.r[1]:
			parts = append(parts, fmt.Sprintf("%s %s %d", proto, p.name, p.r[0]))
		default:
			parts = append(parts, fmt.Sprintf("%s %s %d-%d", proto, p.name, p.r[0], p.r[1]))
		}
	}
	if mr.accept {
		parts = append(parts, "accept")
	} else {
		parts = append(parts, "drop")
	}
	return strings.Join(parts, " ")
}

// matches reports whether a packet matches a rule.
func (mr mixedRule) matches(s packet.Spec) bool {
	if !mr.src.Contains(s.Src) || !mr.dst.Contains(s.Dst) || mr.proto != 0 && mr.proto != s.Proto {
		return false
	}
	if s.Proto != packet.ProtoTCP && s.Proto != packet.ProtoUDP {
		return true // port ranges only restrict TCP and UDP rules
	}
	return mr.sport[0] <= s.SrcPort && s.SrcPort <= mr.sport[1] && mr.dport[0] <= s.DstPort && s.DstPort <= mr.dport[1]
}

// unmatched draws TCP and UDP packets from outside 10/8 until one matches
// no rule (rules with wildcard addresses may still match the first).
func unmatched(r *rand.Rand, rules []mixedRule) packet.Spec {
	var s packet.Spec
	for try := 0; try < 1000; try++ {
		s = packet.Spec{Src: addr(172, r.Intn(1<<20)), Dst: addr(192, r.Intn(1<<16)), Proto: packet.ProtoTCP, SrcPort: uint16(1024 + r.Intn(60000)), DstPort: uint16(r.Intn(65536)), TCPFlags: packet.SYN}
		if r.Intn(3) == 0 {
			s.Proto, s.TCPFlags = packet.ProtoUDP, 0
		}
		hit := false
		for _, mr := range rules {
			if mr.matches(s) {
				hit = true
				break
			}
		}
		if !hit {
			return s
		}
	}
	return s
}

func inPrefix(r *rand.Rand, p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		if r.Intn(2) == 1 {
			a[i/8] |= 1 << (7 - i%8)
		}
	}
	return netip.AddrFrom4(a)
}

func inRange(r *rand.Rand, pr [2]uint16) uint16 {
	return pr[0] + uint16(r.Intn(int(pr[1])-int(pr[0])+1))
}
