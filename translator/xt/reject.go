package xt

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// Reject is the REJECT target: the packet is dropped and an error is sent
// back in its place (struct ipt_reject_info, ip6t_reject_info).
type Reject struct {
	Family translator.Family
	// With is the kernel's reject type, an IPT_* value for IPv4 and an
	// IP6T_* value for IPv6 (see RejectTypes).
	With uint8
}

// RejectType is one reply REJECT can send.
type RejectType struct {
	Name  string // as iptables-save prints it
	Alias string // the other name --reject-with takes
	// TCPReset is the TCP RST reply; otherwise an ICMP (ICMPv6)
	// destination unreachable error with Code.
	TCPReset bool
	Code     uint8
}

// Reject types of IPv4 (enum ipt_reject_with), indexed by their kernel
// value. Echo-reply (4) is no longer supported and has no entry.
const (
	RejectNetUnreach4 = iota
	RejectHostUnreach4
	RejectProtoUnreach4
	RejectPortUnreach4
	rejectEchoReply4
	RejectNetProhibited4
	RejectHostProhibited4
	RejectTCPReset4
	RejectAdminProhibited4
)

// Reject types of IPv6 (enum ip6t_reject_with). Not-neighbour (2) and
// echo-reply (5) have no entry, as in libip6t_REJECT.
const (
	RejectNoRoute6 = iota
	RejectAdmProhibited6
	rejectNotNeighbour6
	RejectAddrUnreach6
	RejectPortUnreach6
	rejectEchoReply6
	RejectTCPReset6
	RejectPolicyFail6
	RejectRejectRoute6
)

// RejectTypes are the reject types of each family in the order iptables
// looks them up, indexed by kernel value.
var RejectTypes = map[translator.Family][]RejectType{
	translator.IPv4: {
		RejectNetUnreach4:      {Name: "icmp-net-unreachable", Alias: "net-unreach", Code: 0},
		RejectHostUnreach4:     {Name: "icmp-host-unreachable", Alias: "host-unreach", Code: 1},
		RejectProtoUnreach4:    {Name: "icmp-proto-unreachable", Alias: "proto-unreach", Code: 2},
		RejectPortUnreach4:     {Name: "icmp-port-unreachable", Alias: "port-unreach", Code: 3},
		rejectEchoReply4:       {},
		RejectNetProhibited4:   {Name: "icmp-net-prohibited", Alias: "net-prohib", Code: 9},
		RejectHostProhibited4:  {Name: "icmp-host-prohibited", Alias: "host-prohib", Code: 10},
		RejectTCPReset4:        {Name: "tcp-reset", Alias: "tcp-rst", TCPReset: true},
		RejectAdminProhibited4: {Name: "icmp-admin-prohibited", Alias: "admin-prohib", Code: 13},
	},
	translator.IPv6: {
		RejectNoRoute6:       {Name: "icmp6-no-route", Alias: "no-route", Code: 0},
		RejectAdmProhibited6: {Name: "icmp6-adm-prohibited", Alias: "adm-prohibited", Code: 1},
		rejectNotNeighbour6:  {},
		RejectAddrUnreach6:   {Name: "icmp6-addr-unreachable", Alias: "addr-unreach", Code: 3},
		RejectPortUnreach6:   {Name: "icmp6-port-unreachable", Alias: "port-unreach", Code: 4},
		rejectEchoReply6:     {},
		RejectTCPReset6:      {Name: "tcp-reset", Alias: "tcp-reset", TCPReset: true},
		RejectPolicyFail6:    {Name: "icmp6-policy-fail", Alias: "policy-fail", Code: 5},
		RejectRejectRoute6:   {Name: "icmp6-reject-route", Alias: "reject-route", Code: 6},
	},
}

func init() {
	for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
		def := rejectPortUnreach(f)
		RegisterTarget(&TargetDef{
			Name:    "REJECT",
			Family:  f,
			Options: []Option{{Name: "reject-with", Type: String}},
			New: func(f translator.Family) TargetParser {
				return &Reject{Family: f, With: def}
			},
		})
	}
}

// rejectPortUnreach is the default reject type of REJECT_init.
func rejectPortUnreach(f translator.Family) uint8 {
	if f == translator.IPv6 {
		return RejectPortUnreach6
	}
	return RejectPortUnreach4
}

// Name returns "REJECT".
func (t *Reject) Name() string { return "REJECT" }

// Type returns the reject type.
func (t *Reject) Type() RejectType { return RejectTypes[t.Family][t.With] }

