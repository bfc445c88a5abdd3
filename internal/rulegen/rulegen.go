// Package rulegen generates seeded random rulesets and packets for
// property tests: rulesets that use every stateless match the datapath
// compiles, user chains with jumps, gotos and RETURN, and runs of
// same-shape rules that become hash and LPM segments; packets biased
// towards the values the rules test, so that rules really match.
package rulegen

import (
	"fmt"
	"math/rand"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// Ifaces are the interface names generated rules and packets use.
var Ifaces = []string{"eth0", "eth1", "veth1", "wg0", "lo"}

var ifacePatterns = []string{"eth0", "eth1", "eth+", "veth+", "wg0", "lo", "+"}

// Gen generates rulesets and packets from one seed.
type Gen struct {
	R      *rand.Rand
	Family translator.Family
	// Pool, if set, are the addresses rules and packets are made of
	// (with their last byte varied now and then) instead of 10.x.y.z or
	// 2001:db8::x:y: a topology's addresses, for end-to-end tests.
	Pool []netip.Addr
	// addrs and ports the rules use, for biasing packets.
	addrs []netip.Prefix
	ports []uint16
	marks []uint32
}

// New returns a generator for the family.
func New(seed int64, fam translator.Family) *Gen {
	return &Gen{R: rand.New(rand.NewSource(seed)), Family: fam}
}

func (g *Gen) pick(s []string) string { return s[g.R.Intn(len(s))] }

func (g *Gen) chance(p float64) bool { return g.R.Float64() < p }

// addr returns a random address from a small pool, so rules and packets
// meet: 10.x.y.z or 2001:db8::x:y.
func (g *Gen) addr() netip.Addr {
	if len(g.Pool) > 0 {
		a := g.Pool[g.R.Intn(len(g.Pool))].AsSlice()
		if g.chance(0.2) {
			a[len(a)-1] = byte(g.R.Intn(256))
		}
		addr, _ := netip.AddrFromSlice(a)
		return addr
	}
	if g.Family == translator.IPv6 {
		var b [16]byte
		copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8})
		b[12], b[13], b[14], b[15] = byte(g.R.Intn(4)), byte(g.R.Intn(4)), byte(g.R.Intn(8)), byte(g.R.Intn(256))
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{10, byte(g.R.Intn(4)), byte(g.R.Intn(8)), byte(g.R.Intn(256))})
}

func (g *Gen) prefix() netip.Prefix {
	bits := g.Family.Bits()
	var l int
	switch g.R.Intn(4) {
	case 0:
		l = bits
	case 1:
		l = bits - 8
	case 2:
		l = bits - 2 - g.R.Intn(12)
	default:
		l = bits - 16 - g.R.Intn(8)
	}
	p, _ := g.addr().Prefix(l)
	g.addrs = append(g.addrs, p)
	return p
}

func (g *Gen) port() uint16 {
	p := []uint16{22, 53, 80, 443, 1024, 8080, 65535, 0, 123}[g.R.Intn(9)]
	if g.chance(0.3) {
		p = uint16(g.R.Intn(65536))
	}
	g.ports = append(g.ports, p)
	return p
}

func (g *Gen) portRange() string {
	a, b := g.port(), g.port()
	if a > b {
		a, b = b, a
	}
	switch g.R.Intn(4) {
	case 0:
		return fmt.Sprint(a)
	case 1:
		return fmt.Sprintf("%d:%d", a, b)
	case 2:
		return fmt.Sprintf("%d:", a)
	}
	return fmt.Sprintf(":%d", b)
}

// multiportList returns a multiport list: ports and full ranges.
func (g *Gen) multiportList() string {
	a, b := g.port(), g.port()
	if a > b {
		a, b = b, a
	}
	if a == b { // a multiport range must not be empty or a single port
		if b < 65535 {
			b++
		} else {
			a--
		}
	}
	return fmt.Sprintf("%d,%d,%d:%d", g.port(), g.port(), a, b)
}

func (g *Gen) inv() string {
	if g.chance(0.2) {
		return "! "
	}
	return ""
}

