package xt_test

import (
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

var (
	v4src = netip.MustParseAddr("192.0.2.1")
	v4dst = netip.MustParseAddr("198.51.100.2")
	v6src = netip.MustParseAddr("2001:db8::1")
	v6dst = netip.MustParseAddr("2001:db8::2")
)

const v4, v6 = translator.IPv4, translator.IPv6

// The forms and messages below are iptables-legacy's, checked against
// it, except the kernel's refusals, which iptables reports only as
// "Invalid argument".
func TestICMPSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: v4, in: "-p icmp --icmp-type echo-request", save: "-p icmp -m icmp --icmp-type 8"},
		{fam: v4, in: "-p icmp --icmp-type ECHO-REQ", save: "-p icmp -m icmp --icmp-type 8"},
		{fam: v4, in: "-p icmp --icmp-type 0x8", save: "-p icmp -m icmp --icmp-type 8"},
		{fam: v4, in: "-p icmp --icmp-type +3", save: "-p icmp -m icmp --icmp-type 3"},
		{fam: v4, in: `-p icmp --icmp-type " 3"`, save: "-p icmp -m icmp --icmp-type 3"},
		// Only the first code of a range is printed.
		{fam: v4, in: "-p icmp --icmp-type 3/1:5", save: "-p icmp -m icmp --icmp-type 3/1"},
		{fam: v4, in: "-p icmp --icmp-type 3:3/4", save: "-p icmp -m icmp --icmp-type 3/4"},
		{fam: v4, in: "-p icmp ! --icmp-type port-unreachable", save: "-p icmp -m icmp ! --icmp-type 3/3"},
		{fam: v4, in: "-p icmp --icmp-type network-unreachable", save: "-p icmp -m icmp --icmp-type 3/0"},
		{fam: v4, in: "-p icmp ! --icmp-type any", save: "-p icmp -m icmp ! --icmp-type any"},
		{fam: v4, in: "-p icmp --icmp-type 255", save: "-p icmp -m icmp --icmp-type any"},
		// iptables 1.8.13 prints "any" only for every code of type 255.
		{fam: v4, in: "-p icmp --icmp-type 255/0", save: "-p icmp -m icmp --icmp-type 255/0"},
		{fam: v4, in: "-p icmp -m icmp --icmp-type 3 -m icmp --icmp-type 4", save: "-p icmp -m icmp --icmp-type 3 -m icmp --icmp-type 4"},

		{fam: v4, in: "-p icmp --icmp-type p", err: "Ambiguous ICMP type `p': `pong' or `protocol-unreachable'?"},
		{fam: v4, in: "-p icmp --icmp-type ttl-", err: "Ambiguous ICMP type `ttl-': `ttl-exceeded' or `ttl-zero-during-transit'?"},
		{fam: v4, in: `-p icmp --icmp-type ""`, err: "Ambiguous ICMP type `': `any' or `echo-reply'?"},
		{fam: v4, in: "-p icmp --icmp-type 3:4", err: "ICMP type range not supported"},
		{fam: v4, in: "-p icmp --icmp-type 3/x", err: "Unknown ICMP code `3/x'"},
		{fam: v4, in: "-p icmp --icmp-type 3/", err: "Unknown ICMP code `3/'"},
		{fam: v4, in: "-p icmp --icmp-type 3/256", err: "Unknown ICMP code `3/256'"},
		{fam: v4, in: "-p icmp --icmp-type 3x", err: "unknown character x"},
		{fam: v4, in: "-p icmp --icmp-type 3/4x", err: "unknown character x"},
		{fam: v4, in: "-p icmp --icmp-type 256", err: "Unknown ICMP type `256'"},
		{fam: v4, in: "-p icmp --icmp-type foo", err: "Unknown ICMP type `foo'"},
		{fam: v4, in: "-p icmp --icmp-type 8 --icmp-type 0", err: `icmp: option "--icmp-type" can only be used once.`},
		{fam: v4, in: "-p icmp -m icmp", err: `icmp: option "--icmp-type" must be specified`},
		{fam: v4, in: "-p tcp -m icmp --icmp-type 3", err: "icmp match: only valid for protocol 1"},
		{fam: v4, in: "-m icmp --icmp-type 3", err: "icmp match: only valid for protocol 1"},
		{fam: v4, in: "! -p icmp -m icmp --icmp-type 3", err: "icmp match: only valid for protocol 1"},
	})
}

func icmp4(typ, code uint8) packet.Spec {
	return packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoICMP, ICMPType: typ, ICMPCode: code}
}

func TestICMPMatch(t *testing.T) {
	laterFragment := packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoICMP, FragOffset: 1, Payload: make([]byte, 8)}.Build()
	runEvalCases(t, mustRule(t, v4, "-p icmp --icmp-type 3/1:5"), []evalCase{
		{name: "type 3 code 1", pkt: icmp4(3, 1).Build(), want: true},
		{name: "type 3 code 5", pkt: icmp4(3, 5).Build(), want: true},
		{name: "type 3 code 0", pkt: icmp4(3, 0).Build()},
		{name: "type 3 code 6", pkt: icmp4(3, 6).Build()},
		{name: "type 4 code 1", pkt: icmp4(4, 1).Build()},
		{name: "later fragment", pkt: laterFragment},
		// the kernel reads the whole 8-byte header, not just type and code
		{name: "7 bytes of ICMP", pkt: truncate(icmp4(3, 1), 20+7), hotDrop: true},
		{name: "8 bytes of ICMP", pkt: truncate(icmp4(3, 1), 20+8), want: true},
	})
	runEvalCases(t, mustRule(t, v4, "-p icmp ! --icmp-type echo-request"), []evalCase{
		{name: "echo reply", pkt: icmp4(0, 0).Build(), want: true},
		{name: "echo request", pkt: icmp4(8, 0).Build()},
		// inversion does not make later fragments match
		{name: "later fragment", pkt: laterFragment},
		{name: "truncated", pkt: truncate(icmp4(0, 0), 20+2), hotDrop: true},
	})
	runEvalCases(t, mustRule(t, v4, "-p icmp --icmp-type any"), []evalCase{
		{name: "echo request", pkt: icmp4(8, 0).Build(), want: true},
		{name: "type 255 code 7", pkt: icmp4(255, 7).Build(), want: true},
	})
	runEvalCases(t, mustRule(t, v4, "-p icmp ! --icmp-type any"), []evalCase{
		{name: "echo request", pkt: icmp4(8, 0).Build()},
	})
	// The kernel takes type 255 as "any" whatever the codes, though
	// iptables prints it as a type.
	runEvalCases(t, mustRule(t, v4, "-p icmp --icmp-type 255/0"), []evalCase{
		{name: "echo request", pkt: icmp4(8, 0).Build(), want: true},
		{name: "type 255 code 1", pkt: icmp4(255, 1).Build(), want: true},
	})
}
