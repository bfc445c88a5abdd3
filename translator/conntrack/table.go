package conntrack

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// Key is a connection's tuple in its original direction, as the
// datapath's table keys it: for ICMP the echo (or other query) id as the
// source port and the query's type << 8 | code as the destination port;
// for protocols without ports, zero ports.
type Key struct {
	Src, Dst     [16]byte
	Sport, Dport uint16
	Proto        uint8
	Family       uint8 // 4 or 6
}

// Inverse is the tuple of the other direction.
func (k Key) Inverse() Key {
	k.Src, k.Dst = k.Dst, k.Src
	k.Sport, k.Dport = k.Dport, k.Sport
	return k
}

// Entry is one connection.
type Entry struct {
	// Expires is when the entry times out, on the monotonic clock.
	Expires time.Duration
	// StreamTS is when a UDP flow that has seen a reply becomes a
	// stream (two seconds after it began): a longer timeout, ASSURED.
	StreamTS time.Duration
	TCPState uint8
	Status   uint8 // Status* bits
	used     uint64
}

// Table is a connection table with a bounded size and LRU eviction. Now
// is the monotonic time packets are tracked at; tests advance it.
type Table struct {
	Size    int
	Now     time.Duration
	entries map[Key]*Entry
	clock   uint64
}

// NewTable returns an empty table of size entries (DefaultTableSize for
// 0).
func NewTable(size int) *Table {
	if size <= 0 {
		size = DefaultTableSize
	}
	return &Table{Size: size, entries: map[Key]*Entry{}}
}

// Len returns the number of entries, expired ones included (as a map
// holds them until they are evicted or replaced).
func (t *Table) Len() int { return len(t.entries) }

// Entry returns the live entry of a key.
func (t *Table) Entry(k Key) (*Entry, bool) {
	e, ok := t.entries[k]
	if !ok || e.Expires <= t.Now {
		return nil, false
	}
	return e, true
}

func (t *Table) get(k Key) *Entry {
	e, ok := t.Entry(k)
	if !ok {
		return nil
	}
	t.clock++
	e.used = t.clock
	return e
}

func (t *Table) put(k Key, e Entry) {
	if _, ok := t.entries[k]; !ok && len(t.entries) >= t.Size {
		var oldest Key
		var min uint64
		first := true
		for key, v := range t.entries {
			if first || v.used < min {
				oldest, min, first = key, v.used, false
			}
		}
		delete(t.entries, oldest)
	}
	t.clock++
	e.used = t.clock
	t.entries[k] = &e
}

// Decision is what tracking decided for one packet.
type Decision struct {
	State packet.CTState
	Reply bool
	// Key is the connection's original tuple (tracked packets only).
	Key    Key
	Status uint8
	// Create is the entry to add if the ruleset accepts the packet (a
	// NEW packet of no known connection).
	Create *Entry
}

// CT returns the decision as the packet model's connection tracking
// information, for the matches.
func (d Decision) CT() packet.Conntrack {
	ct := packet.Conntrack{State: d.State}
	if d.State&(packet.CTNew|packet.CTEstablished|packet.CTRelated) == 0 {
		return ct
	}
	ct.Reply = d.Reply
	ct.Proto = d.Key.Proto
	// a new connection's entry is not confirmed yet; others carry the
	// status of theirs
	ct.Status = uint32(d.Status)
	addr := func(b [16]byte) netip.Addr {
		if d.Key.Family == 4 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16(b)
	}
	ct.Orig = packet.Tuple{Src: addr(d.Key.Src), Dst: addr(d.Key.Dst), SrcPort: d.Key.Sport, DstPort: d.Key.Dport}
	ct.Repl = packet.Tuple{Src: addr(d.Key.Dst), Dst: addr(d.Key.Src), SrcPort: d.Key.Dport, DstPort: d.Key.Sport}
	if reqs := icmpQueries(d.Key.Family, d.Key.Proto); reqs != nil {
		// icmp_invert_tuple: the id stays, the type is the reply's
		ct.Repl.SrcPort = d.Key.Sport
		ct.Repl.DstPort = uint16(reqs[uint8(d.Key.Dport>>8)])<<8 | d.Key.Dport&0xff
	}
	return ct
}

// icmpQueries returns the query types and their replies of a family's
// ICMP, or nil for another protocol.
func icmpQueries(fam, proto uint8) map[uint8]uint8 {
	switch {
	case fam == 4 && proto == packet.ProtoICMP:
		return ICMPRequests
	case fam == 6 && proto == packet.ProtoICMPv6:
		return ICMPv6Requests
	}
	return nil
}

// lookup modes of a tuple: which directions the packet may travel in.
const (
	modeBoth = iota
	modeOrig
	modeReply // the key is already the original tuple
)

