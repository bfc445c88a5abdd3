package xt

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// Log is the LOG target: the packet is logged to the kernel log and goes
// on to the next rule (struct xt_log_info).
type Log struct {
	Level  uint8 // syslog level, 0-7
	Flags  uint8 // LogTCPSeq, ...
	Prefix string
}

// LOG flags (XT_LOG_*): what the log line shows besides the basics.
const (
	LogTCPSeq    = 0x01 // TCP sequence numbers
	LogTCPOpt    = 0x02 // TCP options
	LogIPOpt     = 0x04 // IP options
	LogUID       = 0x08 // owner of the local socket
	LogMACDecode = 0x20 // MAC addresses and protocol decoded
)

// logDefaultLevel is LOG_WARNING, which iptables-save leaves out.
const logDefaultLevel = 4

// Option IDs follow the XT_LOG_* bit positions, as in libxt_LOG, so that a
// flag option's ID is its bit.
const (
	logOptTCPSeq = iota
	logOptTCPOpts
	logOptIPOpts
	logOptUID
	_ // XT_LOG_NFLOG, which iptables offers no option for
	logOptMAC
	logOptLevel
	logOptPrefix
)

var logOptions = []Option{
	{Name: "log-level", Type: SyslogLevel, ID: logOptLevel},
	// xt_log_info holds 30 bytes: a longer prefix is cut to 29 characters.
	{Name: "log-prefix", Type: String, ID: logOptPrefix, Min: 1, Size: 30},
	{Name: "log-tcp-sequence", Type: None, ID: logOptTCPSeq},
	{Name: "log-tcp-options", Type: None, ID: logOptTCPOpts},
	{Name: "log-ip-options", Type: None, ID: logOptIPOpts},
	{Name: "log-uid", Type: None, ID: logOptUID},
	{Name: "log-macdecode", Type: None, ID: logOptMAC},
}

func init() {
	// One extension in iptables (libxt_LOG), but the kernel registers it
	// per family and logs each family in its own format.
	for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
		RegisterTarget(&TargetDef{
			Name:    "LOG",
			Family:  f,
			Options: logOptions,
			New:     func(translator.Family) TargetParser { return &Log{Level: logDefaultLevel} },
		})
	}
}

// Name returns "LOG".
func (t *Log) Name() string { return "LOG" }

// Parse takes one LOG option.
func (t *Log) Parse(c *Call) error {
	switch c.Opt.ID {
	case logOptLevel:
		t.Level = uint8(c.U64)
	case logOptPrefix:
		if strings.Contains(c.Arg, "\n") {
			return c.Errorf("Newlines not allowed in --log-prefix")
		}
		t.Prefix = c.Arg
	default:
		t.Flags |= 1 << c.Opt.ID
	}
	return nil
}

// Final has nothing to check.
func (t *Log) Final(*Final) error { return nil }

// Save prints the options as LOG_save does: the level as a number, and
// only when it is not the default.
func (t *Log) Save(b *strings.Builder, _ translator.Family) {
	if t.Prefix != "" {
		b.WriteString(" --log-prefix")
		SaveString(b, t.Prefix)
	}
	if t.Level != logDefaultLevel {
		Savef(b, " --log-level %d", t.Level)
	}
	for _, f := range []struct {
		flag uint8
		opt  string
	}{
		{LogTCPSeq, "--log-tcp-sequence"}, {LogTCPOpt, "--log-tcp-options"},
		{LogIPOpt, "--log-ip-options"}, {LogUID, "--log-uid"}, {LogMACDecode, "--log-macdecode"},
	} {
		if t.Flags&f.flag != 0 {
			b.WriteString(" " + f.opt)
		}
	}
}

// Check accepts LOG anywhere: the kernel checks only the level and the
// prefix, which parsing already bounds.
func (t *Log) Check(c *translator.CheckContext) error {
	if t.Level >= 8 {
		return c.Errorf("LOG target: level %d >= 8", t.Level)
	}
	return nil
}

// Apply records the line the kernel would log, as "<level>" and the text
// nf_log_syslog writes, and lets the packet go on.
func (t *Log) Apply(c *translator.Context) translator.Verdict {
	c.Effect("LOG", "<%d>%s", t.Level, t.Line(c))
	return translator.Continue
}

