package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestMultiportSave(t *testing.T) {
	fifteen := "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"
	runSaveCases(t, []saveCase{
		{fam: v4, in: "-p tcp -m multiport ! --dports 80,443:445", save: "-p tcp -m multiport ! --dports 80,443:445"},
		{fam: v4, in: "-p tcp -m multiport --sports http,https", save: "-p tcp -m multiport --sports 80,443"},
		{fam: v4, in: "-p udp -m multiport --ports domain", save: "-p udp -m multiport --ports 53"},
		{fam: v4, in: "-p tcp -m multiport --source-ports 0x50", save: "-p tcp -m multiport --sports 80"},
		{fam: v4, in: `-p tcp -m multiport --dports " 80"`, save: "-p tcp -m multiport --dports 80"},
		{fam: v4, in: "-p 6 -m multiport --dports 80", save: "-p tcp -m multiport --dports 80"},
		{fam: v4, in: "-p dccp -m multiport ! --sports 1:65535", save: "-p dccp -m multiport ! --sports 1:65535"},
		{fam: v6, in: "-p udplite -m multiport --ports 5,7:9", save: "-p udplite -m multiport --ports 5,7:9"},
		{fam: v4, in: "-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14:15", save: "-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14:15"},
		{fam: v4, in: "-p tcp -m multiport --dports 1 -m multiport --sports 2", save: "-p tcp -m multiport --dports 1 -m multiport --sports 2"},

		// A range takes two of the 15 places.
		{fam: v4, in: "-p tcp -m multiport --dports " + fifteen + ",16", err: "too many ports specified"},
		{fam: v4, in: "-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:16", err: "too many ports specified"},
		{fam: v4, in: "-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13:14,15,16", err: "too many ports specified"},
		{fam: v4, in: "-p tcp -m multiport --dports 80:80", err: "invalid portrange specified"},
		{fam: v4, in: "-p tcp -m multiport --dports 81:80", err: "invalid portrange specified"},
		{fam: v4, in: "-p tcp -m multiport --dports 1,,2", err: "invalid port/service `' specified"},
		{fam: v4, in: "-p tcp -m multiport --dports :80", err: "invalid port/service `' specified"},
		{fam: v4, in: "-p tcp -m multiport --ports 1:2:3", err: "invalid port/service `2:3' specified"},
		{fam: v4, in: "-p tcp -m multiport --dports nosuchsvc", err: "invalid port/service `nosuchsvc' specified"},
		{fam: v4, in: "-p tcp -m multiport --source-ports 1:2 --dports 3", err: `multiport: option "--source-ports" cannot be used together with "--destination-ports".`},
		{fam: v4, in: "-p tcp -m multiport --dports 1 --dports 3", err: `multiport: option "--destination-ports" can only be used once.`},
		{fam: v4, in: "-m multiport --dports 80", err: "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"},
		// the protocol must come before the ports
		{fam: v4, in: "-m multiport --dports 80 -p tcp", err: "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"},
		{fam: v4, in: "-p icmp -m multiport --dports 80", err: "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP"},
		{fam: v4, in: "! -p tcp -m multiport --dports 80", err: "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP"},
		{fam: v4, in: "-p tcp -m multiport", err: "no ports specified"},
	})
}

func tcp4(sport, dport uint16) packet.Spec {
	return packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoTCP, SrcPort: sport, DstPort: dport}
}

func TestMultiportMatch(t *testing.T) {
	later := packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoTCP, FragOffset: 1, Payload: make([]byte, 16)}.Build()
	runEvalCases(t, mustRule(t, v4, "-p tcp -m multiport --dports 22,8000:8080"), []evalCase{
		{name: "22", pkt: tcp4(1000, 22).Build(), want: true},
		{name: "8000", pkt: tcp4(1000, 8000).Build(), want: true},
		{name: "8080", pkt: tcp4(1000, 8080).Build(), want: true},
		{name: "8081", pkt: tcp4(1000, 8081).Build()},
		{name: "source port 22", pkt: tcp4(22, 1000).Build()},
		{name: "later fragment", pkt: later},
		// only the two ports are read: a 4-byte TCP header is enough
		{name: "4 bytes of TCP", pkt: truncate(tcp4(1000, 22), 20+4), want: true},
		{name: "3 bytes of TCP", pkt: truncate(tcp4(1000, 22), 20+3), hotDrop: true},
	})
	runEvalCases(t, mustRule(t, v4, "-p tcp -m multiport ! --sports 1:1023"), []evalCase{
		{name: "from 80", pkt: tcp4(80, 5000).Build()},
		{name: "from 5000", pkt: tcp4(5000, 80).Build(), want: true},
		// inversion does not make later fragments match
		{name: "later fragment", pkt: later},
		{name: "truncated", pkt: truncate(tcp4(5000, 80), 20+1), hotDrop: true},
	})
	runEvalCases(t, mustRule(t, v4, "-p udp -m multiport --ports 53,67:68"), []evalCase{
		{name: "to 53", pkt: packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 53}.Build(), want: true},
		{name: "from 68", pkt: packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoUDP, SrcPort: 68, DstPort: 40000}.Build(), want: true},
		{name: "neither", pkt: packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoUDP, SrcPort: 69, DstPort: 52}.Build()},
	})
	runEvalCases(t, mustRule(t, v6, "-p sctp -m multiport --dports 9899"), []evalCase{
		{name: "sctp to 9899", family: v6, pkt: packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoSCTP, SrcPort: 1, DstPort: 9899}.Build(), want: true},
	})
}
