package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestICMP6Save(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: v6, in: "-p ipv6-icmp --icmpv6-type echo-request", save: "-p ipv6-icmp -m icmp6 --icmpv6-type 128"},
		{fam: v6, in: "-p icmpv6 --icmpv6-type neighbor-sol", save: "-p ipv6-icmp -m icmp6 --icmpv6-type 135"},
		{fam: v6, in: "-p ipv6-icmp ! --icmpv6-type 1/3", save: "-p ipv6-icmp -m icmp6 ! --icmpv6-type 1/3"},
		{fam: v6, in: "-p ipv6-icmp -m icmpv6 --icmpv6-type 1/3:4", save: "-p ipv6-icmp -m icmp6 --icmpv6-type 1/3"},
		{fam: v6, in: "-p ipv6-icmp -m ipv6-icmp --icmpv6-type 2", save: "-p ipv6-icmp -m icmp6 --icmpv6-type 2"},
		{fam: v6, in: "-p 58 --icmpv6-type 2", save: "-p ipv6-icmp -m icmp6 --icmpv6-type 2"},
		{fam: v6, in: "-p ipv6-icmp --icmpv6-type 128/0:255", save: "-p ipv6-icmp -m icmp6 --icmpv6-type 128"},
		{fam: v6, in: "-p ipv6-icmp --icmpv6-type 128/1:0", save: "-p ipv6-icmp -m icmp6 --icmpv6-type 128/1"},

		{fam: v6, in: "-p ipv6-icmp --icmpv6-type neighbo", err: "Ambiguous ICMPv6 type `neighbo': `neighbour-solicitation' or `neighbor-solicitation'?"},
		{fam: v6, in: "-p ipv6-icmp --icmpv6-type any", err: "Unknown ICMPv6 type `any'"},
		{fam: v6, in: "-p ipv6-icmp --icmpv6-type 1:2", err: "ICMPv6 type range not supported"},
		{fam: v6, in: "-p tcp -m icmp6 --icmpv6-type 2", err: "icmp6 match: only valid for protocol 58"},
		// icmp is IPv4's: ip6tables has no such match
		{fam: v6, in: "-p icmp --icmp-type 8", err: "unknown option \"--icmp-type\""},
	})
}

func icmp6(typ, code uint8) packet.Spec {
	return packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoICMPv6, ICMPType: typ, ICMPCode: code}
}

func TestICMP6Match(t *testing.T) {
	firstFragment := icmp6(1, 3)
	firstFragment.MoreFrags = true
	later := packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoICMPv6, FragOffset: 2, Payload: make([]byte, 8)}.Build()
	runEvalCases(t, mustRule(t, v6, "-p ipv6-icmp --icmpv6-type 1/3:4"), []evalCase{
		{name: "type 1 code 3", family: v6, pkt: icmp6(1, 3).Build(), want: true},
		{name: "type 1 code 4", family: v6, pkt: icmp6(1, 4).Build(), want: true},
		{name: "type 1 code 5", family: v6, pkt: icmp6(1, 5).Build()},
		{name: "type 2 code 3", family: v6, pkt: icmp6(2, 3).Build()},
		{name: "behind a fragment header", family: v6, pkt: firstFragment.Build(), want: true},
		{name: "later fragment", family: v6, pkt: later},
		{name: "truncated", family: v6, pkt: truncate(icmp6(1, 3), 40+4), hotDrop: true},
	})
	// There is no "any": type 255 is only type 255.
	runEvalCases(t, mustRule(t, v6, "-p ipv6-icmp ! --icmpv6-type 255"), []evalCase{
		{name: "echo request", family: v6, pkt: icmp6(128, 0).Build(), want: true},
		{name: "type 255", family: v6, pkt: icmp6(255, 9).Build()},
		{name: "later fragment", family: v6, pkt: later},
	})
}