// Line formats the log line of the packet as nf_log_ip_packet and
// nf_log_ip6_packet do, from the prefix on. The input interface is known
// in PREROUTING, INPUT and FORWARD, the output interface in FORWARD,
// OUTPUT and POSTROUTING, as the hooks pass them to the logger.
func (t *Log) Line(c *translator.Context) string {
	p := c.Packet
	var in, out string
	switch c.Hook {
	case translator.PreRouting, translator.Input:
		in = p.InIface
	case translator.Forward:
		in, out = p.InIface, p.OutIface
	case translator.Output, translator.PostRouting:
		out = p.OutIface
	}
	l := &logLine{flags: t.Flags, p: p}
	l.add("%sIN=%s OUT=%s ", t.Prefix, in, out)
	if p.Bridged {
		if p.PhysIn != "" && p.PhysIn != in {
			l.add("PHYSIN=%s ", p.PhysIn)
		}
		if p.PhysOut != "" && p.PhysOut != out {
			l.add("PHYSOUT=%s ", p.PhysOut)
		}
	}
	if in != "" {
		l.macHeader()
	}
	if p.IPv6 {
		l.ipv6(0, true)
	} else {
		l.ipv4(0)
	}
	return l.b.String()
}

// LogEvent is a logged packet as a capture hands it over, without the
// evaluator's parsed Packet: the interfaces the hook passes to the logger
// (empty where it passes none), the link-layer header as received, and
// the packet from its IP header on. Data must reach as far as the line
// reads (the IP header with its options, and the L4 header, or the ICMP
// error's quoted headers): a shorter Data is logged as the kernel logs a
// short packet (TRUNCATED, INCOMPLETE).
type LogEvent struct {
	In, Out string
	// MAC is the link-layer header of a received packet (printed only
	// when In is set); nil prints "MAC= ", as for a device without one.
	MAC  []byte
	Data []byte
	IPv6 bool
	Mark uint32
}

// Format formats the log line of a captured packet as Line does for an
// evaluated one, with the link-layer header printed byte for byte as
// dump_mac_header prints it (or decoded, with --log-macdecode, for an
// Ethernet header).
func (t *Log) Format(e *LogEvent) string {
	l := &logLine{flags: t.Flags, p: &packet.Packet{Data: e.Data, IPv6: e.IPv6, Mark: e.Mark}, mac: e.MAC, rawMAC: true}
	l.add("%sIN=%s OUT=%s ", t.Prefix, e.In, e.Out)
	if e.In != "" {
		l.macHeader()
	}
	if e.IPv6 {
		l.ipv6(0, true)
	} else {
		l.ipv4(0)
	}
	return l.b.String()
}

// logLine builds one log line.
type logLine struct {
	b     strings.Builder
	flags uint8
	p     *packet.Packet
	// rawMAC says mac is the captured link-layer header, to print as it
	// is instead of rebuilding one from the Packet.
	rawMAC bool
	mac    []byte
}

func (l *logLine) add(format string, args ...any) { fmt.Fprintf(&l.b, format, args...) }

// bytes returns n bytes of the packet at off, or nil where
// skb_header_pointer would fail.
func (l *logLine) bytes(off, n int) []byte {
	if off < 0 || off+n > len(l.p.Data) {
		return nil
	}
	return l.p.Data[off : off+n]
}

// macHeader prints the link-layer header of a received packet. The Packet
// keeps only the source MAC: the destination is printed as the one the
// sender must have used for a broadcast or multicast, and as zeros for a
// unicast packet, whose destination was a local MAC not recorded.
func (l *logLine) macHeader() {
	if l.rawMAC {
		l.rawMACHeader()
		return
	}
	p := l.p
	if len(p.SrcMAC) != 6 {
		// no link-layer header (a tunnel, or a packet without one)
		l.add("MAC= ")
		return
	}
	dst := make(net.HardwareAddr, 6)
	switch {
	case p.PktType == packet.Broadcast:
		copy(dst, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	case p.PktType == packet.Multicast && p.Dst.Is4():
		a := p.Dst.As4()
		copy(dst, []byte{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]})
	case p.PktType == packet.Multicast && p.Dst.Is6():
		a := p.Dst.As16()
		copy(dst, []byte{0x33, 0x33, a[12], a[13], a[14], a[15]})
	}
	proto := uint16(0x0800)
	if p.IPv6 {
		proto = 0x86dd
	}
	if l.flags&LogMACDecode != 0 {
		l.add("MACSRC=%s MACDST=%s MACPROTO=%04x ", p.SrcMAC, dst, proto)
		return
	}
	l.add("MAC=%s:%s:%02x:%02x ", dst, p.SrcMAC, proto>>8, proto&0xff)
}

