package eval_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

func restore(tb testing.TB, f translator.Family, text string) *translator.Ruleset {
	tb.Helper()
	rs, err := iptables.Restore(translator.NewRuleset(f), strings.NewReader(text), iptables.RestoreOptions{})
	if err != nil {
		tb.Fatalf("restore: %v\n%s", err, text)
	}
	return rs
}

func tcp4(src, dst string, dport uint16, flags uint8) *packet.Packet {
	return packet.Spec{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: dport, TCPFlags: flags}.Build()
}

func udp4(src, dst string, dport uint16) *packet.Packet {
	return packet.Spec{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: dport}.Build()
}

func TestVerdicts(t *testing.T) {
	const ruleset = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:SSH - [0:0]
:BLOCK - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -s 10.0.0.0/8 ! -d 10.0.0.1 -j DROP
-A INPUT -p tcp --dport 22 -j SSH
-A INPUT -p udp -j BLOCK
-A INPUT -p tcp --dport 80
-A INPUT -p tcp --dport 80 -j ACCEPT
-A SSH -s 192.168.1.0/24 -j ACCEPT
-A SSH -s 192.168.2.0/24 -j RETURN
-A SSH -j DROP
-A BLOCK -p udp --dport 53 -j RETURN
-A BLOCK -p udp --dport 123 -j ACCEPT
-A FORWARD -i eth+ -o wg0 -j ACCEPT
-A FORWARD -g BLOCK
-A FORWARD -j DROP
COMMIT
`
	rs := restore(t, translator.IPv4, ruleset)
	lo := tcp4("127.0.0.1", "127.0.0.1", 9, packet.SYN)
	lo.InIface = "lo"
	fwd := tcp4("1.1.1.1", "2.2.2.2", 9, packet.SYN)
	fwd.InIface, fwd.OutIface = "eth3", "wg0"
	fwdOther := tcp4("1.1.1.1", "2.2.2.2", 9, packet.SYN)
	fwdOther.InIface, fwdOther.OutIface = "ppp0", "wg0"
	fwdDNS := udp4("1.1.1.1", "2.2.2.2", 53)
	fwdDNS.InIface, fwdDNS.OutIface = "ppp0", "eth0"

	tests := []struct {
		name    string
		hook    translator.Hook
		p       *packet.Packet
		want    translator.Verdict
		matched []string
		policy  bool
	}{
		{"loopback accepted first", translator.Input, lo, translator.Accept, []string{"filter/INPUT#1"}, false},
		{"private source dropped", translator.Input, tcp4("10.1.2.3", "192.0.2.1", 22, packet.SYN), translator.Drop, []string{"filter/INPUT#2"}, false},
		{"inverted destination lets 10.0.0.1 through to ssh", translator.Input, tcp4("10.1.2.3", "10.0.0.1", 22, packet.SYN), translator.Drop, []string{"filter/INPUT#3", "filter/SSH#3"}, false},
		{"ssh from allowed net", translator.Input, tcp4("192.168.1.5", "192.0.2.1", 22, packet.SYN), translator.Accept, []string{"filter/INPUT#3", "filter/SSH#1"}, false},
		{"RETURN from SSH falls through to policy", translator.Input, tcp4("192.168.2.5", "192.0.2.1", 22, packet.SYN), translator.Drop, []string{"filter/INPUT#3", "filter/SSH#2"}, true},
		{"rule without target counts and continues", translator.Input, tcp4("192.0.2.9", "192.0.2.1", 80, packet.SYN), translator.Accept, []string{"filter/INPUT#5", "filter/INPUT#6"}, false},
		{"udp 53 returns from BLOCK to the policy", translator.Input, udp4("192.0.2.9", "192.0.2.1", 53), translator.Drop, []string{"filter/INPUT#4", "filter/BLOCK#1"}, true},
		{"udp 123 accepted in BLOCK", translator.Input, udp4("192.0.2.9", "192.0.2.1", 123), translator.Accept, []string{"filter/INPUT#4", "filter/BLOCK#2"}, false},
		{"unmatched packet meets the DROP policy", translator.Input, tcp4("192.0.2.9", "192.0.2.1", 443, packet.SYN), translator.Drop, nil, true},
		{"interface wildcard", translator.Forward, fwd, translator.Accept, []string{"filter/FORWARD#1"}, false},
		{"goto does not come back: end of BLOCK is the policy", translator.Forward, fwdOther, translator.Accept, []string{"filter/FORWARD#2"}, true},
		{"RETURN after goto is the policy too", translator.Forward, fwdDNS, translator.Accept, []string{"filter/FORWARD#2", "filter/BLOCK#1"}, true},
		{"no rules in OUTPUT", translator.Output, lo, translator.Accept, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := eval.Evaluate(rs, "filter", tt.hook, tt.p, eval.Options{})
			if res.Verdict != tt.want {
				t.Errorf("verdict %s, want %s", res.Verdict, tt.want)
			}
			var got []string
			for _, m := range res.Matched {
				got = append(got, m.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.matched, " ") {
				t.Errorf("matched %v, want %v", got, tt.matched)
			}
			if (res.Policy != nil) != tt.policy {
				t.Errorf("policy decided: %v, want %v", res.Policy != nil, tt.policy)
			}
		})
	}
}

func TestFragmentsAndHotDrop(t *testing.T) {
	rs := restore(t, translator.IPv4, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -f -j DROP
-A INPUT -p tcp --dport 22 -j DROP
COMMIT
`)
	first := packet.Spec{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Proto: packet.ProtoTCP, DstPort: 80, MoreFrags: true}.Build()
	later := packet.Spec{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Proto: packet.ProtoTCP, FragOffset: 100, Payload: make([]byte, 16)}.Build()
	if res := eval.Evaluate(rs, "filter", translator.Input, first, eval.Options{}); res.Verdict != translator.Accept {
		t.Errorf("first fragment: %s, want ACCEPT (-f matches only later fragments)", res.Verdict)
	}
	if res := eval.Evaluate(rs, "filter", translator.Input, later, eval.Options{}); res.Verdict != translator.Drop || len(res.Matched) != 1 {
		t.Errorf("later fragment: %s after %v, want DROP by -f", res.Verdict, res.Matched)
	}
	// A TCP header cut short: the tcp match cannot read it and drops the
	// packet, as the kernel's "evil tinygram" check does.
	short := tcp4("192.0.2.1", "192.0.2.2", 22, packet.SYN)
	short.Data = short.Data[:short.L4Off+10]
	short, _ = packet.Parse(short.Data)
	res := eval.Evaluate(rs, "filter", translator.Input, short, eval.Options{})
	if res.Verdict != translator.Drop || !res.HotDrop || len(res.Matched) != 0 {
		t.Errorf("tinygram: %+v, want hot drop with no rule matched", res)
	}
}

