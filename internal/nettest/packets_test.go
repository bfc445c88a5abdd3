package nettest

import "github.com/bpftables/bpftables/translator/packet"

// A pkt builds a probe packet for a hook and family, between the hook's
// Endpoints unless it says otherwise.
type pkt func(hook Hook, ipv6 bool) packet.Spec

func udp(dport uint16) pkt {
	return func(hook Hook, ipv6 bool) packet.Spec {
		src, dst := Endpoints(hook, ipv6)
		return packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: dport}
	}
}

func familyName(ipv6 bool) string {
	if ipv6 {
		return "ipv6"
	}
	return "ipv4"
}