// tuple computes the key of a packet (or of the packet inside an ICMP
// error) from its addresses, protocol and first layer 4 bytes.
func tuple(fam uint8, src, dst netip.Addr, proto uint8, l4 []byte) (Key, int, bool) {
	k := Key{Proto: proto, Family: fam}
	copy(k.Src[:], src.AsSlice())
	copy(k.Dst[:], dst.AsSlice())
	icmp := (fam == 4 && proto == packet.ProtoICMP) || (fam == 6 && proto == packet.ProtoICMPv6)
	switch {
	case PortProto(proto):
		if len(l4) < 8 {
			return k, 0, false
		}
		k.Sport = binary.BigEndian.Uint16(l4)
		k.Dport = binary.BigEndian.Uint16(l4[2:])
		return k, modeBoth, true
	case icmp:
		if len(l4) < 8 {
			return k, 0, false
		}
		reqs := ICMPRequests
		if fam == 6 {
			reqs = ICMPv6Requests
		}
		typ, code := l4[0], l4[1]
		k.Sport = binary.BigEndian.Uint16(l4[4:])
		if _, ok := reqs[typ]; ok {
			k.Dport = uint16(typ)<<8 | uint16(code)
			return k, modeOrig, true
		}
		for req, rep := range reqs {
			if rep == typ {
				k.Src, k.Dst = k.Dst, k.Src
				k.Dport = uint16(req)<<8 | uint16(code)
				return k, modeReply, true
			}
		}
		return k, 0, false
	}
	return k, modeBoth, true
}

// find looks a tuple up as its mode allows: the connection's original
// key, its entry, and whether the packet travels in the reply direction.
func (t *Table) find(k Key, mode int) (Key, *Entry, bool) {
	switch mode {
	case modeReply:
		return k, t.get(k), true
	case modeOrig:
		return k, t.get(k), false
	}
	if e := t.get(k); e != nil {
		return k, e, false
	}
	inv := k.Inverse()
	if e := t.get(inv); e != nil {
		return inv, e, true
	}
	return k, nil, false
}

// Track decides a packet's state and advances its connection, as
// nf_conntrack_in does at PREROUTING or OUTPUT. update is false where the
// packet was already tracked on its way out (loopback's ingress): the
// state is computed, nothing changes. A new connection's entry is made by
// Confirm once the ruleset accepted the packet.
func (t *Table) Track(p *packet.Packet, update bool) Decision {
	invalid := Decision{State: packet.CTInvalid}
	if p.Fragment {
		return invalid
	}
	fam := uint8(4)
	if p.IPv6 {
		fam = 6
	}
	l4 := p.L4()
	switch {
	case p.Proto == packet.ProtoTCP:
		if len(l4) < 20 {
			return invalid
		}
		if doff := int(l4[12]>>4) * 4; doff < 20 || len(l4) < doff {
			return invalid
		}
		if !TCPFlagsValid(l4[13]) {
			return invalid
		}
	case fam == 4 && p.Proto == packet.ProtoICMP, fam == 6 && p.Proto == packet.ProtoICMPv6:
		if len(l4) < 8 {
			return invalid
		}
		typ := l4[0]
		if (fam == 4 && ICMPError(typ)) || (fam == 6 && ICMPv6Error(typ)) {
			return t.related(fam, l4[8:])
		}
		if fam == 6 && ICMPv6Untracked(typ) {
			return Decision{State: packet.CTUntracked}
		}
	}
	k, mode, ok := tuple(fam, p.Src, p.Dst, p.Proto, l4)
	if !ok {
		return invalid
	}
	key, e, reply := t.find(k, mode)
	if e != nil && p.Proto == packet.ProtoTCP {
		dir := 0
		if reply {
			dir = 1
		}
		old := e.TCPState
		next := TCPTransitions[dir][TCPIndex(l4[13])][old]
		switch {
		case next == TCPInvalid:
			return invalid
		case next == TCPSynSent && old >= TCPTimeWait:
			// a SYN reopens a closed connection: the old one goes, this
			// packet starts a new one (tcp_packet's NF_REPEAT)
			if !update {
				break
			}
			delete(t.entries, key)
			e = nil
		case next == TCPIgnore || !update:
		case l4[13]&FlagRST != 0 && e.Status&StatusSeenReply == 0:
			// a reset before any reply ends the connection at once
			// (tcp_packet: "If only reply is a RST ...")
			delete(t.entries, key)
			d := Decision{State: packet.CTNew, Reply: reply, Key: key, Status: e.Status}
			if reply {
				d.State = packet.CTEstablished
				d.Status |= StatusSeenReply
			}
			return d
		default:
			if e.Status&(StatusSeenReply|StatusAssured) == StatusSeenReply && next == TCPEstablished &&
				(old == TCPSynRecv || old == TCPEstablished) {
				e.Status |= StatusAssured
			}
			e.TCPState = next
			e.Expires = t.Now + tcpTimeout(next, e.Status)
		}
	}
	if e != nil {
		if update && p.Proto != packet.ProtoTCP {
			// with the status before the packet, as the trackers see it
			var to time.Duration
			to, e.Status = t.timeout(p.Proto, fam, e)
			e.Expires = t.Now + to
		}
		if reply && update {
			e.Status |= StatusSeenReply
		}
		d := Decision{State: packet.CTNew, Reply: reply, Key: key, Status: e.Status}
		if reply || e.Status&StatusSeenReply != 0 {
			d.State = packet.CTEstablished
		}
		return d
	}
	if mode == modeReply {
		return invalid // a reply to no query
	}
	k, _, _ = tuple(fam, p.Src, p.Dst, p.Proto, l4)
	create := &Entry{StreamTS: t.Now + UDPStreamAfter}
	to, _ := t.timeout(p.Proto, fam, create)
	create.Expires = t.Now + to
	if p.Proto == packet.ProtoTCP {
		next := TCPTransitions[0][TCPIndex(l4[13])][TCPNone]
		if next == TCPInvalid {
			return invalid
		}
		create.TCPState = next
		create.Expires = t.Now + tcpTimeout(next, 0)
	}
	return Decision{State: packet.CTNew, Key: k, Create: create}
}