// matchSpec returns random matches for a rule in a chain reached from the
// hooks in hooks.
func (g *Gen) matchSpec(hooks translator.HookMask) string {
	var b strings.Builder
	add := func(s string) { b.WriteString(" " + s) }
	if g.chance(0.4) {
		add(g.inv() + "-s " + g.prefix().String())
	}
	if g.chance(0.3) {
		add(g.inv() + "-d " + g.prefix().String())
	}
	if g.chance(0.2) && !hooks.Has(translator.Output) {
		add(g.inv() + "-i " + g.pick(ifacePatterns))
	}
	if g.chance(0.2) && !hooks.Has(translator.Input) {
		add(g.inv() + "-o " + g.pick(ifacePatterns))
	}
	if g.Family == translator.IPv4 && g.chance(0.05) {
		add(g.inv() + "-f")
	}
	icmp := "icmp"
	if g.Family == translator.IPv6 {
		icmp = "ipv6-icmp"
	}
	switch g.R.Intn(6) {
	case 0, 1:
		add("-p tcp")
		if g.chance(0.6) {
			add(g.inv() + "--dport " + g.portRange())
		}
		if g.chance(0.3) {
			add(g.inv() + "--sport " + g.portRange())
		}
		switch g.R.Intn(5) {
		case 0:
			add(g.inv() + "--syn")
		case 1:
			add(g.inv() + "--tcp-flags " + g.pick([]string{"SYN,ACK SYN", "ALL NONE", "FIN,RST RST", "ACK ACK", "ALL FIN,PSH,URG"}))
		}
		if g.chance(0.2) {
			add("-m multiport " + g.inv() + g.pick([]string{"--dports", "--sports", "--ports"}) + " " + g.multiportList())
		}
	case 2:
		add("-p udp")
		if g.chance(0.6) {
			add(g.inv() + "--dport " + g.portRange())
		}
		if g.chance(0.3) {
			add(g.inv() + "--sport " + g.portRange())
		}
	case 3:
		add("-p " + icmp)
		if g.chance(0.7) {
			types := []string{"0", "3", "3/1", "8", "11", "128", "129", "1/4", "135"}
			opt := "--icmp-type"
			if g.Family == translator.IPv6 {
				opt = "--icmpv6-type"
			}
			add(g.inv() + opt + " " + g.pick(types))
		}
	case 4:
		if g.chance(0.5) {
			add(g.inv() + "-p " + g.pick([]string{"tcp", "udp", icmp, "gre", "47"}))
		}
	}
	if g.chance(0.1) {
		a, c := g.addr(), g.addr()
		if a.Compare(c) > 0 {
			a, c = c, a
		}
		add(fmt.Sprintf("-m iprange %s--%s-range %s-%s", g.inv(), g.pick([]string{"src", "dst"}), a, c))
	}
	if g.chance(0.1) {
		lo := g.R.Intn(200)
		add(fmt.Sprintf("-m length %s--length %d:%d", g.inv(), lo, lo+g.R.Intn(300)))
	}
	if g.chance(0.08) {
		v := []int{1, 2, 63, 64, 128, 255, 0}[g.R.Intn(7)]
		if g.Family == translator.IPv6 {
			add(fmt.Sprintf("-m hl %s --hl-%s %d", "", g.pick([]string{"eq", "lt", "gt"}), v))
		} else {
			add(fmt.Sprintf("-m ttl --ttl-%s %d", g.pick([]string{"eq", "lt", "gt"}), v))
		}
	}
	if g.chance(0.08) {
		add(fmt.Sprintf("-m tos %s--tos 0x%02x/0x%02x", g.inv(), g.R.Intn(256)&0xfc, 0xfc))
	}
	if g.chance(0.06) {
		add(fmt.Sprintf("-m dscp %s--dscp %d", g.inv(), []int{0, 10, 46, 8}[g.R.Intn(4)]))
	}
	if g.chance(0.06) {
		add("-m pkttype " + g.inv() + "--pkt-type " + g.pick([]string{"unicast", "broadcast", "multicast"}))
	}
	if g.chance(0.08) {
		m := uint32(g.R.Intn(4))
		g.marks = append(g.marks, m)
		add(fmt.Sprintf("-m mark %s--mark 0x%x/0x3", g.inv(), m))
	}
	if g.chance(0.05) && !hooks.Has(translator.Output) {
		add("-m mac " + g.inv() + "--mac-source " + g.pick([]string{"02:00:00:00:00:01", "02:00:00:00:00:02"}))
	}
	if g.chance(0.1) {
		add(`-m comment --comment "generated rule"`)
	}
	return b.String()
}