// rawMACHeader prints a captured link-layer header as dump_mac_header
// does: decoded if asked and it is Ethernet's, else every byte in hex.
func (l *logLine) rawMACHeader() {
	h := l.mac
	if l.flags&LogMACDecode != 0 && len(h) == 14 {
		l.add("MACSRC=%s MACDST=%s MACPROTO=%04x ", net.HardwareAddr(h[6:12]), net.HardwareAddr(h[0:6]), binary.BigEndian.Uint16(h[12:]))
		return
	}
	l.add("MAC=")
	for i, c := range h {
		if i > 0 {
			l.add(":")
		}
		l.add("%02x", c)
	}
	l.add(" ")
}

// ipv4 prints the IPv4 packet at off as dump_ipv4_packet does; off is not
// zero for the packet quoted in an ICMP error.
func (l *logLine) ipv4(off int) {
	ih := l.bytes(off, 20)
	if ih == nil {
		l.add("TRUNCATED")
		return
	}
	src := netip.AddrFrom4([4]byte(ih[12:16]))
	dst := netip.AddrFrom4([4]byte(ih[16:20]))
	l.add("SRC=%s DST=%s ", src, dst)
	tos := ih[1]
	l.add("LEN=%d TOS=0x%02X PREC=0x%02X TTL=%d ID=%d ",
		binary.BigEndian.Uint16(ih[2:]), tos&0x1e, tos&0xe0, ih[8], binary.BigEndian.Uint16(ih[4:]))
	frag := binary.BigEndian.Uint16(ih[6:])
	if frag&0x8000 != 0 {
		l.add("CE ")
	}
	if frag&0x4000 != 0 {
		l.add("DF ")
	}
	if frag&0x2000 != 0 {
		l.add("MF ")
	}
	fragOff := frag & 0x1fff
	if fragOff != 0 {
		l.add("FRAG:%d ", fragOff)
	}
	ihl := int(ih[0]&0x0f) * 4
	if l.flags&LogIPOpt != 0 && ihl > 20 {
		op := l.bytes(off+20, ihl-20)
		if op == nil {
			l.add("TRUNCATED")
			return
		}
		l.add("OPT (%X) ", op)
	}
	l4 := off + ihl
	switch proto := ih[9]; proto {
	case packet.ProtoTCP:
		if l.tcp(l4, fragOff != 0) {
			return
		}
	case packet.ProtoUDP, packet.ProtoUDPLite:
		if l.udp(proto, l4, fragOff != 0) {
			return
		}
	case packet.ProtoICMP:
		l.icmp(off, l4, fragOff != 0)
	case packet.ProtoAH:
		if fragOff != 0 {
			break
		}
		l.add("PROTO=AH ")
		ah := l.bytes(l4, 12)
		if ah == nil {
			l.add("INCOMPLETE [%d bytes] ", len(l.p.Data)-l4)
			break
		}
		l.add("SPI=0x%x ", binary.BigEndian.Uint32(ah[4:]))
	case packet.ProtoESP:
		l.add("PROTO=ESP ")
		if fragOff != 0 {
			break
		}
		esp := l.bytes(l4, 8)
		if esp == nil {
			l.add("INCOMPLETE [%d bytes] ", len(l.p.Data)-l4)
			break
		}
		l.add("SPI=0x%x ", binary.BigEndian.Uint32(esp))
	default:
		l.add("PROTO=%d ", proto)
	}
	if off == 0 {
		l.owner()
	}
}

// logICMPRequiredLen is the length an ICMP message of each type needs to be
// logged in full (dump_ipv4_packet's required_len).
var logICMPRequiredLen = map[uint8]int{
	0: 4, 3: 8 + 20, 4: 8 + 20, 5: 8 + 20, 8: 4, 11: 8 + 20, 12: 8 + 20,
	13: 20, 14: 20, 17: 12, 18: 12,
}

