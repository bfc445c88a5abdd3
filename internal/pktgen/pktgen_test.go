package pktgen

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator/packet"
)

var (
	srcMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	dstMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func TestFrame(t *testing.T) {
	a, b := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.4.5.6")
	for _, s := range []packet.Spec{
		{Src: a, Dst: b, Proto: packet.ProtoUDP, SrcPort: 1234, DstPort: 53},
		{Src: a, Dst: b, Proto: packet.ProtoTCP, SrcPort: 1234, DstPort: 443, TCPFlags: packet.SYN},
		{Src: a, Dst: b, Proto: packet.ProtoICMP, ICMPType: 8},
		{Src: a, Dst: b, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: make([]byte, 100)},
	} {
		f, err := Frame(srcMAC, dstMAC, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != FrameLen {
			t.Errorf("%d: frame of %d bytes, want %d", s.Proto, len(f), FrameLen)
		}
		if !bytes.Equal(f[0:6], dstMAC) || !bytes.Equal(f[6:12], srcMAC) || f[12] != 0x08 || f[13] != 0x00 {
			t.Errorf("%d: Ethernet header % x", s.Proto, f[:14])
		}
		p, err := packet.Parse(f[14:])
		if err != nil {
			t.Fatal(err)
		}
		// The IP length covers the frame: nothing is padding.
		if int(p.Len) != FrameLen-14 || p.Src != s.Src || p.Dst != s.Dst || p.Proto != s.Proto || p.SrcPort != s.SrcPort || p.DstPort != s.DstPort {
			t.Errorf("%d: sent %+v", s.Proto, p)
		}
		if c := packet.Checksum(f[14:34], 0); c != 0 {
			t.Errorf("%d: IPv4 header checksum off by %#x", s.Proto, c)
		}
	}
	if _, err := Frame(srcMAC, dstMAC, packet.Spec{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: packet.ProtoUDP}); err == nil {
		t.Error("an IPv6 frame was built")
	}
}

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE (linux/if_link.h).
const addrGenModeNone = 1

// TestSend sends over a veth pair and checks that the peer received every
// frame the generator says it sent.
func TestSend(t *testing.T) {
	ns := nettest.NewNS(t)
	nl, err := netlink.NewHandleAt(ns.Handle)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "gen0", HardwareAddr: srcMAC}, PeerName: "sink0", PeerHardwareAddr: dstMAC}
	if err := nl.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gen0", "sink0"} {
		l, err := nl.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		// No IPv6 link-local address: without it the links send no
		// router solicitations or MLD reports, so the peer counts ours only.
		if err := nl.LinkSetIP6AddrGenMode(l, addrGenModeNone); err != nil {
			t.Fatal(err)
		}
		if err := nl.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	// A link sends nothing until it is operationally up.
	var sink netlink.Link
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if sink, err = nl.LinkByName("sink0"); err != nil {
			t.Fatal(err)
		}
		if sink.Attrs().OperState == netlink.OperUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("veth not up after 5s")
		}
	}
	var frames [][]byte
	for i := range 3 {
		f, err := Frame(srcMAC, dstMAC, packet.Spec{Src: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Dst: netip.MustParseAddr("10.9.9.9"), Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	var g *Generator
	if err := ns.Within(func() (err error) { g, err = Open("gen0", frames); return }); err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	before := sink.Attrs().Statistics.RxPackets
	sent, err := g.Send(50 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if sink, err = nl.LinkByName("sink0"); err != nil {
		t.Fatal(err)
	}
	got := sink.Attrs().Statistics.RxPackets - before
	if sent == 0 || got != sent {
		t.Errorf("sent %d frames, the peer received %d", sent, got)
	}
}
