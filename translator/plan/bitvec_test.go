package plan_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// bvCase is a run of rules that must become one bit-vector segment, and
// packets whose verdict and counters the segment must get as the
// evaluator does.
type bvCase struct {
	name  string
	fam   translator.Family
	rules []string
	pkts  []packet.Spec
}

func v4(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestBitVectorClasses(t *testing.T) {
	tcp := func(src, dst string, sport, dport uint16) packet.Spec {
		return packet.Spec{Src: v4(src), Dst: v4(dst), Proto: packet.ProtoTCP, SrcPort: sport, DstPort: dport, TCPFlags: packet.SYN}
	}
	udp := func(src, dst string, sport, dport uint16) packet.Spec {
		return packet.Spec{Src: v4(src), Dst: v4(dst), Proto: packet.ProtoUDP, SrcPort: sport, DstPort: dport}
	}
	cases := []bvCase{{
		name: "nested and inverted prefixes",
		fam:  translator.IPv4,
		rules: []string{
			"! -s 10.0.0.0/8 -d 192.168.0.0/16 -j DROP",
			"-s 10.1.0.0/16 ! -d 192.168.1.0/24 -j ACCEPT",
			"-s 10.1.2.0/24 -d 192.168.1.7 -j DROP",
			"-s 10.1.2.3 -j ACCEPT",
			"! -s 10.1.2.0/24 -d 192.168.1.0/24 -j ACCEPT",
		},
		pkts: []packet.Spec{tcp("11.0.0.1", "192.168.5.5", 1, 2), tcp("10.1.9.9", "192.168.2.1", 1, 2), tcp("10.1.2.9", "192.168.1.7", 1, 2),
			tcp("10.1.2.3", "192.168.1.8", 1, 2), tcp("10.2.0.1", "192.168.1.8", 1, 2), tcp("10.1.2.4", "192.168.1.9", 1, 2)},
	}, {
		name: "overlapping, inverted and listed port ranges",
		fam:  translator.IPv4,
		rules: []string{
			"-p tcp --dport 1000:2000 --sport 5:10 -j DROP",
			"-p tcp ! --dport 1500:2500 -j ACCEPT",
			"-p udp -m multiport --dports 53,1000:1999,3000 -j ACCEPT",
			"-p udp -m multiport ! --sports 1:100 -j DROP",
			"-p tcp --dport 1800:1900 -j ACCEPT",
			"-p tcp ! --sport 7 --dport 2400:2600 -j DROP",
		},
		pkts: []packet.Spec{tcp("1.1.1.1", "2.2.2.2", 7, 1500), tcp("1.1.1.1", "2.2.2.2", 11, 1500), tcp("1.1.1.1", "2.2.2.2", 11, 1850),
			tcp("1.1.1.1", "2.2.2.2", 8, 2500), tcp("1.1.1.1", "2.2.2.2", 7, 2500), udp("1.1.1.1", "2.2.2.2", 50, 3000), udp("1.1.1.1", "2.2.2.2", 500, 4000), udp("1.1.1.1", "2.2.2.2", 50, 4000)},
	}, {
		name: "duplicates and rules that go on: the scan resumes after each",
		fam:  translator.IPv4,
		rules: []string{
			"-s 10.0.0.0/8 -p tcp",
			"-s 10.0.0.0/8 -p tcp",
			"-p tcp --dport 80",
			"-s 10.0.0.0/8 -p tcp -j DROP",
			"-s 10.0.0.0/8 -p tcp -j DROP",
			"-p tcp -j ACCEPT",
		},
		pkts: []packet.Spec{tcp("10.0.0.1", "2.2.2.2", 1, 80), tcp("11.0.0.1", "2.2.2.2", 1, 80), tcp("11.0.0.1", "2.2.2.2", 1, 81), udp("10.0.0.1", "2.2.2.2", 1, 80)},
	}, {
		name: "IPv6 prefixes, protocols and ICMPv6 types",
		fam:  translator.IPv6,
		rules: []string{
			"-s 2001:db8::/32 -d 2001:db8:1::/48 -p tcp --dport 22 -j ACCEPT",
			"! -s 2001:db8::/32 -p udp -j DROP",
			"-d 2001:db8:1::7 -p ipv6-icmp --icmpv6-type 128 -j ACCEPT",
			"-s 2001:db8:2::/48 ! -p tcp",
			"-s 2001:db8:2:3::/64 -j DROP",
			"-d 2001:db8:1::/48 -j ACCEPT",
		},
		pkts: []packet.Spec{
			{Src: v4("2001:db8::1"), Dst: v4("2001:db8:1::1"), Proto: packet.ProtoTCP, DstPort: 22},
			{Src: v4("2001:db9::1"), Dst: v4("2001:db8:1::1"), Proto: packet.ProtoUDP, DstPort: 22},
			{Src: v4("2001:db8:2:3::1"), Dst: v4("2001:db8:1::7"), Proto: packet.ProtoICMPv6, ICMPType: 128},
			{Src: v4("2001:db8:2:3::1"), Dst: v4("2001:db8:1::9"), Proto: packet.ProtoICMPv6, ICMPType: 129},
			{Src: v4("2001:db8:2:4::1"), Dst: v4("2001:db8:1::9"), Proto: packet.ProtoUDP},
			{Src: v4("2001:db8:3::1"), Dst: v4("2001:db8:1::9"), Proto: packet.ProtoTCP},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
			for _, r := range c.rules {
				fmt.Fprintf(&b, "-A INPUT %s\n", r)
			}
			b.WriteString("COMMIT\n")
			rs := restore(t, c.fam, b.String())
			for _, chunk := range []int{0, 64} {
				p, err := plan.Build(rs, "filter", plan.Options{BVMinRun: 2, BVChunk: chunk})
				if err != nil {
					t.Fatal(err)
				}
				segs := p.ChainByName("INPUT").Segments
				if len(segs) != 1 || segs[0].Kind != plan.BitVector {
					var out strings.Builder
					p.Print(&out)
					t.Fatalf("want one bit-vector segment:\n%s", out.String())
				}
				for i, s := range c.pkts {
					pk, err := packet.Parse(s.Bytes())
					if err != nil {
						t.Fatal(err)
					}
					pk.InIface = "eth0"
					want := eval.Evaluate(rs, "filter", translator.Input, pk, eval.Options{})
					got, err := p.Judge(translator.Input, plan.Extract(pk, c.fam, p.Ifaces))
					if err != nil {
						t.Fatal(err)
					}
					if msg := compare(p, want, got); msg != "" {
						t.Errorf("packet %d (%s -> %s): %s", i, s.Src, s.Dst, msg)
					}
				}
			}
		})
	}
}

// TestBitVectorHotDrops: a tcp rule's truncated-header drop happens only
// when the packet reaches the rule with its earlier tests passing - in
// the middle of a bit-vector run, after rules that went on.
func TestBitVectorHotDrops(t *testing.T) {
	rules := "*filter\n:INPUT ACCEPT [0:0]\n" +
		"-A INPUT -s 10.0.0.0/8 -p udp --dport 53 -j ACCEPT\n" +
		"-A INPUT -d 192.168.0.0/16\n" +
		"-A INPUT -s 10.1.0.0/16 -p tcp --dport 22 -j ACCEPT\n" +
		"-A INPUT -p icmp -j DROP\n" +
		"COMMIT\n"
	rs := restore(t, translator.IPv4, rules)
	p, err := plan.Build(rs, "filter", plan.Options{BVMinRun: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.ChainByName("INPUT").Segments; len(s) != 1 || s[0].Kind != plan.BitVector || s[0].BV.Hot < 0 {
		t.Fatal("want one bit-vector segment with hot drops")
	}
	for _, c := range []struct {
		src, dst string
		cut      int // bytes of TCP header kept
		hot      bool
	}{
		{"10.1.0.1", "192.168.0.1", 10, true},  // reaches rule 3: dropped, rule 2 counted
		{"10.2.0.1", "192.168.0.1", 10, false}, // rule 3's source fails first
		{"10.1.0.1", "192.168.0.1", 20, false}, // whole header
	} {
		s := packet.Spec{Src: v4(c.src), Dst: v4(c.dst), Proto: packet.ProtoTCP, DstPort: 22}
		b := s.Bytes()[:20+c.cut]
		b[2], b[3] = 0, byte(len(b))
		b[10], b[11] = 0, 0
		sum := packet.Checksum(b[:20], 0)
		b[10], b[11] = byte(sum>>8), byte(sum)
		pk, err := packet.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		want := eval.Evaluate(rs, "filter", translator.Input, pk, eval.Options{})
		got, err := p.Judge(translator.Input, plan.Extract(pk, translator.IPv4, nil))
		if err != nil {
			t.Fatal(err)
		}
		if msg := compare(p, want, got); msg != "" || got.HotDrop != c.hot {
			t.Errorf("%s -> %s, %d header bytes: hot drop %v, want %v; %s", c.src, c.dst, c.cut, got.HotDrop, c.hot, msg)
		}
	}
}

// TestPrintManyPrefixes prints a bit-vector whose address key has more
// classes than Print lists one by one.
func TestPrintManyPrefixes(t *testing.T) {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, "-A INPUT -s 10.%d.0.0/16 -p tcp --dport %d -j DROP\n", i, 1000+i)
	}
	b.WriteString("COMMIT\n")
	p, err := plan.Build(restore(t, translator.IPv4, b.String()), "filter", plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	p.Print(&out)
	if !strings.Contains(out.String(), "src classes from 60 prefixes") {
		t.Errorf("the plan does not sum up the prefixes:\n%s", out.String())
	}
}
