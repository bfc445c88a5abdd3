package e2e

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// jumboClientLink gives the client's link an MTU of 9000 at both ends,
// the server's link keeping 1500: the firewall forwards packets larger
// than the route it sends them by, as a router between a jumbo-frame LAN
// and the Internet does, or any host whose NIC aggregates TCP segments
// (GRO) before tc sees them.
func jumboClientLink(tb testing.TB, t *nettest.Topology) {
	tb.Helper()
	for _, ns := range []*nettest.NS{t.Client, t.Firewall} {
		ns.Do(tb, func() {
			l, err := netlink.LinkByName("eth0")
			if err != nil {
				tb.Fatal(err)
			}
			if err := netlink.LinkSetMTU(l, 9000); err != nil {
				tb.Fatal(err)
			}
		})
	}
}

// TestForwardedPacketsLargerThanTheRoute: the kernel judges a forwarded
// packet in FORWARD whatever its size, and fragments it after (or, with
// DF set, refuses it before). The route lookup bpftables decides FORWARD
// with must not leave such a packet unjudged.
func TestForwardedPacketsLargerThanTheRoute(t *testing.T) {
	nettest.RequireRoot(t)
	rules := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A FORWARD -p udp -m udp --dport 7 -j DROP\n-A FORWARD -p tcp -m tcp --dport 7 -j DROP\nCOMMIT\n"
	for _, fam := range []translator.Family{translator.IPv4, translator.IPv6} {
		v4, v6, hdr := rules, "", 20
		if fam == translator.IPv6 {
			v4, v6, hdr = "", rules, 40
		}
		for _, flags := range [][]string{nil, {"--xdp"}} {
			legacy := nettest.NewTopology(t, jumboClientLink, nettest.IptablesLegacy(v4, v6))
			ours := nettest.NewTopology(t, jumboClientLink, Bpftables(v4, v6, flags...))
			src, dst := nettest.Endpoints(translator.Forward, fam)
			var pkts []packet.Spec
			for _, size := range []int{1400, 1500, 1501, 3000, 8000} {
				for _, port := range []uint16{7, 9} {
					s := packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: port, Payload: make([]byte, size-hdr-8)}
					pkts = append(pkts, s)
					s.Proto, s.TCPFlags, s.Payload = packet.ProtoTCP, packet.ACK, s.Payload[:size-hdr-20]
					pkts = append(pkts, s)
				}
			}
			want := legacy.Forward(t, pkts)
			got := ours.Forward(t, pkts)
			nettest.RequireSameVerdicts(t, want, got)
			for i, s := range pkts {
				if s.DstPort == 7 && got.Passed(i) {
					t.Errorf("%s %v: a %d-byte packet to port 7 passed FORWARD's DROP", fam, flags, len(s.Bytes()))
				}
			}
		}
	}
}
