package live_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/live"
)

// TestJudgesPagedPackets: the tc hook reads headers that are not in the
// skb's linear part through bpf_skb_load_bytes. An AF_PACKET socket with
// virtio-net headers sends a frame of more than a page with only its
// Ethernet header linear (packet_alloc_skb in net/packet/af_packet.c), and
// a veth hands the skb on as it is: at the firewall's tc ingress the IP
// and UDP headers lie in a page fragment. Both datagrams must be judged:
// one dropped by port, one accepted.
func TestJudgesPagedPackets(t *testing.T) {
	fw, peer := nettest.NewNS(t), nettest.NewNS(t)
	layout := testLayout(t)
	sh := func(ns *nettest.NS, args ...string) {
		t.Helper()
		if out, err := ns.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	// The frames are longer than the default MTU: a veth refuses longer
	// frames (is_skb_forwardable).
	sh(fw, "ip", "link", "add", "vp0", "mtu", "9000", "type", "veth", "peer", "name", "eth0", "mtu", "9000", "netns", peer.Name)
	sh(fw, "ip", "addr", "add", "10.9.1.1/24", "dev", "vp0")
	sh(fw, "ip", "link", "set", "vp0", "up")
	sh(peer, "ip", "link", "set", "eth0", "up")
	var fwMAC, peerMAC net.HardwareAddr
	var peerIndex int
	fw.Do(t, func() {
		i, err := net.InterfaceByName("vp0")
		if err != nil {
			t.Fatal(err)
		}
		fwMAC = i.HardwareAddr
	})
	peer.Do(t, func() {
		i, err := net.InterfaceByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		peerMAC, peerIndex = i.HardwareAddr, i.Index
	})
	var dropped, accepted *net.UDPConn
	fw.Do(t, func() {
		var err error
		for _, l := range []**net.UDPConn{&dropped, &accepted} {
			if *l, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(10, 9, 1, 1)}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { (*l).Close() })
		}
		port := dropped.LocalAddr().(*net.UDPAddr).Port
		mustApply(t, live.Options{Layout: layout}, fmt.Sprintf("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp --dport %d -j DROP\nCOMMIT\n", port))
	})
	var fd int
	peer.Do(t, func() {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			t.Fatal(err)
		}
	})
	send := func(port int) {
		t.Helper()
		// struct virtio_net_hdr: no offloads; hdr_len, the bytes to put
		// in the linear part, is the Ethernet header.
		vnet := make([]byte, 10)
		binary.LittleEndian.PutUint16(vnet[2:], 14)
		frame := append(vnet, udpFrame(peerMAC, fwMAC, port, 6000)...)
		sa := &unix.SockaddrLinklayer{Ifindex: peerIndex}
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		l    *net.UDPConn
		want bool
	}{{"accepted", accepted, true}, {"dropped", dropped, false}} {
		send(c.l.LocalAddr().(*net.UDPAddr).Port)
		var got bool
		fw.Do(t, func() { got = udpRead(t, c.l) })
		if got != c.want {
			t.Errorf("the paged datagram to the %s port arrived: %v, want %v", c.name, got, c.want)
		}
	}
}

// udpFrame is an Ethernet frame of an IPv4 UDP datagram from 10.9.1.2 to
// 10.9.1.1 with n bytes of payload and no UDP checksum.
func udpFrame(src, dst net.HardwareAddr, port, n int) []byte {
	f := make([]byte, 14+20+8+n)
	copy(f[0:], dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	copy(ip[12:], net.IPv4(10, 9, 1, 2).To4())
	copy(ip[16:], net.IPv4(10, 9, 1, 1).To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], uint16(port))
	binary.BigEndian.PutUint16(udp[4:], uint16(8+n))
	return f
}
