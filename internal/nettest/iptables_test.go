package nettest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

// verdictCases are what iptables-legacy does with single-rule rulesets,
// probed at every hook so that a rule shows where it acts and where it
// does not. A rule "-P CHAIN POLICY" sets a policy.
var verdictCases = []struct {
	rule string
	ipv6 bool
	hook Hook
	pkt  pkt
	want bool
}{
	{"-A FORWARD -p tcp --dport 22 -j DROP", false, Forward, tcp(22, packet.SYN), drop},
	{"-A FORWARD -p tcp --dport 22 -j DROP", false, Forward, tcp(80, packet.SYN), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", false, Forward, udp(22), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", false, Input, tcp(22, packet.SYN), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", false, Output, tcp(22, packet.SYN), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", true, Forward, tcp(22, packet.SYN), drop},
	{"-A FORWARD -p tcp --dport 22 -j DROP", true, Forward, tcp(23, packet.SYN), pass},
	{"-A FORWARD -p tcp --dport 22 -j DROP", true, Input, tcp(22, packet.SYN), pass},

	{"-P FORWARD DROP", false, Forward, tcp(80, packet.SYN), drop},
	{"-P FORWARD DROP", false, Forward, udp(53), drop},
	{"-P FORWARD DROP", false, Forward, icmp(8), drop},
	{"-P FORWARD DROP", false, Input, udp(53), pass},
	{"-P FORWARD DROP", false, Output, udp(53), pass},
	{"-P FORWARD DROP", true, Forward, udp(53), drop},
	{"-P FORWARD DROP", true, Output, udp(53), pass},

	{"-A FORWARD -p icmp --icmp-type echo-request -j DROP", false, Forward, icmp(8), drop},
	{"-A FORWARD -p icmp --icmp-type echo-request -j DROP", false, Forward, icmp(0), pass},
	{"-A FORWARD -p icmp --icmp-type echo-request -j DROP", false, Forward, icmp(13), pass},
	{"-A FORWARD -p ipv6-icmp --icmpv6-type echo-request -j DROP", true, Forward, icmp(128), drop},
	{"-A FORWARD -p ipv6-icmp --icmpv6-type echo-request -j DROP", true, Forward, icmp(129), pass},

	{"-A FORWARD -f -j DROP", false, Forward, with(udp(53), fragment(8, false)), drop},
	{"-A FORWARD -f -j DROP", false, Forward, with(udp(53), fragment(0, true)), pass},
	{"-A FORWARD -f -j DROP", false, Forward, udp(53), pass},
	{"-A FORWARD -m frag --fragmore -j DROP", true, Forward, with(udp(53), fragment(0, true)), drop},
	{"-A FORWARD -m frag --fragmore -j DROP", true, Forward, with(udp(53), fragment(8, false)), pass},

	{"-A FORWARD -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP", false, Forward, tcp(80, packet.FIN|packet.PSH|packet.URG), drop},
	{"-A FORWARD -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP", false, Forward, tcp(80, packet.FIN|packet.PSH|packet.URG|packet.ACK), pass},
	{"-A FORWARD -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP", false, Forward, tcp(80, packet.SYN), pass},

	// FORWARD sees the TTL after the router took one off (ip_forward).
	{"-A FORWARD -m ttl --ttl-eq 63 -j DROP", false, Forward, with(udp(53), ttl(64)), drop},
	{"-A FORWARD -m ttl --ttl-eq 63 -j DROP", false, Forward, with(udp(53), ttl(63)), pass},
	{"-A FORWARD -m hl --hl-eq 63 -j DROP", true, Forward, with(udp(53), ttl(64)), drop},
	{"-A FORWARD -m hl --hl-eq 63 -j DROP", true, Forward, with(udp(53), ttl(63)), pass},
	// INPUT and OUTPUT see it as sent.
	{"-A INPUT -m ttl --ttl-eq 64 -j DROP", false, Input, with(udp(53), ttl(64)), drop},
	{"-A OUTPUT -m ttl --ttl-eq 64 -j DROP", false, Output, with(udp(53), ttl(64)), drop},

	{"-A FORWARD -m tos --tos 0x10 -j DROP", false, Forward, with(udp(53), tos(0x10)), drop},
	{"-A FORWARD -m tos --tos 0x10 -j DROP", false, Forward, with(udp(53), tos(0x08)), pass},
	{"-A FORWARD -m length --length 100:200 -j DROP", false, Forward, with(udp(53), length(150)), drop},
	{"-A FORWARD -m length --length 100:200 -j DROP", false, Forward, with(udp(53), length(99)), pass},
	{"-A FORWARD -m length --length 100:200 -j DROP", false, Forward, with(udp(53), length(201)), pass},
	{"-A FORWARD -s 203.0.113.0/24 -j DROP", false, Forward, with(udp(53), src("203.0.113.9")), drop},
	{"-A FORWARD -s 203.0.113.0/24 -j DROP", false, Forward, udp(53), pass},
	{"-A FORWARD -d 203.0.113.0/24 -j DROP", false, Forward, with(udp(53), dst("203.0.113.9")), drop},
	{"-A FORWARD -d 203.0.113.0/24 -j DROP", false, Forward, with(udp(53), dst("10.9.9.9")), pass},
	{"-A FORWARD -i eth0 -o eth1 -p udp -j DROP", false, Forward, udp(53), drop},
	{"-A FORWARD -i eth0 -o eth1 -p udp -j DROP", false, Forward, tcp(53, packet.SYN), pass},
	{"-A FORWARD -i eth1 -p udp -j DROP", false, Forward, udp(53), pass},

	{"-A INPUT -p tcp --dport 22 -j DROP", false, Input, tcp(22, packet.SYN), drop},
	{"-A INPUT -p tcp --dport 22 -j DROP", false, Input, tcp(80, packet.SYN), pass},
	{"-A INPUT -p tcp --dport 22 -j DROP", false, Forward, tcp(22, packet.SYN), pass},
	{"-A INPUT -p tcp --dport 22 -j DROP", false, Output, tcp(22, packet.SYN), pass},
	{"-A INPUT -p udp --dport 53 -j DROP", true, Input, udp(53), drop},
	{"-A INPUT -p udp --dport 53 -j DROP", true, Input, udp(54), pass},
	{"-A INPUT -p udp --dport 53 -j DROP", true, Forward, udp(53), pass},
	{"-P INPUT DROP", false, Input, tcp(80, packet.SYN), drop},
	{"-P INPUT DROP", false, Input, icmp(8), drop},
	{"-P INPUT DROP", false, Forward, icmp(8), pass},
	{"-P INPUT DROP", true, Input, icmp(128), drop},
	{"-P INPUT DROP", true, Input, with(udp(53), fragment(8, false)), drop},
	{"-A INPUT -d 198.51.100.1 -j DROP", false, Input, with(udp(53), dst("198.51.100.1")), drop},
	{"-A INPUT -d 198.51.100.1 -j DROP", false, Input, udp(53), pass},
	{"-A INPUT -i eth0 -s 192.0.2.2 -j DROP", false, Input, udp(53), drop},
	{"-A INPUT -i eth0 -s 192.0.2.2 -j DROP", false, Input, with(udp(53), src("203.0.113.9")), pass},

	{"-A OUTPUT -p udp --dport 53 -j DROP", false, Output, udp(53), drop},
	{"-A OUTPUT -p udp --dport 53 -j DROP", false, Output, udp(54), pass},
	{"-A OUTPUT -p udp --dport 53 -j DROP", false, Forward, udp(53), pass},
	{"-A OUTPUT -p udp --dport 53 -j DROP", false, Input, udp(53), pass},
	{"-A OUTPUT -o eth1 -p icmp -j DROP", false, Output, icmp(8), drop},
	{"-A OUTPUT -o eth1 -p icmp -j DROP", false, Output, udp(53), pass},
	{"-A OUTPUT -p tcp --dport 22 -j DROP", true, Output, tcp(22, packet.SYN), drop},
	{"-A OUTPUT -p tcp --dport 22 -j DROP", true, Output, tcp(21, packet.SYN), pass},
	{"-P OUTPUT DROP", false, Output, udp(53), drop},
	{"-P OUTPUT DROP", false, Forward, udp(53), pass},
	{"-P OUTPUT DROP", true, Output, icmp(128), drop},
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
		rule string
		ipv6 bool
	}
	var order []group
	rows := map[group][]int{}
	for i, c := range verdictCases {
		g := group{c.rule, c.ipv6}
		if rows[g] == nil {
			order = append(order, g)
		}
		rows[g] = append(rows[g], i)
	}
	for _, g := range order {
		t.Run(fmt.Sprintf("%s/%s", familyName(g.ipv6), g.rule), func(t *testing.T) {
			// Both families are loaded each time, so no rule outlives its
			// case.
			v4, v6 := filterRuleset(""), filterRuleset("")
			if g.ipv6 {
				v6 = filterRuleset(g.rule)
			} else {
				v4 = filterRuleset(g.rule)
			}
			IptablesLegacy(v4, v6)(t, topo)
			for _, hook := range Hooks {
				var idx []int
				var specs []packet.Spec
				for _, i := range rows[g] {
					if c := verdictCases[i]; c.hook == hook {
						idx = append(idx, i)
						specs = append(specs, c.pkt(hook, c.ipv6))
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