// target returns a random target; chains are the user chains a rule of
// chain index ci may jump to (higher indexes, so there are no loops).
func (g *Gen) target(chains []string, ci int) string {
	r := g.R.Intn(100)
	switch {
	case r < 25:
		return " -j ACCEPT"
	case r < 50:
		return " -j DROP"
	case r < 58 && ci >= 0:
		return " -j RETURN"
	case r < 75 && ci+1 < len(chains):
		return " -j " + chains[ci+1+g.R.Intn(len(chains)-ci-1)]
	case r < 80 && ci+1 < len(chains):
		return " -g " + chains[ci+1+g.R.Intn(len(chains)-ci-1)]
	case r < 90:
		return ""
	}
	return " -j DROP"
}

// mixedTarget returns a target for a rule of a mixed run: verdicts
// mostly, some rules without a target, few jumps (a run of jumps that
// return would exceed the tail-call limit: every one can match).
func (g *Gen) mixedTarget(chains []string, ci int) string {
	switch r := g.R.Intn(100); {
	case r < 3 && ci+1 < len(chains):
		return " -j " + chains[ci+1+g.R.Intn(len(chains)-ci-1)]
	case r < 4 && ci+1 < len(chains):
		return " -g " + chains[ci+1+g.R.Intn(len(chains)-ci-1)]
	case r < 8 && ci >= 0:
		return " -j RETURN"
	case r < 20:
		return ""
	case r < 60:
		return " -j ACCEPT"
	}
	return " -j DROP"
}

// mixedSpec returns matches of the kinds a bit-vector segment classifies:
// prefixes, protocols, ports, ranges and port lists, ICMP types, a few
// small numeric fields, each possibly inverted - and no others, so that
// runs of them become bit-vector segments.
func (g *Gen) mixedSpec() string {
	var b strings.Builder
	add := func(s string) { b.WriteString(" " + s) }
	if g.chance(0.6) {
		add(g.inv() + "-s " + g.prefix().String())
	}
	if g.chance(0.6) {
		add(g.inv() + "-d " + g.prefix().String())
	}
	icmp := "icmp"
	if g.Family == translator.IPv6 {
		icmp = "ipv6-icmp"
	}
	ports := func() {
		if g.chance(0.7) {
			add(g.inv() + "--dport " + g.portRange())
		}
		if g.chance(0.3) {
			add(g.inv() + "--sport " + g.portRange())
		}
		if g.chance(0.1) {
			add("-m multiport " + g.inv() + g.pick([]string{"--dports", "--sports"}) + " " + g.multiportList())
		}
	}
	switch g.R.Intn(6) {
	case 0, 1:
		add("-p tcp")
		ports()
		if g.chance(0.1) {
			add(g.inv() + "--syn")
		}
	case 2:
		add("-p udp")
		ports()
	case 3:
		add("-p " + icmp)
		if g.chance(0.5) {
			opt := "--icmp-type"
			if g.Family == translator.IPv6 {
				opt = "--icmpv6-type"
			}
			add(g.inv() + opt + " " + g.pick([]string{"0", "3", "3/1", "8", "11", "128", "129", "135"}))
		}
	case 4:
		if g.chance(0.6) {
			add(g.inv() + "-p " + g.pick([]string{"tcp", "udp", icmp, "gre"}))
		}
	}
	if g.chance(0.04) {
		lo := g.R.Intn(200)
		add(fmt.Sprintf("-m length %s--length %d:%d", g.inv(), lo, lo+g.R.Intn(300)))
	}
	if g.chance(0.04) {
		add(fmt.Sprintf("-m tos %s--tos 0x%02x/0x%02x", g.inv(), g.R.Intn(256)&0xfc, 0xfc))
	}
	if g.Family == translator.IPv4 && g.chance(0.03) {
		add(g.inv() + "-f")
	}
	if g.chance(0.05) {
		add(`-m comment --comment "mixed rule"`)
	}
	return b.String()
}

