package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

// TestTCPFragments: tcp_mt drops a fragment at offset 1 as an attempt to
// overwrite the flags, but ip6_tables hands it the offset in bytes, so no
// IPv6 fragment is ever dropped (checked against iptables-legacy by the
// end-to-end tests).
func TestTCPFragments(t *testing.T) {
	frag := func(v6 bool, off uint16) *packet.Packet {
		s := packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoTCP, FragOffset: off, Payload: make([]byte, 16)}
		if v6 {
			s.Src, s.Dst = v6src, v6dst
		}
		return s.Build()
	}
	runEvalCases(t, mustRule(t, v4, "-p tcp -m tcp --dport 80"), []evalCase{
		{name: "IPv4 offset 1", pkt: frag(false, 1), hotDrop: true},
		{name: "IPv4 offset 2", pkt: frag(false, 2)},
	})
	runEvalCases(t, mustRule(t, v6, "-p tcp -m tcp --dport 80"), []evalCase{
		{name: "IPv6 offset 1", family: v6, pkt: frag(true, 1)},
		{name: "IPv6 offset 2", family: v6, pkt: frag(true, 2)},
	})
	runEvalCases(t, mustRule(t, v4, "-p tcp -m tcp ! --dport 80"), []evalCase{
		{name: "IPv4 offset 1, inverted", pkt: frag(false, 1), hotDrop: true},
	})
}