func TestIPv6Protocol(t *testing.T) {
	rs := restore(t, translator.IPv6, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -s 2001:db8::/32 ! -p tcp -j DROP
-A INPUT -p all -d 2001:db8::1 -j DROP
COMMIT
`)
	src, dst := netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("2001:db8::9")
	udp := packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, DstPort: 53}.Build()
	tcp := packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, DstPort: 53}.Build()
	tcpTo1 := packet.Spec{Src: src, Dst: netip.MustParseAddr("2001:db8::1"), Proto: packet.ProtoTCP, DstPort: 53}.Build()
	for _, tt := range []struct {
		p    *packet.Packet
		want translator.Verdict
	}{{udp, translator.Drop}, {tcp, translator.Accept}, {tcpTo1, translator.Drop}} {
		if res := eval.Evaluate(rs, "filter", translator.Input, tt.p, eval.Options{}); res.Verdict != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.p.Dst, translator.ProtoName(tt.p.Proto), res.Verdict, tt.want)
		}
	}
}

func TestMissingTableAccepts(t *testing.T) {
	rs := translator.NewRuleset(translator.IPv4)
	if res := eval.Evaluate(rs, "filter", translator.Input, tcp4("192.0.2.1", "192.0.2.2", 1, 0), eval.Options{}); res.Verdict != translator.Accept {
		t.Errorf("empty ruleset: %s", res.Verdict)
	}
}