// run returns a run of same-shape rules: a blocklist, an allowlist or a
// prefix list, which the plan turns into one hash or LPM segment.
func (g *Gen) run(n int) []string {
	var out []string
	switch g.R.Intn(3) {
	case 0:
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf(" -s %s -j %s", g.addrWithBits(g.Family.Bits()), g.pick([]string{"DROP", "DROP", "ACCEPT"})))
		}
	case 1:
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf(" -d %s -p tcp -m tcp --dport %d -j %s", g.addrWithBits(g.Family.Bits()), g.port(), g.pick([]string{"ACCEPT", "ACCEPT", "DROP"})))
		}
	default:
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf(" -s %s -j DROP", g.prefix()))
		}
	}
	return out
}

func (g *Gen) addrWithBits(bits int) string {
	p, _ := g.addr().Prefix(bits)
	g.addrs = append(g.addrs, p)
	return p.String()
}

// Ruleset returns iptables-restore text for the filter table with about n
// rules in all.
func (g *Gen) Ruleset(n int) string {
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, c := range []string{"INPUT", "FORWARD", "OUTPUT"} {
		fmt.Fprintf(&b, ":%s %s [0:0]\n", c, g.pick([]string{"ACCEPT", "DROP"}))
	}
	nuser := g.R.Intn(5)
	var chains []string
	for i := 0; i < nuser; i++ {
		name := fmt.Sprintf("USER%d", i)
		chains = append(chains, name)
		fmt.Fprintf(&b, ":%s - [0:0]\n", name)
	}
	builtin := []struct {
		name  string
		hooks translator.HookMask
	}{{"INPUT", translator.Input.Mask()}, {"FORWARD", translator.Forward.Mask()}, {"OUTPUT", translator.Output.Mask()}}
	allHooks := translator.Input.Mask() | translator.Forward.Mask() | translator.Output.Mask()
	for written := 0; written < n; {
		ci := g.R.Intn(len(builtin) + len(chains))
		var name string
		hooks := allHooks
		jumpFrom := -1
		if ci < len(builtin) {
			name, hooks = builtin[ci].name, builtin[ci].hooks
		} else {
			jumpFrom = ci - len(builtin)
			name = chains[jumpFrom]
		}
		if g.chance(0.06) && n-written >= 16 {
			// a run of mixed shapes: a bit-vector segment
			k := 16 + g.R.Intn(min(300, n-written-15))
			for j := 0; j < k; j++ {
				t := g.mixedTarget(chains, jumpFrom)
				fmt.Fprintf(&b, "-A %s%s%s\n", name, g.mixedSpec(), t)
			}
			written += k
			continue
		}
		if g.chance(0.1) && n-written >= 8 {
			k := 4 + g.R.Intn(min(40, n-written-3))
			for _, r := range g.run(k) {
				fmt.Fprintf(&b, "-A %s%s\n", name, r)
			}
			written += k
			continue
		}
		from := jumpFrom
		if from < 0 {
			from = -1
		}
		t := g.target(chains, from)
		if ci < len(builtin) && strings.HasPrefix(t, " -j RETURN") {
			t = " -j ACCEPT"
		}
		if ci < len(builtin) && len(chains) > 0 && g.chance(0.25) {
			t = " -j " + chains[g.R.Intn(len(chains))]
		}
		fmt.Fprintf(&b, "-A %s%s%s\n", name, g.matchSpec(hooks), t)
		written++
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// Packet returns a random packet biased towards the ruleset's values, with
// interfaces for the hook.
func (g *Gen) Packet(hook translator.Hook) *packet.Packet {
	s := packet.Spec{Src: g.packetAddr(), Dst: g.packetAddr(), TTL: uint8(g.R.Intn(256)), TOS: uint8(g.R.Intn(256)), ID: uint16(g.R.Intn(65536))}
	if s.TTL == 0 {
		s.TTL = 64
	}
	icmp := uint8(packet.ProtoICMP)
	if g.Family == translator.IPv6 {
		icmp = packet.ProtoICMPv6
	}
	switch g.R.Intn(8) {
	case 0, 1, 2:
		s.Proto = packet.ProtoTCP
		s.TCPFlags = []uint8{packet.SYN, packet.SYN | packet.ACK, packet.ACK, packet.RST, packet.FIN | packet.ACK, 0, 0x3f, packet.FIN | packet.PSH | packet.URG}[g.R.Intn(8)]
	case 3, 4:
		s.Proto = packet.ProtoUDP
	case 5:
		s.Proto = icmp
		s.ICMPType = []uint8{0, 3, 8, 11, 128, 129, 135, 1}[g.R.Intn(8)]
		s.ICMPCode = uint8(g.R.Intn(5))
	case 6:
		s.Proto = 47
	default:
		s.Proto = uint8(g.R.Intn(256))
		if s.Proto == 0 || s.Proto == 43 || s.Proto == 44 || s.Proto == 60 || s.Proto == 51 || s.Proto == 59 {
			s.Proto = packet.ProtoUDP
		}
	}
	s.SrcPort, s.DstPort = g.packetPort(), g.packetPort()
	if g.chance(0.1) {
		s.Payload = make([]byte, g.R.Intn(400))
	}
	if g.chance(0.04) {
		s.FragOffset = uint16(1 + g.R.Intn(3))
		s.Payload = make([]byte, 16)
	} else if g.chance(0.03) {
		s.MoreFrags = true
	}
	b := s.Bytes()
	if g.chance(0.04) && s.FragOffset == 0 {
		// a layer 4 header cut short: only matches that read it see it
		off := 20
		if g.Family == translator.IPv6 {
			off = 40
			if s.MoreFrags {
				off += 8
			}
		}
		cut := off + g.R.Intn(8)
		if cut < len(b) {
			b = fixLength(b[:cut])
		}
	}
	p, err := packet.Parse(b)
	if err != nil {
		panic(err)
	}
	switch hook {
	case translator.Input:
		p.InIface = g.pick(Ifaces)
	case translator.Forward:
		p.InIface, p.OutIface = g.pick(Ifaces), g.pick(Ifaces)
	case translator.Output:
		p.OutIface = g.pick(Ifaces)
	}
	p.PktType = []packet.PktType{packet.Host, packet.Host, packet.Broadcast, packet.Multicast, packet.OtherHost}[g.R.Intn(5)]
	if hook == translator.Output {
		p.PktType = packet.Host // locally generated packets keep PACKET_HOST in OUTPUT
	}
	if len(g.marks) > 0 && g.chance(0.5) {
		p.Mark = g.marks[g.R.Intn(len(g.marks))]
	} else {
		p.Mark = uint32(g.R.Intn(8))
	}
	if hook != translator.Output && g.chance(0.8) {
		p.SrcMAC = []byte{2, 0, 0, 0, 0, byte(1 + g.R.Intn(3))}
	}
	return p
}

// fixLength sets the IP length field to a cut packet's length.
func fixLength(b []byte) []byte {
	if b[0]>>4 == 4 {
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		b[10], b[11] = 0, 0
		c := packet.Checksum(b[:20], 0)
		b[10], b[11] = byte(c>>8), byte(c)
	} else {
		n := len(b) - 40
		b[4], b[5] = byte(n>>8), byte(n)
	}
	return b
}

func (g *Gen) packetAddr() netip.Addr {
	if len(g.addrs) > 0 && g.chance(0.7) {
		p := g.addrs[g.R.Intn(len(g.addrs))]
		a := p.Addr().AsSlice()
		// random host bits inside the prefix
		for i := p.Bits(); i < len(a)*8; i++ {
			if g.chance(0.5) {
				a[i/8] |= 1 << (7 - i%8)
			}
		}
		addr, _ := netip.AddrFromSlice(a)
		return addr
	}
	return g.addr()
}

func (g *Gen) packetPort() uint16 {
	if len(g.ports) > 0 && g.chance(0.7) {
		p := g.ports[g.R.Intn(len(g.ports))]
		if g.chance(0.2) && p < 65535 {
			p++
		}
		return p
	}
	return uint16(g.R.Intn(65536))
}
