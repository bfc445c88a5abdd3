// Package pktgen is the benchmarks' packet generator: an AF_PACKET socket
// that sends precomputed Ethernet frames round-robin, as fast as one
// thread can, for a fixed time.
package pktgen

import (
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/translator/packet"
)

// FrameLen is the length of every frame Frame builds: the 64-byte minimum
// Ethernet frame less its 4-byte FCS, which a veth does not carry.
const FrameLen = 60

// Frame builds the Ethernet frame of an IPv4 packet from src to dst MAC.
// The packet gets the payload that makes the frame FrameLen bytes long, so
// its IP length is honest and no padding follows it; the spec's own
// payload is replaced. Its checksums are right.
func Frame(src, dst net.HardwareAddr, s packet.Spec) ([]byte, error) {
	if !s.Src.Is4() || !s.Dst.Is4() {
		return nil, fmt.Errorf("frame %s -> %s: IPv4 only", s.Src, s.Dst)
	}
	s.Payload = nil
	room := FrameLen - 14 - len(s.Bytes())
	if room < 0 {
		return nil, fmt.Errorf("frame %s -> %s: headers longer than %d bytes", s.Src, s.Dst, FrameLen)
	}
	s.Payload = make([]byte, room)
	return packet.Ethernet([6]byte(src), [6]byte(dst), s.Bytes()), nil
}

// Generator sends frames out of one interface. Open it in the network
// namespace of the interface; it may send from any thread after.
type Generator struct {
	fd     int
	frames [][]byte
}

// Open opens a generator on the interface of the calling thread's network
// namespace that sends frames, in order and round-robin. It needs
// CAP_NET_RAW.
func Open(ifname string, frames [][]byte) (*Generator, error) {
	if len(frames) == 0 {
		return nil, fmt.Errorf("pktgen on %s: no frames", ifname)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("pktgen: %w", err)
	}
	// Protocol 0: the socket sends only, nothing is queued to it.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("pktgen on %s: socket: %w", ifname, err)
	}
	g := &Generator{fd: fd, frames: frames}
	// Straight to the driver: the queueing discipline is not what is
	// measured, and a veth's noqueue would only add its locking.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		g.Close()
		return nil, fmt.Errorf("pktgen on %s: PACKET_QDISC_BYPASS: %w", ifname, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		g.Close()
		return nil, fmt.Errorf("pktgen on %s: bind: %w", ifname, err)
	}
	return g, nil
}

// Close closes the socket.
func (g *Generator) Close() error { return unix.Close(g.fd) }

// Frames go out with sendmmsg rather than a PACKET_TX_RING. On the 2-core
// VM the benchmarks were written on, through a client - firewall - server
// topology with no firewall, sendmmsg sent ~363,000 frames/s and a
// TPACKET_V2 ring (256 or 2048 slots per send) ~330,000: with
// PACKET_QDISC_BYPASS both hand the device one frame at a time, and the
// ring's saving, a 60-byte copy, is smaller than what it adds - an skb
// built around the slot and a destructor that hands the slot back
// (tpacket_destruct_skb in net/packet/af_packet.c).

// batch is how many frames one sendmmsg call hands the kernel: large
// enough that the call's own cost vanishes, small enough that the clock
// is read every few hundred microseconds.
const batch = 256

// mmsghdr is struct mmsghdr; Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// Send sends the frames round-robin for d and returns how many frames the
// interface took.
func (g *Generator) Send(d time.Duration) (uint64, error) {
	// A message per frame of a batch; before each call its iovec is
	// pointed at the next frame in turn.
	iov := make([]unix.Iovec, batch)
	msgs := make([]mmsghdr, batch)
	for i := range msgs {
		msgs[i].hdr.Iov = &iov[i]
		msgs[i].hdr.SetIovlen(1)
	}
	var sent uint64
	next := 0
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for i := range iov {
			f := g.frames[(next+i)%len(g.frames)]
			iov[i].Base = &f[0]
			iov[i].SetLen(len(f))
		}
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(g.fd), uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
		if errno != 0 {
			if errno == unix.EINTR || errno == unix.EAGAIN || errno == unix.ENOBUFS {
				continue
			}
			return sent, fmt.Errorf("pktgen: sendmmsg: %w", errno)
		}
		sent += uint64(n)
		next = (next + int(n)) % len(g.frames)
	}
	return sent, nil
}
