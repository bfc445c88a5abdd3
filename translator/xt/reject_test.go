package xt_test

import (
	"slices"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestRejectParseSave(t *testing.T) {
	// Verified with iptables-legacy 1.8.9: a reject type may be given by
	// any leading part of its name or alias, whatever the case, and the
	// first type in kernel order that fits is taken.
	for _, tc := range []struct {
		f        translator.Family
		args     string
		save     string
		fromSave bool
	}{
		{translator.IPv4, `-p tcp -j REJECT --reject-with tcp-rst`, `-p tcp -j REJECT --reject-with tcp-reset`, false},
		{translator.IPv4, `-p tcp -j REJECT --reject-with TCP`, `-p tcp -j REJECT --reject-with tcp-reset`, false},
		{translator.IPv4, `-j REJECT --reject-with net-unreach`, `-j REJECT --reject-with icmp-net-unreachable`, false},
		{translator.IPv4, `-j REJECT --reject-with icmp-`, `-j REJECT --reject-with icmp-net-unreachable`, false},
		{translator.IPv4, `-j REJECT --reject-with ""`, `-j REJECT --reject-with icmp-net-unreachable`, false},
		{translator.IPv4, `-j REJECT --reject-with h`, `-j REJECT --reject-with icmp-host-unreachable`, false},
		{translator.IPv4, `-j REJECT --reject-with HOST-PROHIB`, `-j REJECT --reject-with icmp-host-prohibited`, false},
		{translator.IPv4, `-j REJECT --reject-with proto-unreach`, `-j REJECT --reject-with icmp-proto-unreachable`, false},
		{translator.IPv4, `-j REJECT --reject-with admin-prohib`, `-j REJECT --reject-with icmp-admin-prohibited`, false},
		{translator.IPv6, `-j REJECT --reject-with no-route`, `-j REJECT --reject-with icmp6-no-route`, false},
		{translator.IPv6, `-j REJECT --reject-with icmp6-`, `-j REJECT --reject-with icmp6-no-route`, false},
		{translator.IPv6, `-j REJECT --reject-with adm-prohibited`, `-j REJECT --reject-with icmp6-adm-prohibited`, false},
		{translator.IPv6, `-j REJECT --reject-with addr-unreach`, `-j REJECT --reject-with icmp6-addr-unreachable`, false},
		{translator.IPv6, `-j REJECT --reject-with policy-fail`, `-j REJECT --reject-with icmp6-policy-fail`, false},
		{translator.IPv6, `-j REJECT --reject-with reject-route`, `-j REJECT --reject-with icmp6-reject-route`, false},
		{translator.IPv6, `-p tcp -j REJECT --reject-with tcp`, `-p tcp -j REJECT --reject-with tcp-reset`, false},
	} {
		r := tgRule(t, tc.f, "filter", "INPUT", tc.args)
		if got := tgSave(r, tc.f); got != tc.save {
			t.Errorf("%s %s: saved as %q, want %q", tc.f, tc.args, got, tc.save)
		}
	}
}

func TestRejectErrors(t *testing.T) {
	for _, tc := range []struct {
		f            translator.Family
		table, chain string
		args         string
		want         string
	}{
		{translator.IPv4, "filter", "INPUT", `-j REJECT --reject-with echo-reply`, `unknown reject type "echo-reply"`},
		{translator.IPv4, "filter", "INPUT", `-j REJECT --reject-with icmp-port-unreachable-x`, `unknown reject type "icmp-port-unreachable-x"`},
		{translator.IPv6, "filter", "INPUT", `-j REJECT --reject-with icmp-port-unreachable`, `unknown reject type "icmp-port-unreachable"`},
		{translator.IPv4, "filter", "INPUT", `-j REJECT --reject-with port-unreach --reject-with host-unreach`, `REJECT: option "--reject-with" can only be used once.`},
		// the kernel's restrictions
		{translator.IPv4, "mangle", "PREROUTING", `-j REJECT`, `kernel: REJECT target: only valid in filter table, not mangle`},
		{translator.IPv6, "raw", "OUTPUT", `-j REJECT`, `kernel: REJECT target: only valid in filter table, not raw`},
		{translator.IPv4, "filter", "INPUT", `-j REJECT --reject-with tcp-reset`, `kernel: TCP_RESET invalid for non-tcp`},
		{translator.IPv4, "filter", "INPUT", `! -p tcp -j REJECT --reject-with tcp-reset`, `kernel: TCP_RESET invalid for non-tcp`},
		{translator.IPv6, "filter", "INPUT", `-p udp -j REJECT --reject-with tcp-reset`, `kernel: TCP_RESET illegal for non-tcp`},
		{translator.IPv4, "filter", "FORWARD", `-p tcp -j REJECT --reject-with tcp-reset`, ``},
	} {
		if got := tgErr(tc.f, tc.table, tc.chain, tc.args); got != tc.want {
			t.Errorf("%s -t %s -A %s %s: got %q, want %q", tc.f, tc.table, tc.chain, tc.args, got, tc.want)
		}
	}
	// The table is checked even in a chain no hook reaches.
	if _, err := tgLoad(translator.IPv4, "*raw\n:foo - [0:0]\n-A foo -j REJECT\nCOMMIT\n"); err == nil {
		t.Error("REJECT in an unreferenced raw chain loads; the kernel refuses it")
	}
	if _, err := tgLoad(translator.IPv4, "*filter\n:foo - [0:0]\n-A foo -j REJECT\nCOMMIT\n"); err != nil {
		t.Errorf("REJECT in an unreferenced filter chain: %v", err)
	}
}

func TestRejectApply(t *testing.T) {
	v4 := func(s packet.Spec) packet.Spec {
		s.Src, s.Dst = tgAddr("192.0.2.1"), tgAddr("198.51.100.2")
		return s
	}
	v6 := func(s packet.Spec) packet.Spec {
		s.Src, s.Dst = tgAddr("2001:db8::1"), tgAddr("2001:db8:1::2")
		return s
	}
	badChecksum := func(p *packet.Packet) { p.Data[p.L4Off+14] ^= 0x55 }
	for _, tc := range []struct {
		name  string
		f     translator.Family
		chain string
		rule  string
		spec  packet.Spec
		mod   func(*packet.Packet)
		want  string
	}{
		{"default", translator.IPv4, "INPUT", `-j REJECT`,
			v4(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp-port-unreachable: ICMP type 3 code 3 to 192.0.2.1"},
		{"net unreachable", translator.IPv4, "FORWARD", `-j REJECT --reject-with icmp-net-unreachable`,
			v4(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp-net-unreachable: ICMP type 3 code 0 to 192.0.2.1"},
		{"host unreachable", translator.IPv4, "INPUT", `-j REJECT --reject-with icmp-host-unreachable`,
			v4(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 5000, DstPort: 80, TCPFlags: packet.SYN}), nil,
			"REJECT: icmp-host-unreachable: ICMP type 3 code 1 to 192.0.2.1"},
		{"protocol unreachable", translator.IPv4, "INPUT", `-j REJECT --reject-with icmp-proto-unreachable`,
			v4(packet.Spec{Proto: 99, Payload: []byte{0xff, 0xff}}), nil,
			"REJECT: icmp-proto-unreachable: ICMP type 3 code 2 to 192.0.2.1"},
		{"net prohibited", translator.IPv4, "INPUT", `-j REJECT --reject-with icmp-net-prohibited`,
			v4(packet.Spec{Proto: packet.ProtoICMP, ICMPType: 8}), nil,
			"REJECT: icmp-net-prohibited: ICMP type 3 code 9 to 192.0.2.1"},
		{"host prohibited", translator.IPv4, "INPUT", `-j REJECT --reject-with icmp-host-prohibited`,
			v4(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp-host-prohibited: ICMP type 3 code 10 to 192.0.2.1"},
		{"admin prohibited", translator.IPv4, "INPUT", `-j REJECT --reject-with icmp-admin-prohibited`,
			v4(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp-admin-prohibited: ICMP type 3 code 13 to 192.0.2.1"},
		{"no error for an error", translator.IPv4, "INPUT", `-j REJECT`,
			v4(packet.Spec{Proto: packet.ProtoICMP, ICMPType: 3, ICMPCode: 1}), nil,
			"REJECT: icmp-port-unreachable: nothing sent (reply to an ICMP error)"},
		{"not the first fragment", translator.IPv4, "INPUT", `-j REJECT`,
			v4(packet.Spec{Proto: packet.ProtoUDP, FragOffset: 10, Payload: make([]byte, 16)}), nil,
			"REJECT: icmp-port-unreachable: nothing sent (not the first fragment)"},
		{"limited broadcast", translator.IPv4, "INPUT", `-j REJECT`,
			packet.Spec{Src: tgAddr("192.0.2.1"), Dst: tgAddr("255.255.255.255"), Proto: packet.ProtoUDP, SrcPort: 68, DstPort: 67}, nil,
			"REJECT: icmp-port-unreachable: nothing sent (broadcast or multicast destination)"},
		{"link-layer broadcast", translator.IPv4, "INPUT", `-j REJECT`,
			v4(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), func(p *packet.Packet) { p.PktType = packet.Broadcast },
			"REJECT: icmp-port-unreachable: nothing sent (link-layer broadcast or multicast)"},
		{"bad checksum received", translator.IPv4, "INPUT", `-p tcp -j REJECT`,
			v4(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 5000, DstPort: 80, TCPFlags: packet.SYN}), badChecksum,
			"REJECT: icmp-port-unreachable: nothing sent (bad tcp checksum)"},
		{"local packet, checksum left to the device", translator.IPv4, "OUTPUT", `-p tcp -j REJECT`,
			v4(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 5000, DstPort: 80, TCPFlags: packet.SYN}), badChecksum,
			"REJECT: icmp-port-unreachable: ICMP type 3 code 3 to 192.0.2.1"},
		{"reset for a SYN", translator.IPv4, "INPUT", `-p tcp -j REJECT --reject-with tcp-reset`,
			v4(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.SYN}), nil,
			"REJECT: tcp-reset: TCP RST,ACK from 198.51.100.2:80 to 192.0.2.1:40000 seq 0 ack 2"},
		{"reset acknowledges payload and FIN", translator.IPv4, "INPUT", `-p tcp -j REJECT --reject-with tcp-reset`,
			v4(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.FIN | packet.PSH, Payload: []byte("hello")}), nil,
			"REJECT: tcp-reset: TCP RST,ACK from 198.51.100.2:80 to 192.0.2.1:40000 seq 0 ack 7"},
		{"reset takes the acknowledged number", translator.IPv4, "INPUT", `-p tcp -j REJECT --reject-with tcp-reset`,
			v4(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.ACK | packet.PSH, Payload: []byte("hello")}), nil,
			"REJECT: tcp-reset: TCP RST from 198.51.100.2:80 to 192.0.2.1:40000 seq 1"},
		{"no reset for a reset", translator.IPv4, "INPUT", `-p tcp -j REJECT --reject-with tcp-reset`,
			v4(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.RST}), nil,
			"REJECT: tcp-reset: nothing sent (no RST for RST)"},
		{"no reset for a bad checksum", translator.IPv4, "FORWARD", `-p tcp -j REJECT --reject-with tcp-reset`,
			v4(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.SYN}), badChecksum,
			"REJECT: tcp-reset: nothing sent (bad tcp checksum)"},
		{"IPv6 default", translator.IPv6, "INPUT", `-j REJECT`,
			v6(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp6-port-unreachable: ICMPv6 type 1 code 4 to 2001:db8::1"},
		{"IPv6 no route", translator.IPv6, "FORWARD", `-j REJECT --reject-with icmp6-no-route`,
			v6(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp6-no-route: ICMPv6 type 1 code 0 to 2001:db8::1"},
		{"IPv6 administratively prohibited", translator.IPv6, "INPUT", `-j REJECT --reject-with icmp6-adm-prohibited`,
			v6(packet.Spec{Proto: packet.ProtoICMPv6, ICMPType: 128}), nil,
			"REJECT: icmp6-adm-prohibited: ICMPv6 type 1 code 1 to 2001:db8::1"},
		{"IPv6 address unreachable", translator.IPv6, "INPUT", `-j REJECT --reject-with icmp6-addr-unreachable`,
			v6(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp6-addr-unreachable: ICMPv6 type 1 code 3 to 2001:db8::1"},
		{"IPv6 policy fail", translator.IPv6, "INPUT", `-j REJECT --reject-with icmp6-policy-fail`,
			v6(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp6-policy-fail: ICMPv6 type 1 code 5 to 2001:db8::1"},
		{"IPv6 reject route", translator.IPv6, "INPUT", `-j REJECT --reject-with icmp6-reject-route`,
			v6(packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}), nil,
			"REJECT: icmp6-reject-route: ICMPv6 type 1 code 6 to 2001:db8::1"},
		{"IPv6 no error for an error", translator.IPv6, "INPUT", `-j REJECT`,
			v6(packet.Spec{Proto: packet.ProtoICMPv6, ICMPType: 1, ICMPCode: 4}), nil,
			"REJECT: icmp6-port-unreachable: nothing sent (reply to an ICMPv6 error)"},
		{"IPv6 multicast destination", translator.IPv6, "INPUT", `-j REJECT`,
			packet.Spec{Src: tgAddr("fe80::1"), Dst: tgAddr("ff02::1"), Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}, nil,
			"REJECT: icmp6-port-unreachable: nothing sent (multicast destination)"},
		{"IPv6 unspecified source", translator.IPv6, "INPUT", `-j REJECT`,
			packet.Spec{Src: tgAddr("::"), Dst: tgAddr("2001:db8:1::2"), Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}, nil,
			"REJECT: icmp6-port-unreachable: nothing sent (unspecified or multicast source)"},
		{"IPv6 not the first fragment", translator.IPv6, "INPUT", `-j REJECT`,
			v6(packet.Spec{Proto: packet.ProtoUDP, FragOffset: 10, Payload: make([]byte, 16)}), nil,
			"REJECT: icmp6-port-unreachable: nothing sent (not the first fragment)"},
		{"IPv6 reset", translator.IPv6, "INPUT", `-p tcp -j REJECT --reject-with tcp-reset`,
			v6(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22, TCPFlags: packet.SYN}), nil,
			"REJECT: tcp-reset: TCP RST,ACK from [2001:db8:1::2]:22 to [2001:db8::1]:40000 seq 0 ack 2"},
		{"IPv6 bad checksum", translator.IPv6, "INPUT", `-p tcp -j REJECT --reject-with tcp-reset`,
			v6(packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22, TCPFlags: packet.SYN}), badChecksum,
			"REJECT: tcp-reset: nothing sent (bad tcp checksum)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tgRule(t, tc.f, "filter", tc.chain, tc.rule)
			p := tc.spec.Build()
			if tc.mod != nil {
				tc.mod(p)
			}
			v, c := tgJudge(r, tc.f, "filter", tc.chain, p)
			if v != translator.Drop {
				t.Errorf("verdict %v, want DROP", v)
			}
			if got := tgEffects(c); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("effects %q, want %q", got, tc.want)
			}
		})
	}
}