func (l *logLine) icmp(ipOff, off int, fragment bool) {
	l.add("PROTO=ICMP ")
	if fragment {
		return
	}
	ich := l.bytes(off, 8)
	if ich == nil {
		l.add("INCOMPLETE [%d bytes] ", len(l.p.Data)-off)
		return
	}
	typ, code := ich[0], ich[1]
	l.add("TYPE=%d CODE=%d ", typ, code)
	if need := logICMPRequiredLen[typ]; need != 0 && len(l.p.Data)-off < need {
		l.add("INCOMPLETE [%d bytes] ", len(l.p.Data)-off)
		return
	}
	switch typ {
	case 0, 8: // echo reply, echo request
		l.add("ID=%d SEQ=%d ", binary.BigEndian.Uint16(ich[4:]), binary.BigEndian.Uint16(ich[6:]))
	case 12: // parameter problem
		l.add("PARAMETER=%d ", ich[4])
	case 5, 3, 4, 11: // redirect, destination unreachable, source quench, time exceeded
		if typ == 5 {
			l.add("GATEWAY=%s ", netip.AddrFrom4([4]byte(ich[4:8])))
		}
		if ipOff == 0 { // only recurse once
			l.add("[")
			l.ipv4(off + 8)
			l.add("] ")
		}
		if typ == 3 && code == 4 { // fragmentation needed
			l.add("MTU=%d ", binary.BigEndian.Uint16(ich[6:]))
		}
	}
}

// tcp prints a TCP header as nf_log_dump_tcp_header does; it reports
// whether the rest of the line is to be left out.
func (l *logLine) tcp(off int, fragment bool) bool {
	l.add("PROTO=TCP ")
	if fragment {
		return false
	}
	th := l.bytes(off, 20)
	if th == nil {
		l.add("INCOMPLETE [%d bytes] ", len(l.p.Data)-off)
		return true
	}
	l.add("SPT=%d DPT=%d ", binary.BigEndian.Uint16(th), binary.BigEndian.Uint16(th[2:]))
	if l.flags&LogTCPSeq != 0 {
		l.add("SEQ=%d ACK=%d ", binary.BigEndian.Uint32(th[4:]), binary.BigEndian.Uint32(th[8:]))
	}
	l.add("WINDOW=%d ", binary.BigEndian.Uint16(th[14:]))
	l.add("RES=0x%02x ", (th[12]&0x0f)<<2)
	for _, f := range []struct {
		bit  uint8
		name string
	}{{0x80, "CWR"}, {0x40, "ECE"}, {0x20, "URG"}, {0x10, "ACK"}, {0x08, "PSH"}, {0x04, "RST"}, {0x02, "SYN"}, {0x01, "FIN"}} {
		if th[13]&f.bit != 0 {
			l.add("%s ", f.name)
		}
	}
	l.add("URGP=%d ", binary.BigEndian.Uint16(th[18:]))
	if doff := int(th[12]>>4) * 4; l.flags&LogTCPOpt != 0 && doff > 20 {
		op := l.bytes(off+20, doff-20)
		if op == nil {
			l.add("OPT (TRUNCATED)")
			return true
		}
		l.add("OPT (%X) ", op)
	}
	return false
}

// udp prints a UDP or UDP-Lite header as nf_log_dump_udp_header does.
func (l *logLine) udp(proto uint8, off int, fragment bool) bool {
	if proto == packet.ProtoUDP {
		l.add("PROTO=UDP ")
	} else {
		l.add("PROTO=UDPLITE ")
	}
	if fragment {
		return false
	}
	uh := l.bytes(off, 8)
	if uh == nil {
		l.add("INCOMPLETE [%d bytes] ", len(l.p.Data)-off)
		return true
	}
	l.add("SPT=%d DPT=%d LEN=%d ", binary.BigEndian.Uint16(uh), binary.BigEndian.Uint16(uh[2:]), binary.BigEndian.Uint16(uh[4:]))
	return false
}

// owner prints the socket owner and the mark of the logged packet itself
// (not of a quoted one).
func (l *logLine) owner() {
	p := l.p
	if l.flags&LogUID != 0 && p.Sock != nil {
		l.add("UID=%d GID=%d ", p.Sock.UID, p.Sock.GID)
	}
	if p.Mark != 0 {
		l.add("MARK=0x%x ", p.Mark)
	}
}

// logIPv6Addr prints an IPv6 address as the kernel's %pI6 does: eight groups
// of four hex digits, nothing left out.
func logIPv6Addr(b []byte) string {
	var s strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		fmt.Fprintf(&s, "%02x%02x", b[i], b[i+1])
	}
	return s.String()
}