// TCPReset reports whether the reply is a TCP RST (plan.Rejecter).
func (t *Reject) TCPReset() bool { return t.Type().TCPReset }

// RejectCode returns the ICMP code of the reply (plan.Rejecter).
func (t *Reject) RejectCode() uint8 { return t.Type().Code }

// Parse takes --reject-with: the first type, in kernel order, of which the
// argument begins the name or the alias (so "icmp-" is
// icmp-net-unreachable, as in iptables).
func (t *Reject) Parse(c *Call) error {
	for i, rt := range RejectTypes[t.Family] {
		if rt.Name == "" {
			continue
		}
		if isAbbrev(rt.Name, c.Arg) || isAbbrev(rt.Alias, c.Arg) {
			t.With = uint8(i)
			return nil
		}
	}
	return c.Errorf("unknown reject type \"%s\"", c.Arg)
}

// Final has nothing to check.
func (t *Reject) Final(*Final) error { return nil }

// Save prints --reject-with, always: the default type too.
func (t *Reject) Save(b *strings.Builder, _ translator.Family) {
	b.WriteString(" --reject-with " + t.Type().Name)
}

// Check applies the kernel's restrictions: the filter table, the INPUT,
// FORWARD and OUTPUT hooks, and -p tcp for a TCP reset.
func (t *Reject) Check(c *translator.CheckContext) error {
	if err := c.RequireTable("REJECT target", "filter"); err != nil {
		return err
	}
	hooks := translator.Input.Mask() | translator.Forward.Mask() | translator.Output.Mask()
	if err := c.RequireHooks("REJECT target", hooks); err != nil {
		return err
	}
	// Echo-reply cannot be parsed any more, but the kernel still names it.
	switch {
	case t.Family == translator.IPv6 && t.With == rejectEchoReply6:
		return c.Errorf("ECHOREPLY is not supported")
	case t.Family != translator.IPv6 && t.With == rejectEchoReply4:
		return c.Errorf("ECHOREPLY no longer supported.")
	}
	if t.Type().TCPReset && (c.Rule.Proto != packet.ProtoTCP || c.Rule.InvProto) {
		if t.Family == translator.IPv6 {
			return c.Errorf("TCP_RESET illegal for non-tcp")
		}
		return c.Errorf("TCP_RESET invalid for non-tcp")
	}
	return nil
}

// Apply drops the packet and records the reply the kernel would send, or
// why it would send none.
func (t *Reject) Apply(c *translator.Context) translator.Verdict {
	rt := t.Type()
	var detail string
	var err error
	switch {
	case rt.TCPReset:
		detail, err = rejectReset(c)
	case c.Packet.IPv6:
		detail, err = rejectUnreach6(c, rt.Code)
	default:
		detail, err = rejectUnreach4(c, rt.Code)
	}
	if err != nil {
		c.Effect("REJECT", "%s: nothing sent (%v)", rt.Name, err)
	} else {
		c.Effect("REJECT", "%s: %s", rt.Name, detail)
	}
	return translator.Drop
}

// rejectChecksumOK is whether the kernel accepts to answer the packet as
// far as its layer 4 checksum goes (nf_reject_verify_csum and
// nf_ip_checksum / reject6_csum_ok). Protocols without a checksum of the
// whole payload, and UDP without a checksum, are answered unverified;
// packets in OUTPUT are local ones whose checksum is left to the device
// (CHECKSUM_PARTIAL), which the kernel does not verify either.
func rejectChecksumOK(c *translator.Context) bool {
	p := c.Packet
	if c.Hook == translator.Output {
		return true
	}
	switch p.Proto {
	case packet.ProtoUDP:
		if l4 := l4Bytes(p); len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return true
		}
	case 47 /* GRE */, packet.ProtoAH, packet.ProtoESP, packet.ProtoSCTP, packet.ProtoUDPLite, packet.ProtoDCCP:
		return true
	}
	// IPv4 sums the pseudo-header for TCP and UDP only (nf_ip_checksum);
	// IPv6 for every protocol (nf_ip6_checksum).
	pseudo := p.IPv6 || p.Proto == packet.ProtoTCP || p.Proto == packet.ProtoUDP
	return l4ChecksumOK(p, pseudo)
}

// rejectICMPErrors are the ICMP types that are errors (icmp_pointers[].error):
// an error is never answered with an error.
var rejectICMPErrors = map[uint8]bool{3: true, 4: true, 5: true, 11: true, 12: true}

