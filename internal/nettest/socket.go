package nettest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"golang.org/x/sys/unix"
)

// sockets are a topology's probe sockets, opened on first use and kept
// until the test ends: closing a packet socket waits for an RCU grace
// period (synchronize_net in packet_release), which would otherwise be most
// of a probe's time.
type sockets struct {
	server   *observer            // packet socket on the server's veth: probe packets and barriers
	firewall *observer            // packet socket on the firewall's client-side veth: barriers only
	local    map[rawKey]*observer // raw sockets in the firewall
	client   int                  // send-only packet socket on the client's veth
	bypass   int                  // send-only packet socket on the firewall's server-side veth
	raw      [2]int               // the firewall's raw senders, IPv4 and IPv6
}

// rawKey names the raw socket that receives a packet delivered locally.
type rawKey struct {
	ipv6  bool
	proto uint8
}

func newSockets() sockets {
	return sockets{local: map[rawKey]*observer{}, client: -1, bypass: -1, raw: [2]int{-1, -1}}
}

// close closes the sockets in the background: each packet socket waits
// for a grace period as it closes, some 15 ms, which would otherwise add
// up to most of a test's time. The namespaces go once their sockets have.
func (s *sockets) close() {
	fds := []int{s.client, s.bypass, s.raw[0], s.raw[1]}
	for _, o := range s.local {
		fds = append(fds, o.fd)
	}
	for _, o := range []*observer{s.server, s.firewall} {
		if o != nil {
			fds = append(fds, o.fd)
		}
	}
	go func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
}

// observerBuffer is each observer's receive buffer: room for tens of
// thousands of small packets, so a whole batch can queue while it is sent.
const observerBuffer = 32 << 20

// An observer is a socket that sees packets that got past a hook, or
// barrier frames.
type observer struct {
	name string
	fd   int
	// read returns what the next queued frame is, or EAGAIN when the
	// queue is empty.
	read  func() (arrival, error)
	drops uint32 // the socket's drop count when the probe began
}

// An arrival is one frame an observer read: a probe packet (probe set), a
// barrier (barrier not zero), or neither (traffic of the hosts' own).
type arrival struct {
	key     tagKey
	probe   bool
	barrier uint64
}

// reset discards what the observer queued since the last probe and notes
// its drop count.
func (o *observer) reset() error {
	for {
		_, err := o.read()
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			return err
		}
	}
	n, err := socketDrops(o.fd)
	o.drops = n
	return err
}

// checkDrops fails if the observer dropped packets since reset: then it may
// have missed a probe's.
func (o *observer) checkDrops() error {
	n, err := socketDrops(o.fd)
	if err != nil {
		return err
	}
	if n != o.drops {
		return fmt.Errorf("%s dropped %d packets: the result cannot be trusted", o.name, n-o.drops)
	}
	return nil
}

// observers returns the sockets that see the probe's packets get past the
// hook, opening those not open yet.
func (t *Topology) observers(hook translator.Hook, pkts [][]byte) ([]*observer, error) {
	s := &t.sockets
	if s.server == nil {
		err := t.Server.Within(func() (err error) { s.server, err = watchLink(t.ServerLink.Index, unix.ETH_P_ALL); return })
		if err != nil {
			return nil, err
		}
	}
	if s.firewall == nil {
		err := t.Firewall.Within(func() (err error) { s.firewall, err = watchLink(t.FirewallClientLink.Index, etherBarrier); return })
		if err != nil {
			return nil, err
		}
	}
	if hook != translator.Input {
		return []*observer{s.server}, nil
	}
	var obs []*observer
	seen := map[rawKey]bool{}
	for _, p := range pkts {
		k := rawKey{ipv6: p[0]>>4 == 6, proto: rawProto(p)}
		if seen[k] {
			continue
		}
		seen[k] = true
		if s.local[k] == nil {
			err := t.Firewall.Within(func() (err error) { s.local[k], err = watchProto(k.ipv6, k.proto); return })
			if err != nil {
				return nil, err
			}
		}
		obs = append(obs, s.local[k])
	}
	return obs, nil
}