// related decides an ICMP error: RELATED when the packet it carries
// belongs to a tracked connection, else INVALID.
func (t *Table) related(fam uint8, inner []byte) Decision {
	invalid := Decision{State: packet.CTInvalid}
	var src, dst netip.Addr
	var proto uint8
	var l4 []byte
	if fam == 4 {
		if len(inner) < 20 || inner[0]>>4 != 4 {
			return invalid
		}
		ihl := int(inner[0]&0x0f) * 4
		if ihl < 20 || len(inner) < ihl {
			return invalid
		}
		src, dst = netip.AddrFrom4([4]byte(inner[12:16])), netip.AddrFrom4([4]byte(inner[16:20]))
		proto, l4 = inner[9], inner[ihl:]
	} else {
		// extension headers inside the error are not followed
		if len(inner) < 40 || inner[0]>>4 != 6 {
			return invalid
		}
		src, dst = netip.AddrFrom16([16]byte(inner[8:24])), netip.AddrFrom16([16]byte(inner[24:40]))
		proto, l4 = inner[6], inner[40:]
	}
	k, mode, ok := tuple(fam, src, dst, proto, l4)
	if !ok {
		return invalid
	}
	key, e, reply := t.find(k, mode)
	if e == nil {
		return invalid
	}
	// The error travels against the packet it carries.
	return Decision{State: packet.CTRelated, Reply: !reply, Key: key, Status: e.Status}
}

// Confirm adds the entry of a NEW packet the ruleset accepted (what
// __nf_conntrack_confirm does at the end of the packet's way).
func (t *Table) Confirm(d Decision) {
	if d.Create == nil {
		return
	}
	e := *d.Create
	e.Status |= StatusConfirmed
	t.put(d.Key, e)
}

// tcpTimeout is the timeout of a TCP connection entering a state, with
// its status before the packet: ESTABLISHED without a reply (picked up
// mid-stream) is held to TCPUnackTimeout.
func tcpTimeout(state, status uint8) time.Duration {
	if state == TCPEstablished && status&StatusSeenReply == 0 {
		return min(TCPTimeouts[state], TCPUnackTimeout)
	}
	return TCPTimeouts[state]
}

// UDPStreamAfter is how long a UDP flow with a reply must last before it
// is a stream (udp_packet's stream_ts).
const UDPStreamAfter = 2 * time.Second

// timeout is the timeout of a connection of a protocol other than TCP
// after a packet, from its status before the packet, and its new status:
// a UDP flow with a reply that has lasted two seconds, and a GRE flow
// with a reply, are ASSURED (udp_packet, gre_packet).
func (t *Table) timeout(proto, fam uint8, e *Entry) (time.Duration, uint8) {
	replied := e.Status&StatusSeenReply != 0
	switch {
	case PortProto(proto):
		if replied && t.Now > e.StreamTS {
			return UDPStreamTimeout, e.Status | StatusAssured
		}
		return UDPTimeout, e.Status
	case proto == packet.ProtoGRE:
		if replied {
			return GREStreamTimeout, e.Status | StatusAssured
		}
		return GRETimeout, e.Status
	case fam == 4 && proto == packet.ProtoICMP, fam == 6 && proto == packet.ProtoICMPv6:
		return ICMPTimeout, e.Status
	}
	return GenericTimeout, e.Status
}

// Uses reports whether a table's rules read connection tracking state
// (the conntrack and state matches): only then are its family's
// connections tracked, as the kernel loads conntrack for a namespace
// only when a rule needs it.
func Uses(t *translator.Table) bool {
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			for _, m := range r.Matches {
				if n := m.Name(); n == "conntrack" || n == "state" {
					return true
				}
			}
		}
	}
	return false
}

// Live returns the entries that have not timed out, by key.
func (t *Table) Live() map[Key]Entry {
	out := map[Key]Entry{}
	for k, e := range t.entries {
		if e.Expires > t.Now {
			out[k] = *e
		}
	}
	return out
}
