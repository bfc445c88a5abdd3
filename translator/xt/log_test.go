package xt_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/xt"
)

func TestLogParseSave(t *testing.T) {
	// Checked against iptables-legacy 1.8.9.
	for _, tc := range []struct{ args, save string }{
		{`-j LOG --log-level warning`, `-j LOG`},
		{`-j LOG --log-level 4`, `-j LOG`},
		{`-j LOG --log-level panic`, `-j LOG --log-level 0`},
		{`-j LOG --log-level 0x7`, `-j LOG --log-level 7`},
		{`-j LOG --log-level 07`, `-j LOG --log-level 7`},
		{`-j LOG --log-level debug --log-prefix x`, `-j LOG --log-prefix x --log-level 7`},
		// the prefix buffer holds 29 characters
		{`-j LOG --log-prefix 123456789012345678901234567890abc`, `-j LOG --log-prefix 12345678901234567890123456789`},
		{`-j LOG --log-prefix "a b"`, `-j LOG --log-prefix "a b"`},
		{`-j LOG --log-prefix "a\"b\\c'"`, `-j LOG --log-prefix "a\"b\\c\'"`},
		{`-j LOG --log-macdecode --log-uid --log-ip-options --log-tcp-options --log-tcp-sequence`,
			`-j LOG --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode`},
	} {
		for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
			r := tgRule(t, f, "filter", "INPUT", tc.args)
			if got := tgSave(r, f); got != tc.save {
				t.Errorf("%s %s: saved as %q, want %q", f, tc.args, got, tc.save)
			}
		}
	}
}

func TestLogErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{`-j LOG --log-level 8`, `log level "8" unknown`},
		{`-j LOG --log-level ERROR`, `log level "ERROR" unknown`},
		{`-j LOG --log-prefix ""`, `Argument must have a minimum length of 1 characters`},
		{`-j LOG --log-uid --log-uid`, `LOG: option "--log-uid" can only be used once.`},
		{`-j LOG --log-prefix x --log-prefix y`, `LOG: option "--log-prefix" can only be used once.`},
	} {
		if got := tgErr(translator.IPv4, "filter", "INPUT", tc.args); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := tgCmdErr(translator.IPv4, "-A", "INPUT", "-j", "LOG", "--log-prefix", "a\nb"); got != "Newlines not allowed in --log-prefix" {
		t.Errorf("newline in --log-prefix: got %q", got)
	}
	// LOG has no table or hook restriction.
	for _, table := range []string{"filter", "nat", "mangle", "raw", "security"} {
		if got := tgErr(translator.IPv6, table, "OUTPUT", "-j LOG"); got != "" {
			t.Errorf("LOG in %s: %s", table, got)
		}
	}
}

// logLineMAC returns the link-layer header a kernel LOG line shows, from
// its MAC= field or its decoded MACSRC, MACDST and MACPROTO fields.
func logLineMAC(tb testing.TB, line string) []byte {
	tb.Helper()
	fields := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			if _, dup := fields[k]; !dup {
				fields[k] = v
			}
		}
	}
	hex := func(s string) []byte {
		var b []byte
		for _, x := range strings.Split(s, ":") {
			var c byte
			if _, err := fmt.Sscanf(x, "%02x", &c); err != nil {
				tb.Fatalf("MAC field %q: %v", s, err)
			}
			b = append(b, c)
		}
		return b
	}
	if v, ok := fields["MAC"]; ok {
		if v == "" {
			return nil
		}
		return hex(v)
	}
	if src, ok := fields["MACSRC"]; ok {
		h := append(hex(fields["MACDST"]), hex(src)...)
		var proto uint16
		fmt.Sscanf(fields["MACPROTO"], "%04x", &proto)
		return append(h, byte(proto>>8), byte(proto))
	}
	return nil
}

