package bpf_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
	"github.com/bpftables/bpftables/translator/xt"
)

// TestRejectReset runs TCP segments into REJECT --reject-with tcp-reset at
// each hook and holds the frame the program sends back to the Go
// reference (xt.ResetReply): the same bytes, with the MAC addresses
// swapped, redirected (TC_ACT_REDIRECT); and segments the kernel does not
// answer dropped unchanged. The REJECT rule counts the packet.
func TestRejectReset(t *testing.T) {
	h := newHarness(t)
	for _, fam := range []translator.Family{translator.IPv4, translator.IPv6} {
		src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		mc := netip.MustParseAddr("224.0.0.5")
		if fam == translator.IPv6 {
			src, dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
			mc = netip.MustParseAddr("ff02::5")
		}
		text := "*filter\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset\n-A FORWARD -p tcp -j REJECT --reject-with tcp-reset\n-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n"
		rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(text), iptables.RestoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Build(rs, "filter", plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bpf.Generate(p, bpf.XDP); !errors.Is(err, plan.ErrNotInDatapath) {
			t.Fatalf("%v: REJECT at XDP: got %v, want it refused", fam, err)
		}
		g, _ := h.loadRuleset(fam, text)
		seg := func(flags uint8, seq, ack uint32, payload int, opts bool) *packet.Packet {
			s := packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: flags, Payload: bytes.Repeat([]byte{7}, payload)}
			if opts {
				s.TCPOptions = []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7}
			}
			b := s.Bytes()
			l4 := 20
			if fam == translator.IPv6 {
				l4 = 40
			}
			binary.BigEndian.PutUint32(b[l4+4:], seq)
			binary.BigEndian.PutUint32(b[l4+8:], ack)
			pk, err := packet.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			return pk
		}
		cases := []struct {
			name string
			p    *packet.Packet
		}{
			{"SYN", seg(packet.SYN, 1000, 0, 0, true)},
			{"SYN without options", seg(packet.SYN, 0xffffffff, 0, 0, false)},
			{"ACK with data", seg(packet.ACK|packet.PSH, 5, 123456, 100, false)},
			{"FIN with data, no ACK", seg(packet.FIN, 77, 0, 3, false)},
			{"odd payload", seg(packet.SYN|packet.FIN, 1, 0, 1001, false)},
			{"RST", seg(packet.RST, 1, 0, 0, false)},
			{"RST,ACK", seg(packet.RST|packet.ACK, 1, 9, 0, false)},
		}
		m := seg(packet.SYN, 1, 0, 0, false)
		mcs := packet.Spec{Src: src, Dst: mc, Proto: packet.ProtoTCP, SrcPort: 1, DstPort: 2, TCPFlags: packet.SYN}
		m, _ = packet.Parse(mcs.Bytes())
		cases = append(cases, struct {
			name string
			p    *packet.Packet
		}{"multicast destination", m})
		for _, hook := range []translator.Hook{translator.Input, translator.Forward, translator.Output} {
			for _, c := range cases {
				srcMAC, dstMAC := [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{}
				frame := packet.Ethernet(srcMAC, dstMAC, c.p.Data)
				ret, out, counted := h.runFrame(g, hook, frame)
				want := xt.ResetReply(c.p)
				if counted != 1 {
					t.Errorf("%v %v %s: the rules counted %d packets, want 1", fam, hook, c.name, counted)
				}
				if want == nil {
					if ret != 2 || !bytes.Equal(out, frame) {
						t.Errorf("%v %v %s: got action %d (frame changed %v), want the packet dropped unanswered", fam, hook, c.name, ret, !bytes.Equal(out, frame))
					}
					continue
				}
				wantFrame := packet.Ethernet(dstMAC, srcMAC, want)
				if ret != 7 || !bytes.Equal(out, wantFrame) {
					t.Errorf("%v %v %s: action %d, reply\n %x\nwant TC_ACT_REDIRECT and\n %x", fam, hook, c.name, ret, out, wantFrame)
				}
			}
		}
	}
}

