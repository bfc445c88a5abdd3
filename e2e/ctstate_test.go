package e2e

import (
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// stateRulesets each let through the packets of some states at FORWARD,
// so that a probe's verdicts show the state every packet had.
var stateRulesets = []string{
	"-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\n",
	"-A FORWARD -m conntrack --ctstate INVALID -j ACCEPT\n",
	"-A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -s A -m state --state NEW -j ACCEPT\n",
	"-A FORWARD -m conntrack ! --ctstate ESTABLISHED,INVALID -j ACCEPT\n",
	// the connection's direction, protocol, addresses and ports
	"-A FORWARD -m conntrack --ctdir REPLY -j ACCEPT\n-A FORWARD -m conntrack --ctorigsrc A --ctproto udp -j ACCEPT\n",
	"-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED --ctorigdstport 53 -j ACCEPT\n-A FORWARD -m conntrack --ctstate RELATED --ctrepldst A --ctdir ORIGINAL -j ACCEPT\n" +
		"-A FORWARD -m conntrack ! --ctorigsrcport 2001:2006 --ctproto tcp -j ACCEPT\n-A FORWARD -m conntrack --ctreplsrc A -j ACCEPT\n",
	// the connection's status
	"-A FORWARD -m conntrack --ctstatus SEEN_REPLY -j ACCEPT\n-A FORWARD -m conntrack ! --ctstatus CONFIRMED -p udp -j ACCEPT\n",
	"-A FORWARD -m conntrack --ctstatus ASSURED -j ACCEPT\n-A FORWARD -m state --state NEW -j ACCEPT\n",
	// the reply tuple's ports: ICMP's are the id and the reply's type
	"-A FORWARD -m conntrack --ctrepldstport 0 -j ACCEPT\n-A FORWARD -m conntrack --ctrepldstport 33024 -j ACCEPT\n" +
		"-A FORWARD -m conntrack --ctreplsrcport 5 --ctstate ESTABLISHED -j ACCEPT\n-A FORWARD -m conntrack --ctrepldstport 3000 -j ACCEPT\n",
}

// statePackets is a sequence through the firewall between two addresses
// beyond it, a and b (both directions reach the server's side, so a
// probe sees both): first packets of unknown flows of every TCP flag
// class, valid or not, UDP, GRE, ICMP queries, replies and other types;
// then flows answered, ICMP errors about a tracked flow and about none.
func statePackets(fam translator.Family, a, b netip.Addr) []packet.Spec {
	icmp, echo, echoReply, other, unreach, code := uint8(packet.ProtoICMP), uint8(8), uint8(0), uint8(9), uint8(3), uint8(3)
	if fam == translator.IPv6 {
		icmp, echo, echoReply, other, unreach, code = packet.ProtoICMPv6, 128, 129, 150, 1, 4
	}
	var out []packet.Spec
	port := uint16(2000)
	for _, flags := range []uint8{packet.SYN, packet.ACK, packet.ACK | packet.PSH, packet.SYN | packet.ACK, packet.FIN | packet.ACK,
		packet.RST, packet.RST | packet.ACK, 0, packet.SYN | packet.FIN, packet.FIN, packet.ACK | packet.URG, packet.SYN | packet.URG} {
		port++
		out = append(out, packet.Spec{Src: a, Dst: b, Proto: packet.ProtoTCP, SrcPort: port, DstPort: 80, TCPFlags: flags})
	}
	query := packet.Spec{Src: a, Dst: b, Proto: packet.ProtoUDP, SrcPort: 3000, DstPort: 53}
	unknown := packet.Spec{Src: a, Dst: b, Proto: packet.ProtoUDP, SrcPort: 3001, DstPort: 53}
	out = append(out,
		packet.Spec{Src: a, Dst: b, Proto: 47},
		packet.Spec{Src: a, Dst: b, Proto: icmp, ICMPType: echoReply, ICMPID: 2},
		packet.Spec{Src: a, Dst: b, Proto: icmp, ICMPType: other},
		// a flow answered, and asked again
		query,
		packet.Spec{Src: b, Dst: a, Proto: packet.ProtoUDP, SrcPort: 53, DstPort: 3000},
		query,
		// a flow the other side starts
		packet.Spec{Src: b, Dst: a, Proto: packet.ProtoUDP, SrcPort: 53, DstPort: 3002},
		// ping and its reply
		packet.Spec{Src: a, Dst: b, Proto: icmp, ICMPType: echo, ICMPID: 5},
		packet.Spec{Src: b, Dst: a, Proto: icmp, ICMPType: echoReply, ICMPID: 5},
		// errors about a tracked flow, in both directions, and about
		// one never seen
		packet.Spec{Src: b, Dst: a, Proto: icmp, ICMPType: unreach, ICMPCode: code, Payload: query.Bytes()},
		packet.Spec{Src: a, Dst: b, Proto: icmp, ICMPType: unreach, ICMPCode: code,
			Payload: packet.Spec{Src: b, Dst: a, Proto: packet.ProtoUDP, SrcPort: 53, DstPort: 3000}.Bytes()},
		packet.Spec{Src: b, Dst: a, Proto: icmp, ICMPType: unreach, ICMPCode: code, Payload: unknown.Bytes()},
		// a connection refused: the reset ends it, a second one has none
		packet.Spec{Src: a, Dst: b, Proto: packet.ProtoTCP, SrcPort: 4001, DstPort: 23, TCPFlags: packet.SYN},
		packet.Spec{Src: b, Dst: a, Proto: packet.ProtoTCP, SrcPort: 23, DstPort: 4001, TCPFlags: packet.RST | packet.ACK},
		packet.Spec{Src: b, Dst: a, Proto: packet.ProtoTCP, SrcPort: 23, DstPort: 4001, TCPFlags: packet.RST | packet.ACK},
		// a connection opened, answered, acknowledged
		packet.Spec{Src: a, Dst: b, Proto: packet.ProtoTCP, SrcPort: 4000, DstPort: 22, TCPFlags: packet.SYN},
		packet.Spec{Src: b, Dst: a, Proto: packet.ProtoTCP, SrcPort: 22, DstPort: 4000, TCPFlags: packet.SYN | packet.ACK},
		packet.Spec{Src: a, Dst: b, Proto: packet.ProtoTCP, SrcPort: 4000, DstPort: 22, TCPFlags: packet.ACK},
		packet.Spec{Src: b, Dst: a, Proto: packet.ProtoTCP, SrcPort: 22, DstPort: 4000, TCPFlags: packet.ACK},
	)
	return out
}

// TestConnectionStatesAsIptablesLegacy sends the same packet sequences
// through rulesets that accept by state in iptables-legacy and in
// bpftables, and requires the same verdict for every packet: the states
// of first packets (a lone ACK is picked up as NEW, as
// nf_conntrack_tcp_loose=1 has it; SYN/ACK, FIN, RST and invalid flag
// combinations are INVALID), of replies, and of ICMP errors (RELATED
// only for a tracked flow). Packets the filter drops must leave no
// connection behind, or later verdicts would differ.
func TestConnectionStatesAsIptablesLegacy(t *testing.T) {
	nettest.RequireRoot(t)
	for _, fam := range []translator.Family{translator.IPv4, translator.IPv6} {
		a, b := netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("203.0.113.7")
		if fam == translator.IPv6 {
			a, b = netip.MustParseAddr("2001:db8:3::7"), netip.MustParseAddr("2001:db8:4::9")
		}
		pkts := nettest.Bytes(statePackets(fam, a, b))
		for i, rules := range stateRulesets {
			text := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
				replaceAddr(rules, a) + "COMMIT\n"
			v4, v6 := text, ""
			if fam == translator.IPv6 {
				v4, v6 = "", text
			}
			legacy := nettest.NewTopology(t, nettest.IptablesLegacy(v4, v6))
			ours := nettest.NewTopology(t, Bpftables(v4, v6))
			want := legacy.Probe(t, translator.Forward, pkts)
			got := ours.Probe(t, translator.Forward, pkts)
			nettest.RequireSameVerdicts(t, want, got)
			passed := 0
			for j := range pkts {
				if want.Passed(j) {
					passed++
				}
			}
			if passed == 0 || passed == len(pkts) {
				t.Errorf("%s ruleset %d: %d of %d packets pass: the sequence tells no states apart", fam, i, passed, len(pkts))
			}
			if t.Failed() {
				t.Fatalf("%s ruleset %d disagrees with iptables-legacy:\n%s", fam, i, text)
			}
		}
	}
}

// replaceAddr puts the address in for the rules' "A".
func replaceAddr(rules string, a netip.Addr) string {
	out := []byte{}
	for i := 0; i < len(rules); i++ {
		if rules[i] == 'A' && i > 0 && rules[i-1] == ' ' && i+1 < len(rules) && rules[i+1] == ' ' {
			out = append(out, a.String()...)
			continue
		}
		out = append(out, rules[i])
	}
	return string(out)
}
