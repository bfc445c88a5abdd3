package nettest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// A probe ends with a barrier rather than a guess at how long a dropped
// packet takes to not arrive. Every frame a probe sends leaves one thread
// pinned to one CPU, so the kernel takes each into that CPU's backlog
// (netif_rx; RPS is off on the veths) and handles them in order, each to
// its end: forwarded onto the next veth, delivered to a socket, or
// dropped. A barrier frame sent after the packets therefore comes out
// behind every one of them that comes out at all. It is an Ethernet frame
// of a local experimental type, which netfilter never sees and a firewall
// has no business dropping; and it goes hop by hop:
//
//   - from the client to the firewall (FORWARD, INPUT), where a packet
//     socket on the firewall's veth sees it once the firewall has handled
//     every packet before it: locally delivered ones are in the raw
//     sockets, forwarded ones queued towards the server;
//   - then from the firewall's server-side veth to the server (FORWARD,
//     OUTPUT), sent past the firewall's queueing discipline and tc egress,
//     where the server's observer sees it after every packet queued
//     before it.
//
// What the order does not cover is a packet the kernel holds back and
// sends later: one queued in a qdisc a test installs, waiting in
// NFQUEUE, or for neighbour resolution (destinations without a neighbour
// are Unobservable). Timeout bounds the wait for a barrier that never
// comes.

// etherBarrier is the barrier frame's ethertype: IEEE 802 local
// experimental 1.
const etherBarrier = 0x88b5

// DefaultTimeout is how long a probe waits for its barrier when Timeout is
// zero.
const DefaultTimeout = 5 * time.Second

// barrierMagic opens a barrier frame's payload, before the nonce.
var barrierMagic = []byte("bpftables probe barrier")

func barrierFrame(src, dst net.HardwareAddr, nonce uint64) []byte {
	b := make([]byte, 14, 14+len(barrierMagic)+8)
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], etherBarrier)
	b = append(b, barrierMagic...)
	return binary.BigEndian.AppendUint64(b, nonce)
}

// barrierNonce returns the nonce of a barrier frame's payload, or 0.
func barrierNonce(payload []byte) uint64 {
	rest, ok := bytes.CutPrefix(payload, barrierMagic)
	if !ok || len(rest) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(rest)
}

// pinThread binds the calling thread, which must be locked to its
// goroutine and die with it, to the first CPU it may run on.
func pinThread() error {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("CPU affinity: %w", err)
	}
	for cpu := 0; cpu < len(set)*64; cpu++ {
		if set.IsSet(cpu) {
			set.Zero()
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				return fmt.Errorf("CPU affinity: %w", err)
			}
			return nil
		}
	}
	return errors.New("CPU affinity: no CPU")
}

// await reads o until the barrier with the nonce arrives, passing every
// probe packet it reads before it to seen.
func await(o *observer, nonce uint64, deadline time.Time, seen func(tagKey)) error {
	fds := []unix.PollFd{{Fd: int32(o.fd), Events: unix.POLLIN}}
	for {
		for {
			a, err := o.read()
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil {
				return err
			}
			if a.probe {
				seen(a.key)
			}
			if a.barrier == nonce {
				return nil
			}
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return fmt.Errorf("%s: no barrier frame", o.name)
		}
		ms := int((wait + time.Millisecond - 1) / time.Millisecond)
		if _, err := unix.Poll(fds, ms); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll: %w", err)
		}
	}
}

// drain reads what o has queued, passing probe packets to seen.
func drain(o *observer, seen func(tagKey)) error {
	for {
		a, err := o.read()
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.probe {
			seen(a.key)
		}
	}
}