// TestRejectUnreach runs packets into REJECT with each ICMP (ICMPv6) type
// at INPUT and OUTPUT and holds the frame the program sends back to the
// Go reference (xt.UnreachReply): the offending packet quoted, short or
// cut at the kernel's limit; and packets the kernel does not answer
// (errors, fragments, multicast) dropped unchanged. (FORWARD takes its
// source address from a route lookup, which the test run's loopback
// device does not give: the end-to-end test covers it.)
func TestRejectUnreach(t *testing.T) {
	h := newHarness(t)
	for _, fam := range []translator.Family{translator.IPv4, translator.IPv6} {
		src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		mc := netip.MustParseAddr("224.0.0.5")
		icmp := uint8(packet.ProtoICMP)
		errType, queryType := uint8(3), uint8(8)
		if fam == translator.IPv6 {
			src, dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
			mc = netip.MustParseAddr("ff02::5")
			icmp, errType, queryType = packet.ProtoICMPv6, 1, 128
		}
		build := func(s packet.Spec) *packet.Packet {
			pk, err := packet.Parse(s.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			return pk
		}
		udp := func(n int) packet.Spec {
			return packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 40000, DstPort: 53, TOS: 0x10, Payload: bytes.Repeat([]byte{0xa5, 3}, n)[:n]}
		}
		frag := udp(20)
		frag.FragOffset = 10
		mcast := udp(5)
		mcast.Dst = mc
		cases := []struct {
			name string
			p    *packet.Packet
		}{
			{"UDP", build(udp(5))},
			{"UDP at the limit", build(udp(548 - 28))},
			{"UDP cut", build(udp(1500))},
			{"UDP odd", build(udp(63))},
			{"TCP", build(packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: 1, DstPort: 2, TCPFlags: packet.SYN})},
			{"ICMP query", build(packet.Spec{Src: src, Dst: dst, Proto: icmp, ICMPType: queryType})},
			{"ICMP error", build(packet.Spec{Src: src, Dst: dst, Proto: icmp, ICMPType: errType, Payload: make([]byte, 28)})},
			{"fragment", build(frag)},
			{"multicast", build(mcast)},
		}
		for i, rt := range xt.RejectTypes[fam] {
			if rt.Name == "" || rt.TCPReset {
				continue
			}
			text := "*filter\n-A INPUT -j REJECT --reject-with " + rt.Name + "\n-A OUTPUT -j REJECT --reject-with " + rt.Name + "\nCOMMIT\n"
			g, _ := h.loadRuleset(fam, text)
			_ = i
			for _, hook := range []translator.Hook{translator.Input, translator.Output} {
				for _, c := range cases {
					srcMAC, dstMAC := [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{}
					frame := packet.Ethernet(srcMAC, dstMAC, c.p.Data)
					ret, out, counted := h.runFrame(g, hook, frame)
					from := dst
					if hook == translator.Output && fam == translator.IPv6 {
						from = src // IPv4: see icmpCode
					}
					want := xt.UnreachReply(c.p, rt.Code, hook, from)
					if counted != 1 {
						t.Errorf("%v %v %s %s: the rules counted %d packets, want 1", fam, hook, rt.Name, c.name, counted)
					}
					if want == nil {
						if ret != 2 || !bytes.Equal(out, frame) {
							t.Errorf("%v %v %s %s: got action %d (frame changed %v), want the packet dropped unanswered", fam, hook, rt.Name, c.name, ret, !bytes.Equal(out, frame))
						}
						continue
					}
					wantFrame := packet.Ethernet(dstMAC, srcMAC, want)
					if ret != 7 || !bytes.Equal(out, wantFrame) {
						t.Errorf("%v %v %s %s: action %d, reply\n %x\nwant TC_ACT_REDIRECT and\n %x", fam, hook, rt.Name, c.name, ret, out, wantFrame)
					}
				}
			}
		}
	}
}

// runFrame runs an Ethernet frame through the tc ingress hook forced to a
// hook: the action code, the frame after the run, and how many packets
// the generation's counters counted.
func (h *harness) runFrame(g *bpf.Generation, hook translator.Hook, frame []byte) (int32, []byte, int) {
	h.tb.Helper()
	if err := h.d.Config.Put(uint32(0), bpf.Config{ForceHook: uint32(hook) + 1, ForceIn: 101, ForceOut: 102}); err != nil {
		h.tb.Fatal(err)
	}
	zero := make([][]byte, runtime.NumCPU())
	for i := range zero {
		zero[i] = make([]byte, bpf.PktSize)
	}
	if err := h.d.Pkt.Put(uint32(0), zero); err != nil {
		h.tb.Fatal(err)
	}
	before, err := g.Counters()
	if err != nil {
		h.tb.Fatal(err)
	}
	out := make([]byte, len(frame)+1024)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out, Context: skbCtx{}}
	ret, err := h.prog.Run(opts)
	if err != nil {
		h.tb.Fatalf("test run: %v", err)
	}
	after, err := g.Counters()
	if err != nil {
		h.tb.Fatal(err)
	}
	n := 0
	for i := range after {
		n += int(after[i].Packets - before[i].Packets)
	}
	return int32(ret), opts.DataOut, n
}
