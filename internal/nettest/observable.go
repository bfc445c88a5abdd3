package nettest

import (
	"encoding/binary"
	"net/netip"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// Unobservable says why a probe at hook cannot see whether the packet got
// through, or returns "": the packet cannot carry a tag, goes somewhere the
// probe does not watch, or is one the observer cannot receive. Probe
// refuses such packets, since their verdicts would read "dropped" whatever
// the firewall did.
func Unobservable(hook translator.Hook, ip []byte) string {
	h, ok := parseHeader(ip)
	if !ok {
		return "not an IPv4 or IPv6 packet with a whole fixed header: it cannot carry a tag"
	}
	return h.first(hook, unobservable)
}

// KernelDrops says why the firewall's kernel discards the packet on its own
// on the way to hook, or returns "": checks the IP layer makes before
// PREROUTING, martian addresses refused by the route lookup between
// PREROUTING and FORWARD or INPUT, the hop limit, reassembly. A probe
// reports such a packet dropped whatever the firewall decides, so its
// verdict says nothing about the firewall. Connection tracking is assumed
// off in the firewall (no state, conntrack or NAT rules): with it, lone
// fragments are held for reassembly at every hook. The empty-firewall test
// holds this list to the kernel.
func KernelDrops(hook translator.Hook, ip []byte) string {
	h, ok := parseHeader(ip)
	if !ok {
		return ""
	}
	return h.first(hook, kernelDrops)
}

// header is what the rules below look at: the IP header as the kernel's
// first checks see it, broken or not (packet.Parse refuses some of the
// broken headers these rules are about).
type header struct {
	ipv6       bool
	src, dst   netip.Addr
	ttl        uint8 // TTL or hop limit
	headerLen  int   // IPv4 IHL in bytes; 40 for IPv6
	lengthSays int   // IPv4 total length; IPv6 payload length + 40
	size       int   // bytes in hand
	checksumOK bool  // IPv4 header checksum; always true for IPv6
	fragment   bool  // IPv4 MF set or offset not zero
	proto      uint8 // IPv4 protocol; IPv6 header after the fixed one
	l4         []byte
}

func parseHeader(ip []byte) (header, bool) {
	switch {
	case len(ip) >= 40 && ip[0]>>4 == 6:
		return header{ipv6: true,
			src: netip.AddrFrom16([16]byte(ip[8:24])), dst: netip.AddrFrom16([16]byte(ip[24:40])),
			ttl: ip[7], headerLen: 40, lengthSays: int(binary.BigEndian.Uint16(ip[4:])) + 40,
			size: len(ip), checksumOK: true, proto: ip[6],
			l4: ip[40:max(40, min(len(ip), int(binary.BigEndian.Uint16(ip[4:]))+40))]}, true
	case len(ip) >= 20 && ip[0]>>4 == 4:
		h := header{src: netip.AddrFrom4([4]byte(ip[12:16])), dst: netip.AddrFrom4([4]byte(ip[16:20])),
			ttl: ip[8], headerLen: int(ip[0]&0xf) * 4, lengthSays: int(binary.BigEndian.Uint16(ip[2:])),
			size: len(ip), fragment: binary.BigEndian.Uint16(ip[6:])&0x3fff != 0, proto: ip[9]}
		h.checksumOK = h.headerLen >= 20 && h.headerLen <= len(ip) && packet.Checksum(ip[:h.headerLen], 0) == 0
		if h.headerLen >= 20 && h.headerLen <= len(ip) {
			h.l4 = ip[h.headerLen:min(len(ip), max(h.lengthSays, h.headerLen))]
		}
		return h, true
	}
	return header{}, false
}

// rule is one reason a packet is not observed at some hooks.
type rule struct {
	hooks translator.HookMask
	why   string
	is    func(h header) bool
}

func (h header) first(hook translator.Hook, rules []rule) string {
	for _, r := range rules {
		if r.hooks.Has(hook) && r.is(h) {
			return r.why
		}
	}
	return ""
}

var (
	fwd, in, out  = translator.Forward.Mask(), translator.Input.Mask(), translator.Output.Mask()
	fwdIn, fwdOut = fwd | in, fwd | out
)

var unobservable = []rule{
	{fwdOut, "destination is the firewall's own, so it is delivered there, not to the server",
		func(h header) bool { return firewallLocal(h.dst) }},
	{fwdOut, "destination is on the client's link, so the firewall sends it there, not to the server",
		func(h header) bool {
			return ClientLink.IPv4.Masked().Contains(h.dst) || ClientLink.IPv6.Masked().Contains(h.dst)
		}},
	{fwdOut, "destination is on the server's link but not the server: no neighbour answers for it",
		func(h header) bool {
			return (ServerLink.IPv4.Masked().Contains(h.dst) || ServerLink.IPv6.Masked().Contains(h.dst)) &&
				h.dst != ServerLink.IPv4.Addr() && h.dst != ServerLink.IPv6.Addr() && h.dst != lastAddr(ServerLink.IPv4)
		}},
	{out, "destination is unspecified or loopback, so it is delivered in the firewall",
		func(h header) bool { return h.dst.IsUnspecified() || h.dst.IsLoopback() }},
	{out, "IPv6 multicast or link-local destination: the firewall sends it on whichever link's route comes first",
		func(h header) bool { return h.ipv6 && (h.dst.IsMulticast() || h.dst.IsLinkLocalUnicast()) }},
	{out, "IPv4 header length under 20: the kernel refuses to send it (EINVAL)",
		func(h header) bool { return !h.ipv6 && h.headerLen < 20 }},
	{out, "source 0.0.0.0: the kernel fills in its own (raw_send_hdrinc), so the tag no longer matches",
		func(h header) bool { return !h.ipv6 && h.src.IsUnspecified() }},
	{in, "destination is not one of the firewall's addresses",
		func(h header) bool { return !firewallLocal(h.dst) }},
	{in, "no raw socket receives protocol 0 or 255",
		func(h header) bool { return h.proto == 0 || h.proto == 255 }},
	{in, "ICMP shorter than 8 bytes: raw sockets' ICMP filter drops it (icmp_filter)",
		func(h header) bool { return !h.ipv6 && h.proto == packet.ProtoICMP && !h.fragment && len(h.l4) < 8 }},
	{in, "ICMPv6 shorter than 4 bytes: raw sockets' ICMPv6 filter drops it (icmpv6_filter)",
		func(h header) bool { return h.ipv6 && h.proto == packet.ProtoICMPv6 && len(h.l4) < 4 }},
	{in, "IPv6 Mobility Header: raw sockets check its format (mip6_mh_filter) and drop malformed ones",
		func(h header) bool { return h.ipv6 && h.proto == 135 }},
	{in, "ICMPv6 with a wrong checksum: raw ICMPv6 sockets check it and drop the packet",
		func(h header) bool {
			return h.ipv6 && h.proto == packet.ProtoICMPv6 && len(h.l4) >= 4 &&
				packet.Checksum(h.l4, packet.PseudoSum(h.src, h.dst, packet.ProtoICMPv6, len(h.l4))) != 0
		}},
}

var kernelDrops = []rule{
	{fwdIn, "IPv4 header checksum wrong or header length under 20 (ip_rcv_core, before PREROUTING)",
		func(h header) bool { return !h.ipv6 && !h.checksumOK }},
	{fwdIn, "IP length field beyond the packet or inside its header (ip_rcv_core, ip6_rcv_core, before PREROUTING)",
		func(h header) bool { return h.lengthSays > h.size || h.lengthSays < h.headerLen }},
	{fwdIn, "IPv6 multicast or loopback source (ip6_rcv_core, before PREROUTING)",
		func(h header) bool { return h.ipv6 && (h.src.IsMulticast() || h.src.IsLoopback()) }},
	{fwdIn, "martian IPv4 source: 0.0.0.0, loopback, multicast, 255.255.255.255 or the firewall's own (ip_route_input_slow, after PREROUTING)",
		func(h header) bool {
			return !h.ipv6 && (h.src.IsUnspecified() || h.src.IsLoopback() || h.src.IsMulticast() || limitedBroadcast(h.src) || firewallLocal(h.src))
		}},
	{fwd, "TTL or hop limit below 2: time exceeded (ip_forward, ip6_forward, before FORWARD)",
		func(h header) bool { return h.ttl <= 1 }},
	{fwd, "IPv4 destination not forwarded: 0.0.0.0, loopback, multicast, a broadcast address (ip_route_input_slow, after PREROUTING)",
		func(h header) bool {
			return !h.ipv6 && (h.dst.IsUnspecified() || h.dst.IsLoopback() || h.dst.IsMulticast() || limitedBroadcast(h.dst) || h.dst == lastAddr(ServerLink.IPv4))
		}},
	{fwd, "IPv6 destination not forwarded: loopback, multicast or link-local (ip6_rcv_core, ip6_forward)",
		func(h header) bool {
			return h.ipv6 && (h.dst.IsLoopback() || h.dst.IsMulticast() || h.dst.IsLinkLocalUnicast())
		}},
	{fwd, "IPv6 source not forwarded: unspecified or link-local (ip6_forward, ip6_route_input)",
		func(h header) bool { return h.ipv6 && (h.src.IsUnspecified() || h.src.IsLinkLocalUnicast()) }},
	{in, "IPv4 fragment: reassembled before INPUT (ip_local_deliver), and a lone one never completes",
		func(h header) bool { return !h.ipv6 && h.fragment }},
}

// firewallLocal reports an address the firewall delivers to itself: its
// own, and (IPv6, as a router) the subnet-router anycast address of each
// of its links.
func firewallLocal(a netip.Addr) bool {
	for _, l := range []Link{FirewallClientLink, FirewallServerLink} {
		if a == l.IPv4.Addr() || a == l.IPv6.Addr() || a == l.IPv6.Masked().Addr() {
			return true
		}
	}
	return false
}

func limitedBroadcast(a netip.Addr) bool { return a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) }

// lastAddr is the highest address of an IPv4 prefix: its broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}
