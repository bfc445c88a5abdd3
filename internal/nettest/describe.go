package nettest

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// Describe prints an IP packet in one short line, for test failures:
// protocol, addresses and ports, and the fields that make it odd.
func Describe(ip []byte) string {
	p, err := packet.Parse(ip)
	if err != nil {
		return fmt.Sprintf("%d bytes, %v", len(ip), err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s ", translator.ProtoName(p.Proto))
	switch p.Proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP:
		fmt.Fprintf(&b, "%s > %s", netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort))
	default:
		fmt.Fprintf(&b, "%s > %s", p.Src, p.Dst)
	}
	if p.Proto == packet.ProtoTCP && !p.Fragment && !p.L4Truncated {
		fmt.Fprintf(&b, " [%s]", tcpFlags(p.TCPFlags))
	}
	if (p.Proto == packet.ProtoICMP || p.Proto == packet.ProtoICMPv6) && !p.Fragment && !p.L4Truncated {
		fmt.Fprintf(&b, " type %d code %d", p.ICMPType, p.ICMPCode)
	}
	if p.Fragment || p.MoreFrags {
		fmt.Fprintf(&b, " frag %d", p.FragOffset*8)
		if p.MoreFrags {
			b.WriteString("+")
		}
	}
	if p.L4Truncated {
		b.WriteString(" truncated")
	}
	fmt.Fprintf(&b, " len %d", len(ip))
	if int(p.Len) != len(ip) {
		fmt.Fprintf(&b, " (says %d)", p.Len)
	}
	if !p.IPv6 && packet.Checksum(ip[:p.L4Off], 0) != 0 {
		b.WriteString(" bad-checksum")
	}
	fmt.Fprintf(&b, " ttl %d", p.TTL)
	if p.TOS != 0 {
		fmt.Fprintf(&b, " tos %#x", p.TOS)
	}
	return b.String()
}

func tcpFlags(f uint8) string {
	var s string
	for i, c := range "FSRPAU" {
		if f&(1<<i) != 0 {
			s += string(c)
		}
	}
	if s == "" {
		return "none"
	}
	return s
}
