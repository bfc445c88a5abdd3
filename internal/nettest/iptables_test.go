package nettest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// verdictCases are what iptables-legacy does with single-rule rulesets,
// probed at every hook so that a rule shows where it acts and where it
// does not. A rule "-P CHAIN POLICY" sets a policy.
var verdictCases = []struct {
	rule   string
	family translator.Family
	hook   translator.Hook
	pkt    pkt
	want   bool
}{
	{"-A FORWARD -p tcp --dport 22 -j DROP", v4, forward, tcp(22, packet.SYN), drop},
	{"-A FORWARD -p tcp --dport 22 -j DROP", v4, forward, tcp(80, packet.SYN), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", v4, forward, udp(22), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", v4, input, tcp(22, packet.SYN), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", v4, output, tcp(22, packet.SYN), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", v6, forward, tcp(22, packet.SYN), drop},
	{"-A FORWARD -p tcp --dport 22 -j DROP", v6, forward, tcp(23, packet.SYN), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", v6, input, tcp(22, packet.SYN), pass},

	{"-P FORWARD DROP", v4, forward, tcp(80, packet.SYN), drop},
	{"-P FORWARD DROP", v4, forward, udp(53), drop},
	{"-P FORWARD DROP", v4, forward, icmp(8), drop},
	{"-P FORWARD DROP", v4, input, udp(53), pass},
	{"-P FORWARD DROP", v4, output, udp(53), pass},
	{"-P FORWARD DROP", v6, forward, udp(53), drop},
	{"-P FORWARD DROP", v6, output, udp(53), pass},

	{"-A FORWARD -p icmp --icmp-type echo-request -j DROP", v4, forward, icmp(8), drop},
	{"-A FORWARD -p icmp --icmp-type echo-request -j DROP", v4, forward, icmp(0), pass},
	{"-A FORWARD -p icmp --icmp-type echo-request -j DROP", v4, forward, icmp(13), pass},
	{"-A FORWARD -p ipv6-icmp --icmpv6-type echo-request -j DROP", v6, forward, icmp(128), drop},
	{"-A FORWARD -p ipv6-icmp --icmpv6-type echo-request -j DROP", v6, forward, icmp(129), pass},

	{"-A FORWARD -f -j DROP", v4, forward, with(udp(53), fragment(8, false)), drop},
	{"-A FORWARD -f -j DROP", v4, forward, with(udp(53), fragment(0, true)), pass},
	{"-A FORWARD -f -j DROP", v4, forward, udp(53), pass},
	{"-A FORWARD -m frag --fragmore -j DROP", v6, forward, with(udp(53), fragment(0, true)), drop},
	{"-A FORWARD -m frag --fragmore -j DROP", v6, forward, with(udp(53), fragment(8, false)), pass},

	{"-A FORWARD -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP", v4, forward, tcp(80, packet.FIN|packet.PSH|packet.URG), drop},
	{"-A FORWARD -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP", v4, forward, tcp(80, packet.FIN|packet.PSH|packet.URG|packet.ACK), pass},
	{"-A FORWARD -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP", v4, forward, tcp(80, packet.SYN), pass},

	// FORWARD sees the TTL after the router took one off (ip_forward).
	{"-A FORWARD -m ttl --ttl-eq 63 -j DROP", v4, forward, with(udp(53), ttl(64)), drop},
	{"-A FORWARD -m ttl --ttl-eq 63 -j DROP", v4, forward, with(udp(53), ttl(63)), pass},
	{"-A FORWARD -m hl --hl-eq 63 -j DROP", v6, forward, with(udp(53), ttl(64)), drop},
	{"-A FORWARD -m hl --hl-eq 63 -j DROP", v6, forward, with(udp(53), ttl(63)), pass},
	// INPUT and OUTPUT see it as sent.
	{"-A INPUT -m ttl --ttl-eq 64 -j DROP", v4, input, with(udp(53), ttl(64)), drop},
	{"-A OUTPUT -m ttl --ttl-eq 64 -j DROP", v4, output, with(udp(53), ttl(64)), drop},

	{"-A FORWARD -m tos --tos 0x10 -j DROP", v4, forward, with(udp(53), tos(0x10)), drop},
	{"-A FORWARD -m tos --tos 0x10 -j DROP", v4, forward, with(udp(53), tos(0x08)), pass},
	{"-A FORWARD -m length --length 100:200 -j DROP", v4, forward, with(udp(53), length(150)), drop},
	{"-A FORWARD -m length --length 100:200 -j DROP", v4, forward, with(udp(53), length(99)), pass},
	{"-A FORWARD -m length --length 100:200 -j DROP", v4, forward, with(udp(53), length(201)), pass},
	{"-A FORWARD -s 203.0.113.0/24 -j DROP", v4, forward, with(udp(53), src("203.0.113.9")), drop},
	{"-A FORWARD -s 203.0.113.0/24 -j DROP", v4, forward, udp(53), pass},
	{"-A FORWARD -d 203.0.113.0/24 -j DROP", v4, forward, with(udp(53), dst("203.0.113.9")), drop},
	{"-A FORWARD -d 203.0.113.0/24 -j DROP", v4, forward, with(udp(53), dst("10.9.9.9")), pass},
	{"-A FORWARD -i eth0 -o eth1 -p udp -j DROP", v4, forward, udp(53), drop},
	{"-A FORWARD -i eth0 -o eth1 -p udp -j DROP", v4, forward, tcp(53, packet.SYN), pass},
	{"-A FORWARD -i eth1 -p udp -j DROP", v4, forward, udp(53), pass},

	{"-A INPUT -p tcp --dport 22 -j DROP", v4, input, tcp(22, packet.SYN), drop},
	{"-A INPUT -p tcp --dport 22 -j DROP", v4, input, tcp(80, packet.SYN), pass},
	{"-A INPUT -p tcp --dport 22 -j DROP", v4, forward, tcp(22, packet.SYN), pass},
	{"-A INPUT -p tcp --dport 22 -j DROP", v4, output, tcp(22, packet.SYN), pass},
	{"-A INPUT -p udp --dport 53 -j DROP", v6, input, udp(53), drop},
	{"-A INPUT -p udp --dport 53 -j DROP", v6, input, udp(54), pass},
	{"-A INPUT -p udp --dport 53 -j DROP", v6, forward, udp(53), pass},
	{"-P INPUT DROP", v4, input, tcp(80, packet.SYN), drop},
	{"-P INPUT DROP", v4, input, icmp(8), drop},
	{"-P INPUT DROP", v4, forward, icmp(8), pass},
	{"-P INPUT DROP", v6, input, icmp(128), drop},
	{"-P INPUT DROP", v6, input, with(udp(53), fragment(8, false)), drop},
	{"-A INPUT -d 198.51.100.1 -j DROP", v4, input, with(udp(53), dst("198.51.100.1")), drop},
	{"-A INPUT -d 198.51.100.1 -j DROP", v4, input, udp(53), pass},
	{"-A INPUT -i eth0 -s 192.0.2.2 -j DROP", v4, input, udp(53), drop},
	{"-A INPUT -i eth0 -s 192.0.2.2 -j DROP", v4, input, with(udp(53), src("203.0.113.9")), pass},

	{"-A OUTPUT -p udp --dport 53 -j DROP", v4, output, udp(53), drop},
	{"-A OUTPUT -p udp --dport 53 -j DROP", v4, output, udp(54), pass},
	{"-A OUTPUT -p udp --dport 53 -j DROP", v4, forward, udp(53), pass},
	{"-A OUTPUT -p udp --dport 53 -j DROP", v4, input, udp(53), pass},
	{"-A OUTPUT -o eth1 -p icmp -j DROP", v4, output, icmp(8), drop},
	{"-A OUTPUT -o eth1 -p icmp -j DROP", v4, output, udp(53), pass},
	{"-A OUTPUT -p tcp --dport 22 -j DROP", v6, output, tcp(22, packet.SYN), drop},
	{"-A OUTPUT -p tcp --dport 22 -j DROP", v6, output, tcp(21, packet.SYN), pass},
	{"-P OUTPUT DROP", v4, output, udp(53), drop},
	{"-P OUTPUT DROP", v4, forward, udp(53), pass},
	{"-P OUTPUT DROP", v6, output, icmp(128), drop},
}

// TestVerdictsAgainstIptablesLegacy loads each rule into the kernel's
// iptables in the firewall and checks that the probes report the verdicts
// the rule implies: the harness observes verdicts faithfully, at the hook
// it names and no other. bpftables' comparisons follow this pattern, with
// RequireSameVerdicts in place of the table's expectations.
func TestVerdictsAgainstIptablesLegacy(t *testing.T) {
	RequireRoot(t)
	topo := NewTopology(t)
	type group struct {
		rule   string
		family translator.Family
	}
	var order []group
	rows := map[group][]int{}
	for i, c := range verdictCases {
		g := group{c.rule, c.family}
		if rows[g] == nil {
			order = append(order, g)
		}
		rows[g] = append(rows[g], i)
	}
	for _, g := range order {
		t.Run(fmt.Sprintf("%s/%s", g.family, g.rule), func(t *testing.T) {
			// Both families are loaded each time, so no rule outlives its
			// case.
			ipv4, ipv6 := filterRuleset(""), filterRuleset("")
			if g.family == v6 {
				ipv6 = filterRuleset(g.rule)
			} else {
				ipv4 = filterRuleset(g.rule)
			}
			IptablesLegacy(ipv4, ipv6)(t, topo)
			for _, hook := range Hooks {
				var idx []int
				var specs []packet.Spec
				for _, i := range rows[g] {
					if c := verdictCases[i]; c.hook == hook {
						idx = append(idx, i)
						specs = append(specs, c.pkt(hook, c.family))
					}
				}
				if len(specs) == 0 {
					continue
				}
				res := topo.Probe(t, hook, Bytes(specs))
				for j, i := range idx {
					if res.Passed(j) != verdictCases[i].want {
						t.Errorf("%s: %s: got %s, want %s", hook, Describe(res.Packets[j]), res.verdict(j), verdictName(verdictCases[i].want))
					}
				}
			}
		})
	}
}

// filterRuleset is a filter table with all policies ACCEPT but for a rule
// "-P CHAIN POLICY", and with the rule otherwise.
func filterRuleset(rule string) string {
	policy := map[string]string{"INPUT": "ACCEPT", "FORWARD": "ACCEPT", "OUTPUT": "ACCEPT"}
	var rules string
	if f := strings.Fields(rule); len(f) == 3 && f[0] == "-P" {
		policy[f[1]] = f[2]
	} else if rule != "" {
		rules = rule + "\n"
	}
	return fmt.Sprintf("*filter\n:INPUT %s [0:0]\n:FORWARD %s [0:0]\n:OUTPUT %s [0:0]\n%sCOMMIT\n",
		policy["INPUT"], policy["FORWARD"], policy["OUTPUT"], rules)
}