// watchLink opens an observer of the frames of an ethertype (ETH_P_ALL:
// all) arriving on a link of the calling thread's namespace: a packet
// socket, which sees each frame as the link delivers it, before tc ingress
// or netfilter on that host.
func watchLink(ifindex int, ethertype uint16) (*observer, error) {
	// Protocol 0 until bound: a socket made listening to every protocol,
	// then bound to a link, would stop listening on the way, which waits
	// for an RCU grace period (packet_do_bind).
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	o := &observer{name: fmt.Sprintf("packet socket on ifindex %d", ifindex), fd: fd}
	if err := setBuffer(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethertype), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket: %w", err)
	}
	buf := make([]byte, 1<<16)
	o.read = func() (arrival, error) {
		n, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		if err != nil {
			return arrival{}, err
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING || n > len(buf) {
			return arrival{}, nil
		}
		if ll.Protocol == htons(etherBarrier) {
			return arrival{barrier: barrierNonce(buf[:n])}, nil
		}
		k, ok := parseKey(buf[:n])
		return arrival{key: k, probe: ok}, nil
	}
	return o, nil
}

// rawProto is the protocol of the raw socket that receives the packet: for
// IPv6 the header right after the fixed one (see tagKey).
func rawProto(p []byte) uint8 {
	if p[0]>>4 == 6 {
		return p[6]
	}
	return p[9]
}

// watchProto opens an observer of the packets of one protocol delivered
// locally in the calling thread's namespace: a raw socket, which gets a
// copy of each in ip_local_deliver_finish (ip6_input_finish), past
// NF_INET_LOCAL_IN, so it sees exactly what INPUT accepted.
func watchProto(ipv6 bool, proto uint8) (*observer, error) {
	family := unix.AF_INET
	if ipv6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("raw socket for protocol %d: %w", proto, err)
	}
	o := &observer{name: fmt.Sprintf("raw socket for protocol %d", proto), fd: fd}
	if err := setBuffer(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	buf := make([]byte, 1<<16)
	if !ipv6 {
		// IPv4 raw sockets receive the IP header too.
		o.read = func() (arrival, error) {
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
			if err != nil || n > len(buf) {
				return arrival{}, err
			}
			k, ok := parseKey(buf[:n])
			return arrival{key: k, probe: ok}, nil
		}
		return o, nil
	}
	// IPv6 raw sockets receive what follows the header: the source comes
	// with the datagram, the destination and flow label as control
	// messages.
	for _, opt := range []int{unix.IPV6_RECVPKTINFO, ipv6FlowInfo} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, opt, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("raw socket option %d: %w", opt, err)
		}
	}
	oob := make([]byte, 256)
	o.read = func() (arrival, error) {
		_, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT)
		if err != nil {
			return arrival{}, err
		}
		sa, ok := from.(*unix.SockaddrInet6)
		if !ok {
			return arrival{}, nil
		}
		k := tagKey{ipv6: true, src: netip.AddrFrom16(sa.Addr), proto: proto}
		var haveDst, haveFlow bool
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return arrival{}, fmt.Errorf("control messages: %w", err)
		}
		for _, m := range msgs {
			switch {
			case m.Header.Level != unix.IPPROTO_IPV6:
			case m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= 16:
				k.dst, haveDst = netip.AddrFrom16([16]byte(m.Data[:16])), true
			case m.Header.Type == ipv6FlowInfo && len(m.Data) >= 4:
				k.tag, haveFlow = binary.BigEndian.Uint32(m.Data)&0xfffff, true
			}
		}
		return arrival{key: k, probe: haveDst && haveFlow}, nil
	}
	return o, nil
}

// ipv6FlowInfo is IPV6_FLOWINFO (linux/in6.h): as a socket option, ask for
// the flow label of received packets; as a control message, carry it.
const ipv6FlowInfo = 11