// rejectUnreach4 decides as nf_send_unreach and icmp_send whether an ICMP
// destination unreachable is sent for an IPv4 packet.
func rejectUnreach4(c *translator.Context, code uint8) (string, error) {
	p := c.Packet
	switch {
	case p.Fragment:
		return "", fmt.Errorf("not the first fragment")
	case !rejectChecksumOK(c):
		return "", fmt.Errorf("bad %s checksum", translator.ProtoName(p.Proto))
	case c.Hook != translator.Output && p.PktType != packet.Host:
		return "", fmt.Errorf("link-layer broadcast or multicast")
	case p.Dst.IsMulticast() || p.Dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "", fmt.Errorf("broadcast or multicast destination")
	case p.Proto == packet.ProtoICMP:
		l4 := l4Bytes(p)
		if len(l4) < 1 {
			return "", fmt.Errorf("ICMP header truncated")
		}
		// unknown types count as errors too (NR_ICMP_TYPES is 18)
		if l4[0] > 18 || rejectICMPErrors[l4[0]] {
			return "", fmt.Errorf("reply to an ICMP error")
		}
	}
	return fmt.Sprintf("ICMP type 3 code %d to %s", code, p.Src), nil
}

// rejectUnreach6 decides as nf_send_unreach6 and icmp6_send whether an
// ICMPv6 destination unreachable is sent for an IPv6 packet.
func rejectUnreach6(c *translator.Context, code uint8) (string, error) {
	p := c.Packet
	switch {
	case p.Fragment:
		return "", fmt.Errorf("not the first fragment")
	case !rejectChecksumOK(c):
		return "", fmt.Errorf("bad %s checksum", translator.ProtoName(p.Proto))
	case p.Dst.IsMulticast() || (c.Hook != translator.Output && p.PktType != packet.Host):
		return "", fmt.Errorf("multicast destination")
	case p.Src.IsUnspecified() || p.Src.IsMulticast():
		return "", fmt.Errorf("unspecified or multicast source")
	case p.Proto == packet.ProtoICMPv6:
		if l4 := l4Bytes(p); len(l4) < 1 || l4[0] < 128 {
			return "", fmt.Errorf("reply to an ICMPv6 error")
		}
	}
	return fmt.Sprintf("ICMPv6 type 1 code %d to %s", code, p.Src), nil
}