// ipv6 prints the IPv6 packet at off as dump_ipv6_packet does; recurse is
// false for the packet quoted in an ICMPv6 error.
func (l *logLine) ipv6(off int, recurse bool) {
	ih := l.bytes(off, 40)
	if ih == nil {
		l.add("TRUNCATED")
		return
	}
	l.add("SRC=%s DST=%s ", logIPv6Addr(ih[8:24]), logIPv6Addr(ih[24:40]))
	word := binary.BigEndian.Uint32(ih)
	l.add("LEN=%d TC=%d HOPLIMIT=%d FLOWLBL=%d ",
		int(binary.BigEndian.Uint16(ih[4:]))+40, (word&0x0ff00000)>>20, ih[7], word&0x000fffff)
	ipopt := l.flags&LogIPOpt != 0
	fragment := false
	ptr := off + 40
	cur := ih[6]
	for logIPv6ExtHdr(cur) {
		hp := l.bytes(ptr, 2)
		if hp == nil {
			l.add("TRUNCATED")
			return
		}
		if ipopt {
			l.add("OPT ( ")
		}
		var hdrlen int
		switch cur {
		case 44: // fragment
			l.add("FRAG:")
			fh := l.bytes(ptr, 8)
			if fh == nil {
				l.add("TRUNCATED ")
				return
			}
			fo := binary.BigEndian.Uint16(fh[2:])
			l.add("%d ", fo&0xfff8)
			if fo&1 != 0 {
				l.add("INCOMPLETE ")
			}
			l.add("ID:%08x ", binary.BigEndian.Uint32(fh[4:]))
			if fo&0xfff8 != 0 {
				fragment = true
			}
			hdrlen = 8
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if fragment {
				if ipopt {
					l.add(")")
				}
				return
			}
			hdrlen = (int(hp[1]) + 1) << 3
		case packet.ProtoAH:
			if ipopt {
				l.add("AH ")
				if fragment {
					l.add(")")
					return
				}
				ah := l.bytes(ptr, 12)
				if ah == nil {
					l.add("INCOMPLETE [%d bytes] )", len(l.p.Data)-ptr)
					return
				}
				l.add("SPI=0x%x ", binary.BigEndian.Uint32(ah[4:]))
			}
			hdrlen = (int(hp[1]) + 2) << 2
		case packet.ProtoESP:
			if ipopt {
				l.add("ESP ")
				if fragment {
					l.add(")")
					return
				}
				eh := l.bytes(ptr, 8)
				if eh == nil {
					l.add("INCOMPLETE [%d bytes] )", len(l.p.Data)-ptr)
					return
				}
				l.add("SPI=0x%x )", binary.BigEndian.Uint32(eh))
			}
			return
		}
		if ipopt {
			l.add(") ")
		}
		cur = hp[0]
		ptr += hdrlen
	}
	switch cur {
	case packet.ProtoTCP:
		if l.tcp(ptr, fragment) {
			return
		}
	case packet.ProtoUDP, packet.ProtoUDPLite:
		if l.udp(cur, ptr, fragment) {
			return
		}
	case packet.ProtoICMPv6:
		l.add("PROTO=ICMPv6 ")
		if fragment {
			break
		}
		ic := l.bytes(ptr, 8)
		if ic == nil {
			l.add("INCOMPLETE [%d bytes] ", len(l.p.Data)-ptr)
			return
		}
		typ := ic[0]
		l.add("TYPE=%d CODE=%d ", typ, ic[1])
		switch typ {
		case 128, 129: // echo request, echo reply
			l.add("ID=%d SEQ=%d ", binary.BigEndian.Uint16(ic[4:]), binary.BigEndian.Uint16(ic[6:]))
		case 4, 1, 2, 3: // parameter problem, unreachable, too big, time exceeded
			if typ == 4 {
				l.add("POINTER=%08x ", binary.BigEndian.Uint32(ic[4:]))
			}
			if recurse {
				l.add("[")
				l.ipv6(ptr+8, false)
				l.add("] ")
			}
			if typ == 2 {
				l.add("MTU=%d ", binary.BigEndian.Uint32(ic[4:]))
			}
		}
	default:
		l.add("PROTO=%d ", cur)
	}
	if recurse {
		l.owner()
	}
}

// logIPv6ExtHdr is nf_ip6_ext_hdr without the no-next-header value, which
// ends the walk.
func logIPv6ExtHdr(h uint8) bool {
	switch h {
	case 0, 43, 44, packet.ProtoESP, packet.ProtoAH, 60:
		return true
	}
	return false
}

// LogSpec is what the datapath logs for the rule (plan.Logger).
func (t *Log) LogSpec() plan.LogSpec {
	return plan.LogSpec{Kind: plan.LogSyslog, Level: t.Level, Flags: t.Flags, Prefix: t.Prefix}
}