func TestLogApply(t *testing.T) {
	v4s, v4d := tgAddr("192.0.2.1"), tgAddr("198.51.100.2")
	v6s, v6d := tgAddr("2001:db8::1"), tgAddr("2001:db8:1::2")
	lo := func(p *packet.Packet) { p.InIface, p.SrcMAC = "lo", make(net.HardwareAddr, 6) }
	// The expected lines of the cases sent over loopback are what Linux 6.18
	// logged for the same bytes (raw socket, same rule in OUTPUT and INPUT).
	for _, tc := range []struct {
		name  string
		f     translator.Family
		chain string
		rule  string
		spec  packet.Spec
		mod   func(*packet.Packet)
		want  string
	}{
		{"TCP SYN sent", translator.IPv4, "OUTPUT", `-o lo -j LOG --log-prefix "xtD-tcpsyn "`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.SYN, ID: 4321, TOS: 0xb9, TCPOptions: []byte{2, 4, 5, 0xb4, 1, 1, 4, 2}},
			func(p *packet.Packet) { p.OutIface = "lo" },
			"<4>xtD-tcpsyn IN= OUT=lo SRC=192.0.2.1 DST=198.51.100.2 LEN=48 TOS=0x18 PREC=0xA0 TTL=64 ID=4321 PROTO=TCP SPT=40000 DPT=80 WINDOW=65535 RES=0x00 SYN URGP=0 "},
		{"TCP SYN received", translator.IPv4, "INPUT", `-i lo -j LOG --log-prefix "xtD-tcpsyn "`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.SYN, ID: 4321, TOS: 0xb9, TCPOptions: []byte{2, 4, 5, 0xb4, 1, 1, 4, 2}},
			lo,
			"<4>xtD-tcpsyn IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=192.0.2.1 DST=198.51.100.2 LEN=48 TOS=0x18 PREC=0xA0 TTL=64 ID=4321 PROTO=TCP SPT=40000 DPT=80 WINDOW=65535 RES=0x00 SYN URGP=0 "},
		{"every flag, socket owner and mark", translator.IPv4, "OUTPUT", `-j LOG --log-prefix "xtD-tcpall " --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.SYN | packet.ACK | 0xc0, ID: 4322, TCPOptions: []byte{2, 4, 5, 0xb4, 1, 1, 4, 2}},
			func(p *packet.Packet) { p.OutIface, p.Mark, p.Sock = "lo", 0x2a, &packet.Socket{} },
			"<4>xtD-tcpall IN= OUT=lo SRC=192.0.2.1 DST=198.51.100.2 LEN=48 TOS=0x00 PREC=0x00 TTL=64 ID=4322 PROTO=TCP SPT=40000 DPT=80 SEQ=1 ACK=1 WINDOW=65535 RES=0x00 CWR ECE ACK SYN URGP=0 OPT (020405B401010402) UID=0 GID=0 MARK=0x2a "},
		{"UDP at debug level", translator.IPv4, "INPUT", `-j LOG --log-prefix "xtD-udp " --log-level 7`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoUDP, SrcPort: 5353, DstPort: 53, ID: 7, Payload: []byte("hello")}, lo,
			"<7>xtD-udp IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=192.0.2.1 DST=198.51.100.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=7 PROTO=UDP SPT=5353 DPT=53 LEN=13 "},
		{"echo request", translator.IPv4, "INPUT", `-j LOG --log-prefix "xtD-ping "`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoICMP, ICMPType: 8, ICMPID: 77, ID: 9}, lo,
			"<4>xtD-ping IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=192.0.2.1 DST=198.51.100.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=9 PROTO=ICMP TYPE=8 CODE=0 ID=77 SEQ=1 "},
		{"ICMP error quotes the packet", translator.IPv4, "INPUT", `-j LOG --log-prefix "xtD-unreach "`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoICMP, ICMPType: 3, ICMPCode: 4, ID: 10,
				Payload: packet.Spec{Src: v4d, Dst: v4s, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, ID: 11, Payload: []byte("abcdefgh")}.Bytes()[:28]}, lo,
			"<4>xtD-unreach IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=192.0.2.1 DST=198.51.100.2 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=10 PROTO=ICMP TYPE=3 CODE=4 [SRC=198.51.100.2 DST=192.0.2.1 LEN=36 TOS=0x00 PREC=0x00 TTL=64 ID=11 PROTO=UDP SPT=1 DPT=2 LEN=16 ] MTU=1 "},
		{"ICMP error too short", translator.IPv4, "INPUT", `-j LOG --log-prefix "xtD-unreachshort "`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoICMP, ICMPType: 3, ICMPCode: 3, ID: 12, Payload: []byte{0x45, 0, 0, 20}}, lo,
			"<4>xtD-unreachshort IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=192.0.2.1 DST=198.51.100.2 LEN=32 TOS=0x00 PREC=0x00 TTL=64 ID=12 PROTO=ICMP TYPE=3 CODE=3 INCOMPLETE [12 bytes] "},
		{"other protocol", translator.IPv4, "INPUT", `-j LOG --log-prefix "xtD-other "`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: 99, ID: 13, Payload: []byte{1, 2, 3}}, lo,
			"<4>xtD-other IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=192.0.2.1 DST=198.51.100.2 LEN=23 TOS=0x00 PREC=0x00 TTL=64 ID=13 PROTO=99 "},
		{"later fragment", translator.IPv4, "OUTPUT", `-j LOG --log-prefix "xtD-frag "`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoTCP, ID: 14, FragOffset: 100, Payload: []byte("0123456789abcdef")},
			func(p *packet.Packet) { p.OutIface = "lo" },
			"<4>xtD-frag IN= OUT=lo SRC=192.0.2.1 DST=198.51.100.2 LEN=36 TOS=0x00 PREC=0x00 TTL=64 ID=14 FRAG:100 PROTO=TCP "},
		{"first fragment", translator.IPv4, "OUTPUT", `-j LOG --log-prefix "xtD-firstfrag "`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoUDP, SrcPort: 9, DstPort: 9, ID: 15, MoreFrags: true, Payload: []byte("0123456789abcdef")},
			func(p *packet.Packet) { p.OutIface = "lo" },
			"<4>xtD-firstfrag IN= OUT=lo SRC=192.0.2.1 DST=198.51.100.2 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=15 MF PROTO=UDP SPT=9 DPT=9 LEN=24 "},
		{"IPv6 every flag", translator.IPv6, "OUTPUT", `-j LOG --log-prefix "xtD-v6tcp " --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid`,
			packet.Spec{Src: v6s, Dst: v6d, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22, TCPFlags: packet.SYN, TOS: 0x28, TCPOptions: []byte{2, 4, 5, 0xa0}},
			func(p *packet.Packet) { p.OutIface, p.Mark, p.Sock = "lo", 5, &packet.Socket{} },
			"<4>xtD-v6tcp IN= OUT=lo SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0001:0000:0000:0000:0000:0002 LEN=64 TC=40 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP SPT=40000 DPT=22 SEQ=1 ACK=0 WINDOW=65535 RES=0x00 SYN URGP=0 OPT (020405A0) UID=0 GID=0 MARK=0x5 "},
		{"IPv6 received", translator.IPv6, "INPUT", `-j LOG --log-prefix "xtD-v6udp "`,
			packet.Spec{Src: v6s, Dst: v6d, Proto: packet.ProtoUDP, SrcPort: 5353, DstPort: 53, Payload: []byte("hi")}, lo,
			"<4>xtD-v6udp IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0001:0000:0000:0000:0000:0002 LEN=50 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=53 LEN=10 "},
		{"ICMPv6 echo request", translator.IPv6, "INPUT", `-j LOG --log-prefix "xtD-v6ping "`,
			packet.Spec{Src: v6s, Dst: v6d, Proto: packet.ProtoICMPv6, ICMPType: 128, ICMPID: 99}, lo,
			"<4>xtD-v6ping IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0001:0000:0000:0000:0000:0002 LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=99 SEQ=1 "},
		{"ICMPv6 packet too big quotes the packet", translator.IPv6, "INPUT", `-j LOG --log-prefix "xtD-v6toobig "`,
			packet.Spec{Src: v6s, Dst: v6d, Proto: packet.ProtoICMPv6, ICMPType: 2,
				Payload: packet.Spec{Src: v6d, Dst: v6s, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}.Bytes()}, lo,
			"<4>xtD-v6toobig IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0001:0000:0000:0000:0000:0002 LEN=96 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=2 CODE=0 [SRC=2001:0db8:0001:0000:0000:0000:0000:0002 DST=2001:0db8:0000:0000:0000:0000:0000:0001 LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=1 DPT=2 LEN=8 ] MTU=1 "},
		{"IPv6 fragment header as an option", translator.IPv6, "INPUT", `-j LOG --log-prefix "xtD-v6frag " --log-ip-options`,
			packet.Spec{Src: v6s, Dst: v6d, Proto: packet.ProtoUDP, ID: 0x1234, FragOffset: 3, Payload: []byte("01234567")}, lo,
			"<4>xtD-v6frag IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0001:0000:0000:0000:0000:0002 LEN=56 TC=0 HOPLIMIT=64 FLOWLBL=0 OPT ( FRAG:24 ID:00001234 ) PROTO=UDP "},
		{"IPv6 first fragment", translator.IPv6, "INPUT", `-j LOG --log-prefix "xtD-v6firstfrag "`,
			packet.Spec{Src: v6s, Dst: v6d, Proto: packet.ProtoUDP, SrcPort: 7, DstPort: 7, ID: 0x1235, MoreFrags: true, Payload: []byte("01234567")}, lo,
			"<4>xtD-v6firstfrag IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0001:0000:0000:0000:0000:0002 LEN=64 TC=0 HOPLIMIT=64 FLOWLBL=0 FRAG:0 INCOMPLETE ID:00001235 PROTO=UDP SPT=7 DPT=7 LEN=16 "},
		// From the kernel source (nf_log_syslog.c): both interfaces in
		// FORWARD, bridge ports, decoded MAC header of a broadcast.
		{"forwarded, bridged", translator.IPv4, "FORWARD", `-j LOG`,
			packet.Spec{Src: v4s, Dst: v4d, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, ID: 1},
			func(p *packet.Packet) {
				p.InIface, p.OutIface, p.Bridged, p.PhysIn, p.PhysOut = "br0", "eth1", true, "veth0", "eth1"
			},
			"<4>IN=br0 OUT=eth1 PHYSIN=veth0 MAC= SRC=192.0.2.1 DST=198.51.100.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=1 DPT=2 LEN=8 "},
		{"MAC header decoded", translator.IPv4, "PREROUTING", `-j LOG --log-macdecode`,
			packet.Spec{Src: v4s, Dst: tgAddr("255.255.255.255"), Proto: packet.ProtoUDP, SrcPort: 68, DstPort: 67, ID: 1},
			func(p *packet.Packet) {
				p.InIface, p.PktType = "eth0", packet.Broadcast
				p.SrcMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
			},
			"<4>IN=eth0 OUT= MACSRC=02:00:00:00:00:01 MACDST=ff:ff:ff:ff:ff:ff MACPROTO=0800 SRC=192.0.2.1 DST=255.255.255.255 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=68 DPT=67 LEN=8 "},
		{"multicast MAC header", translator.IPv6, "PREROUTING", `-j LOG`,
			packet.Spec{Src: tgAddr("fe80::1"), Dst: tgAddr("ff02::1:ff00:2"), Proto: packet.ProtoICMPv6, ICMPType: 135},
			func(p *packet.Packet) {
				p.InIface, p.PktType = "eth0", packet.Multicast
				p.SrcMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
			},
			"<4>IN=eth0 OUT= MAC=33:33:ff:00:00:02:02:00:00:00:00:01:86:dd SRC=fe80:0000:0000:0000:0000:0000:0000:0001 DST=ff02:0000:0000:0000:0000:0001:ff00:0002 LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=135 CODE=0 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := "filter"
			if tc.chain == "PREROUTING" {
				table = "raw"
			}
			r := tgRule(t, tc.f, table, tc.chain, tc.rule)
			p := tc.spec.Build()
			if tc.mod != nil {
				tc.mod(p)
			}
			v, c := tgJudge(r, tc.f, table, tc.chain, p)
			if v != translator.Continue {
				t.Errorf("verdict %v, want CONTINUE", v)
			}
			if got := tgEffects(c); !slices.Equal(got, []string{"LOG: " + tc.want}) {
				t.Errorf("logged\n%q\nwant\n%q", got, "LOG: "+tc.want)
			}
			if p.Bridged {
				return // a capture at tc or XDP never sees bridge ports
			}
			// The same line from a capture: the link-layer header
			// as received (taken from the kernel's line), the
			// interfaces the hook passes, the packet's bytes.
			e := &xt.LogEvent{MAC: logLineMAC(t, tc.want), Data: p.Data, IPv6: p.IPv6, Mark: p.Mark}
			switch tc.chain {
			case "INPUT", "PREROUTING":
				e.In = p.InIface
			case "FORWARD":
				e.In, e.Out = p.InIface, p.OutIface
			default:
				e.Out = p.OutIface
			}
			if p.Sock != nil {
				return // the socket owner is the evaluator's alone
			}
			want := tc.want[strings.Index(tc.want, ">")+1:]
			if got := r.Target.(*xt.Log).Format(e); got != want {
				t.Errorf("formatted from the capture\n%q\nwant\n%q", got, want)
			}
		})
	}
}