// parseKey identifies an IP packet by its tag, source and destination.
func parseKey(b []byte) (tagKey, bool) {
	switch {
	case len(b) >= 40 && b[0]>>4 == 6:
		return keyOf(b, binary.BigEndian.Uint32(b)&0xfffff), true
	case len(b) >= 20 && b[0]>>4 == 4:
		return keyOf(b, uint32(binary.BigEndian.Uint16(b[4:]))), true
	}
	return tagKey{}, false
}

func setBuffer(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, observerBuffer); err != nil {
		return fmt.Errorf("receive buffer: %w", err)
	}
	return nil
}

// socketDrops returns how many packets the socket dropped because its
// queue was full or they failed a check on the way to it.
func socketDrops(fd int) (uint32, error) {
	// x/sys/unix has no getsockopt for the SO_MEMINFO array.
	var info [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("SO_MEMINFO: %w", errno)
	}
	return info[unix.SK_MEMINFO_DROPS], nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// send puts one probe packet on its way: from a packet socket on the
// client's veth for FORWARD and INPUT, so the frame reaches the firewall
// exactly as built; from a raw socket with the IP header included in the
// firewall for OUTPUT, so the firewall's stack sends it as its own.
func (t *Topology) send(hook translator.Hook, ip []byte) error {
	if hook != translator.Output {
		return t.sendClient(packet.Ethernet([6]byte(t.ClientLink.MAC), [6]byte(t.FirewallClientLink.MAC), ip))
	}
	s := &t.sockets
	ipv6 := ip[0]>>4 == 6
	i := 0
	if ipv6 {
		i = 1
	}
	if s.raw[i] < 0 {
		if err := t.Firewall.Within(func() error { return openRawSender(&s.raw[i], ipv6) }); err != nil {
			return err
		}
	}
	if ipv6 {
		return unix.Sendto(s.raw[1], ip, 0, &unix.SockaddrInet6{Addr: [16]byte(ip[24:40])})
	}
	return unix.Sendto(s.raw[0], ip, 0, &unix.SockaddrInet4{Addr: [4]byte(ip[16:20])})
}

// sendClient sends a frame from the client's veth.
func (t *Topology) sendClient(frame []byte) error {
	s := &t.sockets
	if s.client < 0 {
		err := t.Client.Within(func() (err error) {
			// Protocol 0: this socket only sends.
			s.client, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			return err
		})
		if err != nil {
			s.client = -1
			return fmt.Errorf("packet socket: %w", err)
		}
	}
	return unix.Sendto(s.client, frame, 0, &unix.SockaddrLinklayer{Ifindex: t.ClientLink.Index})
}

// sendBypass sends a frame from the firewall's server-side veth straight
// to the driver: PACKET_QDISC_BYPASS skips the queueing discipline and tc
// egress, and packet sockets never meet netfilter, so the firewall cannot
// judge it.
func (t *Topology) sendBypass(frame []byte) error {
	s := &t.sockets
	if s.bypass < 0 {
		err := t.Firewall.Within(func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("packet socket: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
				unix.Close(fd)
				return fmt.Errorf("packet socket: PACKET_QDISC_BYPASS: %w", err)
			}
			s.bypass = fd
			return nil
		})
		if err != nil {
			return err
		}
	}
	return unix.Sendto(s.bypass, frame, 0, &unix.SockaddrLinklayer{Ifindex: t.FirewallServerLink.Index})
}

// openRawSender opens a raw socket that sends whole IP packets. IPPROTO_RAW
// implies IP_HDRINCL (IPv4) and IPV6_HDRINCL (IPv6, Linux 4.5).
func openRawSender(fd *int, ipv6 bool) error {
	family := unix.AF_INET
	if ipv6 {
		family = unix.AF_INET6
	}
	s, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	// A probe may send to a broadcast address.
	if !ipv6 {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			unix.Close(s)
			return fmt.Errorf("raw socket: SO_BROADCAST: %w", err)
		}
	}
	*fd = s
	return nil
}
