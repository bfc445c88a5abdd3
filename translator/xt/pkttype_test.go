package xt_test

import (
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestPktTypeSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: v4, in: "-m pkttype --pkt-type host", save: "-m pkttype --pkt-type unicast"},
		{fam: v4, in: "-m pkttype ! --pkt-type MCAST", save: "-m pkttype ! --pkt-type multicast"},
		{fam: v6, in: "-m pkttype --pkt-type BROADCAST", save: "-m pkttype --pkt-type broadcast"},
		{fam: v4, in: "-m pkttype --pkt-type otherhost", save: "-m pkttype --pkt-type otherhost"},
		{fam: v4, in: "-m pkttype --pkt-type outgoing", err: "Bad packet type 'outgoing'"},
		{fam: v4, in: "-m pkttype --pkt-type unicast --pkt-type host", err: `pkttype: option "--pkt-type" can only be used once.`},
		{fam: v4, in: "-m pkttype", err: `pkttype: option "--pkt-type" must be specified`},
	})
}

// pktLoopback is the kernel's PACKET_LOOPBACK.
const pktLoopback packet.PktType = 5

func withPktType(p *packet.Packet, t packet.PktType) *packet.Packet {
	p.PktType = t
	return p
}

func TestPktTypeMatch(t *testing.T) {
	mcast4 := netip.MustParseAddr("224.0.0.251")
	toMcast := packet.Spec{Src: v4src, Dst: mcast4, Proto: packet.ProtoUDP}
	toBcast := packet.Spec{Src: v4src, Dst: netip.MustParseAddr("255.255.255.255"), Proto: packet.ProtoUDP}
	udp6 := packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoUDP}
	runEvalCases(t, mustRule(t, v4, "-m pkttype --pkt-type multicast"), []evalCase{
		{name: "multicast", pkt: withPktType(toMcast.Build(), packet.Multicast), want: true},
		{name: "broadcast", pkt: withPktType(toBcast.Build(), packet.Broadcast)},
		// a looped-back packet is classed by its destination
		{name: "looped back to a group", pkt: withPktType(toMcast.Build(), pktLoopback), want: true},
		{name: "looped back broadcast", pkt: withPktType(toBcast.Build(), pktLoopback)},
	})
	runEvalCases(t, mustRule(t, v4, "-m pkttype --pkt-type broadcast"), []evalCase{
		{name: "looped back broadcast", pkt: withPktType(toBcast.Build(), pktLoopback), want: true},
	})
	runEvalCases(t, mustRule(t, v4, "-m pkttype ! --pkt-type unicast"), []evalCase{
		{name: "to this host", pkt: withPktType(tcp4(1, 2).Build(), packet.Host)},
		{name: "to another host", pkt: withPktType(tcp4(1, 2).Build(), packet.OtherHost), want: true},
	})
	// IPv6 has no broadcast: whatever loops back is multicast.
	runEvalCases(t, mustRule(t, v6, "-m pkttype --pkt-type multicast"), []evalCase{
		{name: "looped back", family: v6, pkt: withPktType(udp6.Build(), pktLoopback), want: true},
	})
}