// rejectReset decides as nf_send_reset and nf_send_reset6 whether a TCP
// RST is sent, and builds its numbers as nf_reject_ip_tcphdr_put does: an
// RST acknowledging the segment when it had no ACK, else an RST whose
// sequence number is the acknowledged one.
func rejectReset(c *translator.Context) (string, error) {
	p := c.Packet
	l4 := l4Bytes(p)
	switch {
	case p.Fragment:
		return "", fmt.Errorf("not the first fragment")
	case p.Proto != packet.ProtoTCP:
		return "", fmt.Errorf("not TCP")
	case len(l4) < 20:
		return "", fmt.Errorf("TCP header truncated")
	case l4[13]&packet.RST != 0:
		return "", fmt.Errorf("no RST for RST")
	case !rejectChecksumOK(c):
		return "", fmt.Errorf("bad tcp checksum")
	case p.IPv6 && (!rejectUnicast6(p.Src) || !rejectUnicast6(p.Dst)):
		return "", fmt.Errorf("not unicast")
	case !p.IPv6 && (p.Dst.IsMulticast() || p.Dst == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
		return "", fmt.Errorf("broadcast or multicast destination")
	}
	seq := binary.BigEndian.Uint32(l4[4:])
	ackSeq := binary.BigEndian.Uint32(l4[8:])
	flags := l4[13]
	from := netip.AddrPortFrom(p.Dst, p.DstPort)
	to := netip.AddrPortFrom(p.Src, p.SrcPort)
	if flags&packet.ACK != 0 {
		return fmt.Sprintf("TCP RST from %s to %s seq %d", from, to, ackSeq), nil
	}
	doff := int(l4[12]>>4) * 4
	ack := seq + uint32(len(l4)-doff)
	if flags&packet.SYN != 0 {
		ack++
	}
	if flags&packet.FIN != 0 {
		ack++
	}
	return fmt.Sprintf("TCP RST,ACK from %s to %s seq 0 ack %d", from, to, ack), nil
}

// rejectUnicast6 is ipv6_addr_type(a) & IPV6_ADDR_UNICAST: neither
// unspecified nor multicast.
func rejectUnicast6(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsMulticast()
}

// ResetReply builds the IP packet of the TCP RST the kernel sends in
// answer to p (nf_reject_iphdr_put, nf_reject_ip_tcphdr_put and their
// IPv6 twins, with the default TTL or hop limit of 64), or returns nil
// when it sends none (rejectReset). The datapath's reply is held to it.
// The checksum is not verified, as the datapath does not verify it.
func ResetReply(p *packet.Packet) []byte {
	c := &translator.Context{Packet: p, Hook: translator.Output} // OUTPUT: no checksum check
	if _, err := rejectReset(c); err != nil {
		return nil
	}
	l4 := l4Bytes(p)
	tcp := make([]byte, 20)
	copy(tcp[0:], l4[2:4])
	copy(tcp[2:], l4[0:2])
	tcp[12] = 5 << 4
	if l4[13]&packet.ACK != 0 {
		copy(tcp[4:], l4[8:12])
		tcp[13] = packet.RST
	} else {
		doff := int(l4[12]>>4) * 4
		ack := binary.BigEndian.Uint32(l4[4:]) + uint32(len(l4)-doff)
		if l4[13]&packet.SYN != 0 {
			ack++
		}
		if l4[13]&packet.FIN != 0 {
			ack++
		}
		binary.BigEndian.PutUint32(tcp[8:], ack)
		tcp[13] = packet.RST | packet.ACK
	}
	binary.BigEndian.PutUint16(tcp[16:], packet.Checksum(tcp, packet.PseudoSum(p.Dst, p.Src, packet.ProtoTCP, 20)))
	var ip []byte
	if p.IPv6 {
		ip = make([]byte, 40, 60)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], 20)
		ip[6], ip[7] = packet.ProtoTCP, 64
		copy(ip[8:], p.Dst.AsSlice())
		copy(ip[24:], p.Src.AsSlice())
	} else {
		ip = make([]byte, 20, 40)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], 40)
		ip[6] = 0x40 // DF
		ip[8], ip[9] = 64, packet.ProtoTCP
		copy(ip[12:], p.Dst.AsSlice())
		copy(ip[16:], p.Src.AsSlice())
		binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip, 0))
	}
	return append(ip, tcp...)
}

// UnreachReply builds the IP packet of the ICMP (ICMPv6) destination
// unreachable error with the code the kernel sends from src in answer to
// p at the hook (icmp_send, icmp6_send: the offending packet quoted up to
// 576 or 1280 bytes of reply; TTL or hop limit 64; IPv4 TOS of network
// control, IP ID 0 where the kernel picks one), or nil when it sends none.
// The datapath's reply is held to it.
func UnreachReply(p *packet.Packet, code uint8, hook translator.Hook, src netip.Addr) []byte {
	c := &translator.Context{Packet: p, Hook: hook}
	ip := p.Data
	if int(p.Len) <= len(ip) {
		ip = ip[:p.Len]
	}
	if p.IPv6 {
		if _, err := rejectUnreach6(c, code); err != nil {
			return nil
		}
		q := ip[:min(len(ip), 1280-48)]
		b := make([]byte, 48, 48+len(q))
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:], uint16(8+len(q)))
		b[6], b[7] = packet.ProtoICMPv6, 64
		copy(b[8:], src.AsSlice())
		copy(b[24:], p.Src.AsSlice())
		b[40], b[41] = 1, code
		b = append(b, q...)
		binary.BigEndian.PutUint16(b[42:], packet.Checksum(b[40:], packet.PseudoSum(src, p.Src, packet.ProtoICMPv6, len(b)-40)))
		return b
	}
	if _, err := rejectUnreach4(c, code); err != nil {
		return nil
	}
	q := ip[:min(len(ip), 576-28)]
	b := make([]byte, 28, 28+len(q))
	b[0], b[1] = 0x45, p.TOS&0x1e|0xc0
	binary.BigEndian.PutUint16(b[2:], uint16(28+len(q)))
	b[8], b[9] = 64, packet.ProtoICMP
	copy(b[12:], src.AsSlice())
	copy(b[16:], p.Src.AsSlice())
	binary.BigEndian.PutUint16(b[10:], packet.Checksum(b[:20], 0))
	b[20], b[21] = 3, code
	b = append(b, q...)
	binary.BigEndian.PutUint16(b[22:], packet.Checksum(b[20:], 0))
	return b
}
