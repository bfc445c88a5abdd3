package xt_test

import (
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestIPRangeSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		// a single address is a range of one; IPv4 is read as -s reads it
		{fam: v4, in: "-m iprange --src-range 10.0.0.1-10.0.0.9 --dst-range 10.1", save: "-m iprange --src-range 10.0.0.1-10.0.0.9 --dst-range 10.1.0.0-10.1.0.0"},
		{fam: v4, in: "-m iprange --src-range 0x0a.0.0.1-012.0.0.2", save: "-m iprange --src-range 10.0.0.1-10.0.0.2"},
		{fam: v4, in: `-m iprange --src-range " 1.2.3.4"`, save: "-m iprange --src-range 1.2.3.4-1.2.3.4"},
		// iptables reads the address through a 20-byte buffer
		{fam: v4, in: "-m iprange --src-range 0x001.0x01.0x01.0x01", save: "-m iprange --src-range 1.1.1.0-1.1.1.0"},
		// a reversed range only draws a warning
		{fam: v4, in: "-m iprange --src-range 10.0.0.9-10.0.0.1", save: "-m iprange --src-range 10.0.0.9-10.0.0.1"},
		{fam: v4, in: "-m iprange ! --dst-range 1.2.3.4-1.2.3.5 ! --src-range 1.1.1.1", save: "-m iprange ! --src-range 1.1.1.1-1.1.1.1 ! --dst-range 1.2.3.4-1.2.3.5"},
		// IPv6 prints as glibc's inet_ntop does
		{fam: v6, in: "-m iprange --src-range ::1:2-::ffff:1.2.3.4", save: "-m iprange --src-range ::0.1.0.2-::ffff:1.2.3.4"},
		{fam: v6, in: "-m iprange --src-range ::1.2.3.4-::0.0.0.1", save: "-m iprange --src-range ::1.2.3.4-::1"},
		{fam: v6, in: "-m iprange --dst-range 2001:db8:0:0:1:0:0:1-2001:0:0:1::", save: "-m iprange --dst-range 2001:db8::1:0:0:1-2001:0:0:1::"},
		{fam: v6, in: "-m iprange --dst-range ::-::ffff:0:0", save: "-m iprange --dst-range ::-::ffff:0.0.0.0"},
		{fam: v6, in: "-m iprange --src-range 0:0:1::-1:0:0:1:0:0:0:1", save: "-m iprange --src-range 0:0:1::-1:0:0:1::1"},
		{fam: v6, in: "-m iprange --src-range ::ffff:0.0.0.1-::ffff", save: "-m iprange --src-range ::ffff:0.0.0.1-::ffff"},
		{fam: v6, in: "-m iprange --src-range 2001:DB8::A", save: "-m iprange --src-range 2001:db8::a-2001:db8::a"},

		{fam: v4, in: "-m iprange --src-range 10.0.0.256", err: `iprange: Bad value for "--src-range" option: "10.0.0.256"`},
		{fam: v4, in: "-m iprange --src-range 10.0.0.1-foo", err: `iprange: Bad value for "--src-range" option: "foo"`},
		{fam: v4, in: "-m iprange --dst-range 1.2.3.4-", err: `iprange: Bad value for "--dst-range" option: ""`},
		{fam: v4, in: "-m iprange --src-range 1.2.3.4-1.2.3.5-1.2.3.6", err: `iprange: Bad value for "--src-range" option: "1.2.3.5-1.2.3.6"`},
		{fam: v4, in: "-m iprange --src-range 1.2.3.4.5", err: `iprange: Bad value for "--src-range" option: "1.2.3.4.5"`},
		{fam: v4, in: "-m iprange --src-range 1.2.3.4 --src-range 1.2.3.6", err: `iprange: option "--src-range" can only be used once.`},
		{fam: v6, in: "-m iprange --dst-range fe80::1%lo", err: `iprange: Bad value for "--dst-range" option: "fe80::1%lo"`},
		{fam: v6, in: "-m iprange --dst-range 1.2.3.4", err: `iprange: Bad value for "--dst-range" option: "1.2.3.4"`},
		{fam: v4, in: "-m iprange", err: "iprange match: You must specify `--src-range' or `--dst-range'"},
	})
}

func udpFromTo(src, dst string) *packet.Packet {
	return packet.Spec{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}.Build()
}

func TestIPRangeMatch(t *testing.T) {
	runEvalCases(t, mustRule(t, v4, "-m iprange --src-range 10.0.0.10-10.0.1.5 ! --dst-range 192.168.0.0-192.168.255.255"), []evalCase{
		{name: "low end", pkt: udpFromTo("10.0.0.10", "8.8.8.8"), want: true},
		{name: "across a byte", pkt: udpFromTo("10.0.0.200", "8.8.8.8"), want: true},
		{name: "high end", pkt: udpFromTo("10.0.1.5", "8.8.8.8"), want: true},
		{name: "below", pkt: udpFromTo("10.0.0.9", "8.8.8.8")},
		{name: "above", pkt: udpFromTo("10.0.1.6", "8.8.8.8")},
		{name: "to the excluded range", pkt: udpFromTo("10.0.0.10", "192.168.7.7")},
	})
	runEvalCases(t, mustRule(t, v4, "-m iprange --src-range 10.0.0.9-10.0.0.1"), []evalCase{
		{name: "reversed range, between", pkt: udpFromTo("10.0.0.5", "8.8.8.8")},
		{name: "reversed range, an end", pkt: udpFromTo("10.0.0.9", "8.8.8.8")},
	})
	runEvalCases(t, mustRule(t, v4, "-m iprange ! --src-range 10.0.0.9-10.0.0.1"), []evalCase{
		{name: "inverted reversed range", pkt: udpFromTo("10.0.0.5", "8.8.8.8"), want: true},
	})
	runEvalCases(t, mustRule(t, v6, "-m iprange --dst-range 2001:db8::ffff:ffff-2001:db8::1:0:0"), []evalCase{
		{name: "low end", family: v6, pkt: udpFromTo("2001:db8::1", "2001:db8::ffff:ffff"), want: true},
		{name: "carry into the next word", family: v6, pkt: udpFromTo("2001:db8::1", "2001:db8::1:0:0"), want: true},
		{name: "above", family: v6, pkt: udpFromTo("2001:db8::1", "2001:db8::1:0:1")},
		{name: "below", family: v6, pkt: udpFromTo("2001:db8::1", "2001:db8::ffff:fffe")},
	})
}
