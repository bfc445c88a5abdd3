package nettest

import (
	"net/netip"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

const (
	drop = false
	pass = true

	forward, input, output = translator.Forward, translator.Input, translator.Output
	v4, v6                 = translator.IPv4, translator.IPv6
)

var families = []translator.Family{v4, v6}

// A pkt builds a probe packet for a hook and family, between the hook's
// Endpoints unless it says otherwise.
type pkt func(hook translator.Hook, f translator.Family) packet.Spec

func tcp(dport uint16, flags uint8) pkt {
	return func(hook translator.Hook, f translator.Family) packet.Spec {
		src, dst := Endpoints(hook, f)
		return packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: dport, TCPFlags: flags}
	}
}

func udp(dport uint16) pkt {
	return func(hook translator.Hook, f translator.Family) packet.Spec {
		src, dst := Endpoints(hook, f)
		return packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: dport}
	}
}

// icmp is an ICMP message, or ICMPv6 for IPv6.
func icmp(typ uint8) pkt {
	return func(hook translator.Hook, f translator.Family) packet.Spec {
		src, dst := Endpoints(hook, f)
		proto := uint8(packet.ProtoICMP)
		if f == v6 {
			proto = packet.ProtoICMPv6
		}
		return packet.Spec{Src: src, Dst: dst, Proto: proto, ICMPType: typ, ICMPID: 1}
	}
}

// with changes a packet after it is built.
func with(p pkt, edit func(*packet.Spec)) pkt {
	return func(hook translator.Hook, f translator.Family) packet.Spec {
		s := p(hook, f)
		edit(&s)
		return s
	}
}

func ttl(n uint8) func(*packet.Spec)  { return func(s *packet.Spec) { s.TTL = n } }
func tos(n uint8) func(*packet.Spec)  { return func(s *packet.Spec) { s.TOS = n } }
func length(n int) func(*packet.Spec) { return func(s *packet.Spec) { s.Payload = make([]byte, n-28) } }
func src(a string) func(*packet.Spec) { return func(s *packet.Spec) { s.Src = netip.MustParseAddr(a) } }
func dst(a string) func(*packet.Spec) { return func(s *packet.Spec) { s.Dst = netip.MustParseAddr(a) } }
func fragment(off uint16, more bool) func(*packet.Spec) {
	return func(s *packet.Spec) { s.FragOffset, s.MoreFrags, s.Payload = off, more, make([]byte, 16) }
}

func verdictName(passed bool) string {
	if passed {
		return "pass"
	}
	return "drop"
}
