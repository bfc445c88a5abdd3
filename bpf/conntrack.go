package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/translator/conntrack"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// The connection table: a datapath map (it outlives generations, so
// connections survive a restore), an LRU hash keyed by a connection's
// original tuple. A packet looks its own tuple up (original direction),
// then the inverted one (reply direction). translator/conntrack is the
// model of every decision made here.
const (
	// MapConntrack names the connection table.
	MapConntrack = "ct"
	// ctKey: src [16], dst [16], sport u16, dport u16 (as the packet has
	// them; ICMP: the query id and the query's type and code), proto u8,
	// family u8 (4 or 6), two zero bytes.
	ctKeySize  = 40
	ctKeyPorts = 32
	ctKeyProto = 36
	ctKeyFam   = 37
	// ctEntry: expires u64 (bpf_ktime_get_ns), TCP state u8, status u8
	// (IPS_* bits), six zero bytes, the time a UDP flow becomes a stream
	// u64 (conntrack.Entry.StreamTS).
	ctValueSize   = 24
	ctValExpires  = 0
	ctValTCPState = 8
	ctValStatus   = 9
	ctValStreamTS = 16
)

// ConntrackMapSpec is the connection table of size entries
// (conntrack.DefaultTableSize for 0).
func ConntrackMapSpec(size int) *ebpf.MapSpec {
	if size <= 0 {
		size = conntrack.DefaultTableSize
	}
	return &ebpf.MapSpec{Name: MapConntrack, Type: ebpf.LRUHash, KeySize: ctKeySize, ValueSize: ctValueSize, MaxEntries: uint32(size)}
}

// Stack of the connection tracking function.
const (
	ctsNow  = -8   // u64: bpf_ktime_get_ns
	ctsIdx  = -16  // u32: TCP packet class
	ctsInv  = -56  // [40]byte: the inverted key
	ctsL4   = -80  // [24]byte: the first bytes of the layer 4 header
	ctsIP   = -120 // [40]byte: the IP header inside an ICMP error
	ctsZero = -12  // u32: zero, the packet context's key
)

// State bytes the function writes (plan.CTStateBits).
var (
	ctInvalid     = int64(plan.CTStateBits(packet.CTInvalid))
	ctNew         = int64(plan.CTStateBits(packet.CTNew))
	ctEstablished = int64(plan.CTStateBits(packet.CTEstablished))
	ctRelated     = int64(plan.CTStateBits(packet.CTRelated))
	ctUntracked   = int64(plan.CTStateBits(packet.CTUntracked))
)

const (
	ctIn      = "ct_in"
	ctConfirm = "ct_confirm"
)

// ctLabels are where a tuple's lookup goes on, by what directions the
// packet may travel in.
type ctLabels struct{ both, orig, reply, invalid string }

// conntrackFuncs emits the two functions of connection tracking: ct_in
// gives the packet its state before the chains (and advances a known
// connection, as nf_conntrack_in does), ct_confirm adds the entry of a
// new connection once the packet is accepted (__nf_conntrack_confirm).
func conntrackFuncs(e *emitter, k Kind) {
	ctInFunc(e, k)

	e.function(ctConfirm, k, paramCtx)
	done := e.newLabel("ctcdone")
	e.emit(asm.StoreImm(asm.R10, -8, 0, asm.Word))
	mapLookup(e, mapPkt, -8)
	e.emit(
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, offCtOp, asm.Byte),
		asm.JNE.Imm(asm.R1, 1, done),
		asm.StoreImm(asm.R0, offCtOp, 0, asm.Byte),
		asm.LoadMem(asm.R1, asm.R0, offCtNew+ctValStatus, asm.Byte),
		asm.Or.Imm(asm.R1, conntrack.StatusConfirmed),
		asm.StoreMem(asm.R0, offCtNew+ctValStatus, asm.R1, asm.Byte),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.Add.Imm(asm.R2, offCtKey),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Add.Imm(asm.R3, offCtNew),
		asm.LoadMapPtr(asm.R1, 0).WithReference(MapConntrack),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
	)
	e.mark(done)
	e.ret(0)
}

// ctInFunc emits ct_in. Registers: r6 the context, r7 the packet
// context, r8 the entry, r9 the direction (0 original, 1 reply).
func ctInFunc(e *emitter, k Kind) {
	e.function(ctIn, k, paramCtx)
	e.emit(asm.Mov.Reg(asm.R6, asm.R1), asm.StoreImm(asm.R10, ctsZero, 0, asm.Word))
	lookupOrReturn(e, mapPkt, ctsZero, 0)
	e.emit(asm.Mov.Reg(asm.R7, asm.R0))

	invalid := e.newLabel("ctinvalid")
	untracked := e.newLabel("ctuntracked")
	related := e.newLabel("ctrelated")
	setState := e.newLabel("ctset") // r0: the state byte
	outer := ctLabels{e.newLabel("ctboth"), e.newLabel("ctorig"), e.newLabel("ctreply"), invalid}
	inner := ctLabels{e.newLabel("ctrboth"), e.newLabel("ctrorig"), e.newLabel("ctrreply"), invalid}
	tcp := e.newLabel("cttcp")
	l4 := e.newLabel("ctl4")
	icmp := e.newLabel("cticmp")

	e.emit(
		asm.StoreImm(asm.R7, offCtOp, 0, asm.Byte),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R10, ctsNow, asm.R0, asm.DWord),
		// a later fragment has no ports: no reassembly here
		asm.LoadMem(asm.R0, asm.R7, offFragOff, asm.Half),
		asm.JNE.Imm(asm.R0, 0, invalid),
	)
	// the key: addresses, protocol and family; ports below
	ctZeroKey(e)
	for i := int16(0); i < 32; i += 8 {
		e.emit(asm.LoadMem(asm.R0, asm.R7, offSrc+i, asm.DWord), asm.StoreMem(asm.R7, offCtKey+i, asm.R0, asm.DWord))
	}
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offFamily, asm.Byte),
		asm.StoreMem(asm.R7, offCtKey+ctKeyFam, asm.R0, asm.Byte),
		asm.LoadMem(asm.R9, asm.R7, offProto, asm.Byte),
		asm.StoreMem(asm.R7, offCtKey+ctKeyProto, asm.R9, asm.Byte),
		asm.LoadMem(asm.R8, asm.R7, offL4Avail, asm.Half),
		asm.JEq.Imm(asm.R9, packet.ProtoTCP, tcp),
	)
	ctIfICMP(e, asm.R9, icmp)
	for _, p := range []int32{packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoDCCP, packet.ProtoSCTP} {
		e.emit(asm.JEq.Imm(asm.R9, p, l4))
	}
	e.emit(asm.Ja.Label(outer.both)) // no ports

	// TCP: tcp_error's checks, the packet class.
	e.mark(tcp)
	e.emit(asm.JLT.Imm(asm.R8, 20, invalid))
	ctLoad(e, k, 0, 20, invalid)
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsL4+12, asm.Byte),
		asm.RSh.Imm(asm.R1, 4),
		asm.LSh.Imm(asm.R1, 2),
		asm.JLT.Imm(asm.R1, 20, invalid),
		asm.JLT.Reg(asm.R8, asm.R1, invalid),
		asm.LoadMem(asm.R1, asm.R10, ctsL4+13, asm.Byte),
		asm.And.Imm(asm.R1, conntrack.FlagFIN|conntrack.FlagSYN|conntrack.FlagRST|conntrack.FlagACK|conntrack.FlagURG),
		asm.LoadImm(asm.R2, int64(conntrack.TCPValidFlags), asm.DWord),
		asm.RSh.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, 1),
		asm.JEq.Imm(asm.R2, 0, invalid),
	)
	// the class, as get_conntrack_index
	syn, ack, set := e.newLabel("ctsyn"), e.newLabel("ctack"), e.newLabel("ctidx")
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsL4+13, asm.Byte),
		asm.Mov.Imm(asm.R2, conntrack.TCPRstSet),
		asm.JSet.Imm(asm.R1, conntrack.FlagRST, set),
		asm.JSet.Imm(asm.R1, conntrack.FlagSYN, syn),
		asm.Mov.Imm(asm.R2, conntrack.TCPFinSet),
		asm.JSet.Imm(asm.R1, conntrack.FlagFIN, set),
		asm.Mov.Imm(asm.R2, conntrack.TCPAckSet),
		asm.JSet.Imm(asm.R1, conntrack.FlagACK, set),
		asm.Mov.Imm(asm.R2, conntrack.TCPNoneSet),
		asm.Ja.Label(set),
	)
	e.mark(syn)
	e.emit(
		asm.Mov.Imm(asm.R2, conntrack.TCPSynSet),
		asm.JSet.Imm(asm.R1, conntrack.FlagACK, ack),
		asm.Ja.Label(set),
	)
	e.mark(ack)
	e.emit(asm.Mov.Imm(asm.R2, conntrack.TCPSynAckSet))
	e.mark(set)
	e.emit(
		asm.StoreMem(asm.R10, ctsIdx, asm.R2, asm.Word),
		asm.LoadMem(asm.R1, asm.R10, ctsL4, asm.Word),
		asm.StoreMem(asm.R7, offCtKey+ctKeyPorts, asm.R1, asm.Word),
		asm.Ja.Label(outer.both),
	)

	// Other protocols with ports: udp_error wants the whole header.
	e.mark(l4)
	e.emit(asm.JLT.Imm(asm.R8, 8, invalid))
	ctLoad(e, k, 0, 8, invalid)
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsL4, asm.Word),
		asm.StoreMem(asm.R7, offCtKey+ctKeyPorts, asm.R1, asm.Word),
		asm.Ja.Label(outer.both),
	)

	// ICMP: errors are related to the connection of the packet they
	// carry; queries and replies are flows of their own.
	e.mark(icmp)
	e.emit(asm.JLT.Imm(asm.R8, 8, invalid))
	ctLoad(e, k, 0, 8, invalid)
	v6 := e.newLabel("cticmp6")
	query := e.newLabel("ctquery")
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsL4, asm.Byte),
		asm.LoadMem(asm.R0, asm.R7, offFamily, asm.Byte),
		asm.JEq.Imm(asm.R0, 6, v6),
	)
	for _, t := range []int32{3, 4, 5, 11, 12} {
		e.emit(asm.JEq.Imm(asm.R1, t, related))
	}
	e.emit(asm.Ja.Label(query))
	e.mark(v6)
	e.emit(asm.JLT.Imm(asm.R1, 128, related))
	for t := 128; t < 256; t++ {
		if conntrack.ICMPv6Untracked(uint8(t)) {
			e.emit(asm.JEq.Imm(asm.R1, int32(t), untracked))
		}
	}
	e.mark(query)
	ctICMPQuery(e, outer)

	// The lookups of the packet's own tuple.
	found := e.newLabel("ctfound")
	notFound := e.newLabel("ctnew")
	e.mark(outer.both)
	ctLookupBoth(e, found, notFound)
	e.mark(outer.orig)
	e.emit(asm.Mov.Imm(asm.R9, 0))
	ctLookupOwn(e, found, notFound)
	e.mark(outer.reply)
	e.emit(asm.Mov.Imm(asm.R9, 1))
	ctLookupOwn(e, found, invalid)

	setTracked := e.newLabel("cttracked") // r0: the state, r9: the direction
	ctFound(e, found, notFound, setTracked, invalid)
	ctNotFound(e, notFound, setTracked, invalid)

	// ICMP errors: the packet inside, addresses from its IP header.
	e.mark(related)
	ctZeroKey(e)
	rel6 := e.newLabel("ctrel6")
	relL4 := e.newLabel("ctrell4") // r8: offset of the inner layer 4 header from the ICMP header
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offFamily, asm.Byte),
		asm.StoreMem(asm.R7, offCtKey+ctKeyFam, asm.R0, asm.Byte),
		asm.JEq.Imm(asm.R0, 6, rel6),
		// what the error quotes must be inside its IP packet
		asm.LoadMem(asm.R0, asm.R7, offL4Avail, asm.Half),
		asm.JLT.Imm(asm.R0, 8+20, invalid),
	)
	ctLoadIP(e, k, 8, 20, invalid)
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsIP, asm.Byte),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.RSh.Imm(asm.R2, 4),
		asm.JNE.Imm(asm.R2, 4, invalid),
		asm.And.Imm(asm.R1, 0x0f),
		asm.LSh.Imm(asm.R1, 2),
		asm.JLT.Imm(asm.R1, 20, invalid),
		asm.Mov.Reg(asm.R8, asm.R1),
		asm.Add.Imm(asm.R8, 8),
		asm.LoadMem(asm.R9, asm.R10, ctsIP+9, asm.Byte),
		asm.LoadMem(asm.R0, asm.R10, ctsIP+12, asm.Word),
		asm.StoreMem(asm.R7, offCtKey, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.R10, ctsIP+16, asm.Word),
		asm.StoreMem(asm.R7, offCtKey+16, asm.R0, asm.Word),
		asm.Ja.Label(relL4),
	)
	e.mark(rel6)
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offL4Avail, asm.Half),
		asm.JLT.Imm(asm.R0, 8+40, invalid),
	)
	ctLoadIP(e, k, 8, 40, invalid)
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsIP, asm.Byte),
		asm.RSh.Imm(asm.R1, 4),
		asm.JNE.Imm(asm.R1, 6, invalid),
		asm.Mov.Imm(asm.R8, 48),
		asm.LoadMem(asm.R9, asm.R10, ctsIP+6, asm.Byte),
	)
	for i := int16(0); i < 32; i += 8 {
		e.emit(asm.LoadMem(asm.R0, asm.R10, ctsIP+8+i, asm.DWord), asm.StoreMem(asm.R7, offCtKey+i, asm.R0, asm.DWord))
	}
	e.mark(relL4)
	innerICMP := e.newLabel("ctricmp")
	innerPorts := e.newLabel("ctrports")
	innerLoad := e.newLabel("ctrload")
	e.emit(asm.StoreMem(asm.R7, offCtKey+ctKeyProto, asm.R9, asm.Byte))
	ctIfICMP(e, asm.R9, innerLoad)
	for _, p := range []int32{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoDCCP, packet.ProtoSCTP} {
		e.emit(asm.JEq.Imm(asm.R9, p, innerLoad))
	}
	e.emit(asm.Ja.Label(inner.both)) // no ports
	// the inner layer 4 header: 8 bytes, or no connection
	e.mark(innerLoad)
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Add.Imm(asm.R1, 8),
		asm.LoadMem(asm.R0, asm.R7, offL4Avail, asm.Half),
		asm.JGT.Reg(asm.R1, asm.R0, invalid),
		asm.LoadMem(asm.R2, asm.R7, offL4Off, asm.Half),
		asm.Add.Reg(asm.R2, asm.R8),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, ctsL4),
		asm.Mov.Imm(asm.R4, 8),
	)
	ctLoadCall(e, k, invalid)
	ctIfICMP(e, asm.R9, innerICMP)
	e.mark(innerPorts)
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsL4, asm.Word),
		asm.StoreMem(asm.R7, offCtKey+ctKeyPorts, asm.R1, asm.Word),
		asm.Ja.Label(inner.both),
	)
	e.mark(innerICMP)
	e.emit(asm.LoadMem(asm.R1, asm.R10, ctsL4, asm.Byte))
	ctICMPQuery(e, inner)
	relFound := e.newLabel("ctrfound")
	e.mark(inner.both)
	ctLookupBoth(e, relFound, invalid)
	e.mark(inner.orig)
	e.emit(asm.Mov.Imm(asm.R9, 0))
	ctLookupOwn(e, relFound, invalid)
	e.mark(inner.reply)
	e.emit(asm.Mov.Imm(asm.R9, 1))
	ctLookupOwn(e, relFound, invalid)
	// the error travels against the packet it quotes
	e.mark(relFound)
	e.emit(
		asm.LoadMem(asm.R1, asm.R8, ctValStatus, asm.Byte),
		asm.StoreMem(asm.R7, offCtStatus, asm.R1, asm.Byte),
		asm.Xor.Imm(asm.R9, 1),
		asm.Mov.Imm(asm.R0, int32(ctRelated)),
		asm.Ja.Label(setTracked),
	)

	// A tracked packet: its direction and its connection's ports for
	// the matches.
	e.mark(setTracked)
	e.emit(
		asm.StoreMem(asm.R7, offCtState, asm.R0, asm.Byte),
		asm.StoreMem(asm.R7, offCtDir, asm.R9, asm.Byte),
		asm.LoadMem(asm.R0, asm.R7, offCtKey+ctKeyPorts, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.StoreMem(asm.R7, offCtSport, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.R7, offCtKey+ctKeyPorts+2, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.StoreMem(asm.R7, offCtDport, asm.R0, asm.Half),
	)
	ctReplyPorts(e)
	e.ret(0)

	e.mark(untracked)
	e.emit(asm.Mov.Imm(asm.R0, int32(ctUntracked)), asm.Ja.Label(setState))
	e.mark(invalid)
	e.emit(asm.Mov.Imm(asm.R0, int32(ctInvalid)), asm.StoreImm(asm.R7, offCtOp, 0, asm.Byte))
	e.mark(setState)
	e.emit(asm.StoreMem(asm.R7, offCtState, asm.R0, asm.Byte))
	e.ret(0)
}

// ctReplyPorts leaves the reply tuple's ports in the packet context:
// the original ones swapped, or for ICMP the id and the reply's type
// with the query's code (icmp_invert_tuple).
func ctReplyPorts(e *emitter) {
	icmp, done := e.newLabel("ctrpicmp"), e.newLabel("ctrpdone")
	e.emit(
		asm.LoadMem(asm.R1, asm.R7, offCtSport, asm.Half),
		asm.LoadMem(asm.R2, asm.R7, offCtDport, asm.Half),
		asm.LoadMem(asm.R3, asm.R7, offCtKey+ctKeyProto, asm.Byte),
	)
	ctIfICMP(e, asm.R3, icmp)
	e.emit(
		asm.StoreMem(asm.R7, offCtRSport, asm.R2, asm.Half),
		asm.StoreMem(asm.R7, offCtRDport, asm.R1, asm.Half),
		asm.Ja.Label(done),
	)
	e.mark(icmp)
	e.emit(
		asm.StoreMem(asm.R7, offCtRSport, asm.R1, asm.Half),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.RSh.Imm(asm.R4, 8), // the query's type
		asm.And.Imm(asm.R2, 0xff),
	)
	set := e.newLabel("ctrpset")
	for _, reqs := range []map[uint8]uint8{conntrack.ICMPRequests, conntrack.ICMPv6Requests} {
		for _, q := range sortedQueries(reqs) {
			next := e.newLabel("ctrpnext")
			e.emit(
				asm.JNE.Imm(asm.R4, int32(q[0]), next),
				asm.Or.Imm(asm.R2, int32(q[1])<<8),
				asm.Ja.Label(set),
			)
			e.mark(next)
		}
	}
	e.mark(set)
	e.emit(asm.StoreMem(asm.R7, offCtRDport, asm.R2, asm.Half))
	e.mark(done)
}

// ctLookupOwn looks the key in the packet context up: found (r8 the
// entry) if it is there and not expired, else miss.
func ctLookupOwn(e *emitter, found, miss string) {
	e.emit(
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, offCtKey),
	)
	ctLookupAt(e, found, miss)
}

// ctLookupBoth looks the key up, then the inverted key (addresses and
// ports swapped, built at ctsInv): found with r9 the direction (0 own
// key, 1 inverted), else miss.
func ctLookupBoth(e *emitter, found, miss string) {
	own, inv := e.newLabel("ctown"), e.newLabel("ctinv")
	ctLookupOwn(e, own, inv)
	e.mark(own)
	e.emit(asm.Mov.Imm(asm.R9, 0), asm.Ja.Label(found))
	e.mark(inv)
	for i := int16(0); i < 16; i += 8 {
		e.emit(
			asm.LoadMem(asm.R0, asm.R7, offCtKey+i, asm.DWord),
			asm.StoreMem(asm.R10, ctsInv+16+i, asm.R0, asm.DWord),
			asm.LoadMem(asm.R0, asm.R7, offCtKey+16+i, asm.DWord),
			asm.StoreMem(asm.R10, ctsInv+i, asm.R0, asm.DWord),
		)
	}
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offCtKey+ctKeyPorts, asm.Half),
		asm.StoreMem(asm.R10, ctsInv+ctKeyPorts+2, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.R7, offCtKey+ctKeyPorts+2, asm.Half),
		asm.StoreMem(asm.R10, ctsInv+ctKeyPorts, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.R7, offCtKey+ctKeyPorts+4, asm.Word),
		asm.StoreMem(asm.R10, ctsInv+ctKeyPorts+4, asm.R0, asm.Word),
		asm.Mov.Imm(asm.R9, 1),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, ctsInv),
	)
	invFound := e.newLabel("ctinvfound")
	ctLookupAt(e, invFound, miss)
	// the connection's key is the inverted one: the matches read it
	e.mark(invFound)
	for i := int16(0); i < ctKeySize; i += 8 {
		e.emit(asm.LoadMem(asm.R0, asm.R10, ctsInv+i, asm.DWord), asm.StoreMem(asm.R7, offCtKey+i, asm.R0, asm.DWord))
	}
	e.emit(asm.Ja.Label(found))
}

// ctInvertKey swaps the addresses and the ports of the key in the packet
// context.
func ctInvertKey(e *emitter) {
	for i := int16(0); i < 16; i += 8 {
		e.emit(
			asm.LoadMem(asm.R0, asm.R7, offCtKey+i, asm.DWord),
			asm.LoadMem(asm.R1, asm.R7, offCtKey+16+i, asm.DWord),
			asm.StoreMem(asm.R7, offCtKey+i, asm.R1, asm.DWord),
			asm.StoreMem(asm.R7, offCtKey+16+i, asm.R0, asm.DWord),
		)
	}
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offCtKey+ctKeyPorts, asm.Half),
		asm.LoadMem(asm.R1, asm.R7, offCtKey+ctKeyPorts+2, asm.Half),
		asm.StoreMem(asm.R7, offCtKey+ctKeyPorts, asm.R1, asm.Half),
		asm.StoreMem(asm.R7, offCtKey+ctKeyPorts+2, asm.R0, asm.Half),
	)
}

// ctLookupAt looks up the key r2 points to.
func ctLookupAt(e *emitter, found, miss string) {
	e.emit(
		asm.LoadMapPtr(asm.R1, 0).WithReference(MapConntrack),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, miss),
		asm.LoadMem(asm.R1, asm.R0, ctValExpires, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, ctsNow, asm.DWord),
		asm.JLE.Reg(asm.R1, asm.R2, miss),
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.Ja.Label(found),
	)
}

// ctZeroKey zeroes the key in the packet context.
func ctZeroKey(e *emitter) {
	e.emit(asm.Mov.Imm(asm.R0, 0))
	for i := int16(0); i < ctKeySize; i += 8 {
		e.emit(asm.StoreMem(asm.R7, offCtKey+i, asm.R0, asm.DWord))
	}
}

// ctIfICMP jumps to label when the protocol in reg is the family's ICMP.
func ctIfICMP(e *emitter, reg asm.Register, label string) {
	v6 := e.newLabel("ctic6")
	no := e.newLabel("ctnoicmp")
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offFamily, asm.Byte),
		asm.JEq.Imm(asm.R0, 6, v6),
		asm.JEq.Imm(reg, packet.ProtoICMP, label),
		asm.Ja.Label(no),
	)
	e.mark(v6)
	e.emit(asm.JEq.Imm(reg, packet.ProtoICMPv6, label))
	e.mark(no)
}

// ctICMPQuery keys an ICMP query or reply whose 8 header bytes are at
// ctsL4 and whose type is in r1: the id and the query's type and code;
// a reply's key has the addresses swapped (it is the query's). Other
// types have no connection.
func ctICMPQuery(e *emitter, l ctLabels) {
	v6 := e.newLabel("ctq6")
	e.emit(
		asm.LoadMem(asm.R2, asm.R10, ctsL4+4, asm.Half),
		asm.StoreMem(asm.R7, offCtKey+ctKeyPorts, asm.R2, asm.Half),
		asm.LoadMem(asm.R2, asm.R10, ctsL4+1, asm.Byte),
		asm.StoreMem(asm.R7, offCtKey+ctKeyPorts+3, asm.R2, asm.Byte),
		asm.LoadMem(asm.R0, asm.R7, offFamily, asm.Byte),
		asm.JEq.Imm(asm.R0, 6, v6),
	)
	table := func(reqs map[uint8]uint8) {
		swap := e.newLabel("ctqswap")
		for _, q := range sortedQueries(reqs) {
			req, rep := q[0], q[1]
			isReq, isRep := e.newLabel("ctqreq"), e.newLabel("ctqrep")
			next := e.newLabel("ctqnext")
			e.emit(
				asm.JEq.Imm(asm.R1, int32(req), isReq),
				asm.JEq.Imm(asm.R1, int32(rep), isRep),
				asm.Ja.Label(next),
			)
			e.mark(isReq)
			e.emit(asm.StoreImm(asm.R7, offCtKey+ctKeyPorts+2, int64(req), asm.Byte), asm.Ja.Label(l.orig))
			e.mark(isRep)
			e.emit(asm.StoreImm(asm.R7, offCtKey+ctKeyPorts+2, int64(req), asm.Byte), asm.Ja.Label(swap))
			e.mark(next)
		}
		e.emit(asm.Ja.Label(l.invalid))
		e.mark(swap)
		for i := int16(0); i < 16; i += 8 {
			e.emit(
				asm.LoadMem(asm.R0, asm.R7, offCtKey+i, asm.DWord),
				asm.LoadMem(asm.R1, asm.R7, offCtKey+16+i, asm.DWord),
				asm.StoreMem(asm.R7, offCtKey+i, asm.R1, asm.DWord),
				asm.StoreMem(asm.R7, offCtKey+16+i, asm.R0, asm.DWord),
			)
		}
		e.emit(asm.Ja.Label(l.reply))
	}
	table(conntrack.ICMPRequests)
	e.mark(v6)
	table(conntrack.ICMPv6Requests)
}

// sortedQueries returns the query types in order, for a stable program.
func sortedQueries(m map[uint8]uint8) [][2]uint8 {
	var out [][2]uint8
	for t := 0; t < 256; t++ {
		if r, ok := m[uint8(t)]; ok {
			out = append(out, [2]uint8{uint8(t), r})
		}
	}
	return out
}

// ctFound advances a known connection (r8 its entry, r9 the direction)
// and sets the state: the reply direction, or an original direction
// that has seen a reply, is ESTABLISHED, else NEW. Nothing changes for
// a packet looped back to the host, which was tracked on its way out.
func ctFound(e *emitter, found, notFound, tracked, invalid string) {
	e.mark(found)
	state := e.newLabel("ctstate")
	noUpdate := e.newLabel("ctnoupd")
	notTCP := e.newLabel("ctnottcp")
	// r3: 1 when the packet may change the entry
	upd := e.newLabel("ctupd")
	e.emit(
		asm.Mov.Imm(asm.R3, 1),
		asm.LoadMem(asm.R0, asm.R7, offHook, asm.Byte),
		asm.JNE.Imm(asm.R0, 2, upd), // INPUT
		asm.LoadMem(asm.R0, asm.R7, offInIfidx, asm.Word),
		asm.JNE.Imm(asm.R0, 1, upd), // the loopback device
		asm.Mov.Imm(asm.R3, 0),
	)
	e.mark(upd)
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offProto, asm.Byte),
		asm.JNE.Imm(asm.R0, packet.ProtoTCP, notTCP),
		// the new TCP state: row dir*6+class of the table, 4 bits per
		// old state
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.Mul.Imm(asm.R1, 6),
		asm.LoadMem(asm.R0, asm.R10, ctsIdx, asm.Word),
		asm.Add.Reg(asm.R1, asm.R0),
		asm.LoadMem(asm.R4, asm.R8, ctValTCPState, asm.Byte),
		asm.JGT.Imm(asm.R4, conntrack.TCPSynSent2, invalid),
	)
	have := e.newLabel("ctrow")
	for dir := 0; dir < 2; dir++ {
		for idx := 0; idx < 6; idx++ {
			var bits uint64
			for s, n := range conntrack.TCPTransitions[dir][idx] {
				bits |= uint64(n) << (4 * s)
			}
			next := e.newLabel("ctrownext")
			e.emit(
				asm.JNE.Imm(asm.R1, int32(dir*6+idx), next),
				asm.LoadImm(asm.R2, int64(bits), asm.DWord),
				asm.Ja.Label(have),
			)
			e.mark(next)
		}
	}
	e.emit(asm.Ja.Label(invalid))
	e.mark(have)
	reopen := e.newLabel("ctreopen")
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R4),
		asm.LSh.Imm(asm.R1, 2),
		asm.RSh.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, 0xf), // r2: the new state, r4 the old
		asm.JEq.Imm(asm.R2, conntrack.TCPInvalid, invalid),
		asm.JEq.Imm(asm.R2, conntrack.TCPIgnore, state),
		asm.JNE.Imm(asm.R2, conntrack.TCPSynSent, reopen+"_no"),
		asm.JGE.Imm(asm.R4, conntrack.TCPTimeWait, reopen),
	)
	e.mark(reopen + "_no")
	kill, keep := e.newLabel("ctkill"), e.newLabel("ctkeep")
	e.emit(
		asm.JEq.Imm(asm.R3, 0, state),
		// a reset before any reply ends the connection at once
		asm.LoadMem(asm.R1, asm.R10, ctsIdx, asm.Word),
		asm.JNE.Imm(asm.R1, conntrack.TCPRstSet, keep),
		asm.LoadMem(asm.R1, asm.R8, ctValStatus, asm.Byte),
		asm.JSet.Imm(asm.R1, conntrack.StatusSeenReply, keep),
		asm.Ja.Label(kill),
	)
	e.mark(keep)
	// ASSURED: an answered connection reaching (or staying) ESTABLISHED
	// from SYN_RECV or ESTABLISHED
	assured := e.newLabel("ctassured")
	e.emit(
		asm.JNE.Imm(asm.R2, conntrack.TCPEstablished, assured),
		asm.JEq.Imm(asm.R4, conntrack.TCPSynRecv, assured+"_old"),
		asm.JNE.Imm(asm.R4, conntrack.TCPEstablished, assured),
	)
	e.mark(assured + "_old")
	e.emit(
		asm.LoadMem(asm.R1, asm.R8, ctValStatus, asm.Byte),
		asm.Mov.Reg(asm.R0, asm.R1),
		asm.And.Imm(asm.R0, conntrack.StatusSeenReply|conntrack.StatusAssured),
		asm.JNE.Imm(asm.R0, conntrack.StatusSeenReply, assured),
		asm.Or.Imm(asm.R1, conntrack.StatusAssured),
		asm.StoreMem(asm.R8, ctValStatus, asm.R1, asm.Byte),
	)
	e.mark(assured)
	e.emit(asm.StoreMem(asm.R8, ctValTCPState, asm.R2, asm.Byte))
	ctTCPTimeout(e, asm.R2) // r1: the timeout
	ctUnackTimeout(e, asm.R2, asm.R8, ctValStatus)
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, ctsNow, asm.DWord),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.StoreMem(asm.R8, ctValExpires, asm.R0, asm.DWord),
		asm.Ja.Label(state),
	)
	// A SYN on a closed connection: the old one goes, the packet opens
	// a new one.
	e.mark(reopen)
	e.emit(
		asm.JEq.Imm(asm.R3, 0, state),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, offCtKey),
		asm.LoadMapPtr(asm.R1, 0).WithReference(MapConntrack),
		asm.FnMapDeleteElem.Call(),
		// the new connection is keyed by this packet's own tuple
		asm.JEq.Imm(asm.R9, 0, notFound),
	)
	ctInvertKey(e)
	e.emit(asm.Ja.Label(notFound))

	// The packet keeps the state of its direction: a reply ESTABLISHED,
	// the original NEW (no reply was seen).
	newState := e.newLabel("ctnewstate")
	e.mark(kill)
	e.emit(
		asm.LoadMem(asm.R1, asm.R8, ctValStatus, asm.Byte),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.LSh.Imm(asm.R2, 1), // a reply has been seen: this one
		asm.Or.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R7, offCtStatus, asm.R1, asm.Byte),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, offCtKey),
		asm.LoadMapPtr(asm.R1, 0).WithReference(MapConntrack),
		asm.FnMapDeleteElem.Call(),
		asm.JEq.Imm(asm.R9, 0, newState),
		asm.Mov.Imm(asm.R0, int32(ctEstablished)),
		asm.Ja.Label(tracked),
	)
	e.mark(newState)
	e.emit(asm.Mov.Imm(asm.R0, int32(ctNew)), asm.Ja.Label(tracked))

	// Other protocols: the reply marks the connection, the timeout
	// starts again.
	e.mark(notTCP)
	e.emit(
		asm.JEq.Imm(asm.R3, 0, state),
		// the status before the packet, as the trackers see it (the
		// reply bit is set at the state label)
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Add.Imm(asm.R1, ctValStatus),
		asm.LoadMem(asm.R2, asm.R7, offProto, asm.Byte),
		asm.LoadMem(asm.R3, asm.R8, ctValStreamTS, asm.DWord),
	)
	ctOtherTimeout(e) // r0: the timeout
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsNow, asm.DWord),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.StoreMem(asm.R8, ctValExpires, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R3, 1),
	)

	e.mark(state)
	est := e.newLabel("ctest")
	e.emit(asm.JEq.Imm(asm.R9, 0, noUpdate))
	// the reply direction
	e.emit(
		asm.JEq.Imm(asm.R3, 0, est),
		asm.LoadMem(asm.R1, asm.R8, ctValStatus, asm.Byte),
		asm.Or.Imm(asm.R1, conntrack.StatusSeenReply),
		asm.StoreMem(asm.R8, ctValStatus, asm.R1, asm.Byte),
		asm.Ja.Label(est),
	)
	e.mark(noUpdate)
	e.emit(
		asm.LoadMem(asm.R1, asm.R8, ctValStatus, asm.Byte),
		asm.StoreMem(asm.R7, offCtStatus, asm.R1, asm.Byte),
		asm.JSet.Imm(asm.R1, conntrack.StatusSeenReply, est+"_set"),
		asm.Mov.Imm(asm.R0, int32(ctNew)),
		asm.Ja.Label(tracked),
	)
	e.mark(est)
	e.emit(
		asm.LoadMem(asm.R1, asm.R8, ctValStatus, asm.Byte),
		asm.StoreMem(asm.R7, offCtStatus, asm.R1, asm.Byte),
	)
	e.mark(est + "_set")
	e.emit(asm.Mov.Imm(asm.R0, int32(ctEstablished)), asm.Ja.Label(tracked))
}

// ctNotFound prepares the entry a new connection gets if the packet is
// accepted: TCP only from a SYN (SYN_SENT) or, picked up mid-stream, an
// ACK (ESTABLISHED), as nf_conntrack_tcp_loose=1 has it.
func ctNotFound(e *emitter, notFound, tracked, invalid string) {
	e.mark(notFound)
	e.emit(asm.Mov.Imm(asm.R9, 0)) // the packet's direction is the original
	notTCP := e.newLabel("ctnewother")
	fill := e.newLabel("ctnewfill")
	e.emit(
		asm.Mov.Imm(asm.R0, 0),
		asm.StoreMem(asm.R7, offCtNew, asm.R0, asm.DWord),
		asm.StoreMem(asm.R7, offCtNew+8, asm.R0, asm.DWord),
		asm.StoreMem(asm.R7, offCtStatus, asm.R0, asm.Byte),
		asm.LoadMem(asm.R0, asm.R10, ctsNow, asm.DWord),
		asm.LoadImm(asm.R1, int64(conntrack.UDPStreamAfter), asm.DWord),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.StoreMem(asm.R7, offCtNew+ctValStreamTS, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R7, offProto, asm.Byte),
		asm.JNE.Imm(asm.R0, packet.ProtoTCP, notTCP),
		asm.LoadMem(asm.R1, asm.R10, ctsIdx, asm.Word),
		asm.Mov.Imm(asm.R2, conntrack.TCPSynSent),
		asm.JEq.Imm(asm.R1, conntrack.TCPSynSet, fill),
		asm.Mov.Imm(asm.R2, conntrack.TCPEstablished),
		asm.JEq.Imm(asm.R1, conntrack.TCPAckSet, fill),
		asm.Ja.Label(invalid),
	)
	e.mark(fill)
	e.emit(asm.StoreMem(asm.R7, offCtNew+ctValTCPState, asm.R2, asm.Byte))
	ctTCPTimeout(e, asm.R2)
	ctUnackTimeout(e, asm.R2, asm.R7, offCtNew+ctValStatus)
	e.emit(asm.Mov.Reg(asm.R0, asm.R1))
	done := e.newLabel("ctnewdone")
	e.emit(asm.Ja.Label(done))
	e.mark(notTCP)
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, offCtNew+ctValStatus),
		asm.LoadMem(asm.R2, asm.R7, offProto, asm.Byte),
		asm.LoadMem(asm.R3, asm.R7, offCtNew+ctValStreamTS, asm.DWord),
	)
	ctOtherTimeout(e)
	e.mark(done)
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, ctsNow, asm.DWord),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.StoreMem(asm.R7, offCtNew+ctValExpires, asm.R0, asm.DWord),
		asm.StoreImm(asm.R7, offCtOp, 1, asm.Byte),
		asm.Mov.Imm(asm.R0, int32(ctNew)),
		asm.Ja.Label(tracked),
	)
}

// ctTCPTimeout puts the timeout of the TCP state in reg (1-9) in r1, in
// nanoseconds.
func ctTCPTimeout(e *emitter, reg asm.Register) {
	done := e.newLabel("cttodone")
	for s := conntrack.TCPSynSent; s <= conntrack.TCPSynSent2; s++ {
		next := e.newLabel("cttonext")
		e.emit(
			asm.JNE.Imm(reg, int32(s), next),
			asm.LoadImm(asm.R1, int64(conntrack.TCPTimeouts[s]), asm.DWord),
			asm.Ja.Label(done),
		)
		e.mark(next)
	}
	e.emit(asm.Mov.Imm(asm.R1, 0))
	e.mark(done)
}

// ctUnackTimeout holds the timeout in r1 of a connection entering
// ESTABLISHED (the state in reg) to conntrack.TCPUnackTimeout while its
// status (at base+off) has no reply: one picked up mid-stream. It
// clobbers r0.
func ctUnackTimeout(e *emitter, reg, base asm.Register, off int16) {
	done := e.newLabel("ctunack")
	e.emit(
		asm.JNE.Imm(reg, conntrack.TCPEstablished, done),
		asm.LoadMem(asm.R0, base, off, asm.Byte),
		asm.JSet.Imm(asm.R0, conntrack.StatusSeenReply, done),
		asm.LoadImm(asm.R1, int64(conntrack.TCPUnackTimeout), asm.DWord),
	)
	e.mark(done)
}

// ctOtherTimeout puts in r0 the timeout of a connection of another
// protocol than TCP after a packet: r1 points to its status (before the
// packet), r2 is its protocol, r3 the time it becomes a UDP stream. A
// UDP flow with a reply that has lasted two seconds gets the stream
// timeout, a GRE flow with a reply GRE's; both become ASSURED (the
// status is updated).
func ctOtherTimeout(e *emitter) {
	done := e.newLabel("ctodone")
	ports := e.newLabel("ctoports")
	gre := e.newLabel("ctogre")
	icmp := e.newLabel("ctoicmp")
	assured := e.newLabel("ctoassured")
	for _, p := range []int32{packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoDCCP, packet.ProtoSCTP} {
		e.emit(asm.JEq.Imm(asm.R2, p, ports))
	}
	e.emit(asm.JEq.Imm(asm.R2, packet.ProtoGRE, gre))
	ctIfICMP(e, asm.R2, icmp)
	e.emit(asm.LoadImm(asm.R0, int64(conntrack.GenericTimeout), asm.DWord), asm.Ja.Label(done))
	e.mark(icmp)
	e.emit(asm.LoadImm(asm.R0, int64(conntrack.ICMPTimeout), asm.DWord), asm.Ja.Label(done))
	e.mark(gre)
	e.emit(
		asm.LoadImm(asm.R0, int64(conntrack.GRETimeout), asm.DWord),
		asm.LoadMem(asm.R4, asm.R1, 0, asm.Byte),
		asm.JSet.Imm(asm.R4, conntrack.StatusSeenReply, gre+"_replied"),
		asm.Ja.Label(done),
	)
	e.mark(gre + "_replied")
	e.emit(
		asm.LoadImm(asm.R0, int64(conntrack.GREStreamTimeout), asm.DWord),
		asm.Ja.Label(assured),
	)
	e.mark(ports)
	e.emit(
		asm.LoadImm(asm.R0, int64(conntrack.UDPTimeout), asm.DWord),
		asm.LoadMem(asm.R4, asm.R1, 0, asm.Byte),
		asm.JSet.Imm(asm.R4, conntrack.StatusSeenReply, ports+"_replied"),
		asm.Ja.Label(done),
	)
	e.mark(ports + "_replied")
	e.emit(
		asm.LoadMem(asm.R5, asm.R10, ctsNow, asm.DWord),
		asm.JLE.Reg(asm.R5, asm.R3, done),
		asm.LoadImm(asm.R0, int64(conntrack.UDPStreamTimeout), asm.DWord),
	)
	e.mark(assured)
	e.emit(
		asm.Or.Imm(asm.R4, conntrack.StatusAssured),
		asm.StoreMem(asm.R1, 0, asm.R4, asm.Byte),
	)
	e.mark(done)
}

// ctLoad loads n bytes of the layer 4 header from offset off on into
// ctsL4, jumping to fail when the packet is shorter.
func ctLoad(e *emitter, k Kind, off, n int32, fail string) {
	ctLoadTo(e, k, ctsL4, off, n, fail)
}

// ctLoadIP loads n bytes of the IP header inside an ICMP error (off
// bytes after the ICMP header's start) into ctsIP.
func ctLoadIP(e *emitter, k Kind, off, n int32, fail string) {
	ctLoadTo(e, k, ctsIP, off, n, fail)
}

// ctLoadTo loads n bytes from off bytes after the layer 4 header's start
// into the stack at dst.
func ctLoadTo(e *emitter, k Kind, dst int16, off, n int32, fail string) {
	e.emit(
		asm.LoadMem(asm.R2, asm.R7, offL4Off, asm.Half),
		asm.Add.Imm(asm.R2, off),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, int32(dst)),
		asm.Mov.Imm(asm.R4, n),
	)
	ctLoadCall(e, k, fail)
}

func ctLoadCall(e *emitter, k Kind, fail string) {
	if k == XDP {
		e.emit(asm.FnXdpLoadBytes.Call())
	} else {
		e.emit(asm.FnSkbLoadBytes.Call())
	}
	e.emit(asm.JNE.Imm(asm.R0, 0, fail))
}

// ConntrackFill is how full a connection table is.
type ConntrackFill struct {
	// Entries are the entries in the table; Live those not timed out
	// (an LRU hash keeps an expired entry until it is replaced or
	// evicted); Size is the table's capacity.
	Entries, Live, Size int
}

// ReadConntrackFill counts the entries of a connection table.
func ReadConntrackFill(m *ebpf.Map) (ConntrackFill, error) {
	f := ConntrackFill{Size: int(m.MaxEntries())}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return f, err
	}
	now := uint64(ts.Nano())
	const batch = 4096
	keys := make([][ctKeySize]byte, batch)
	values := make([][ctValueSize]byte, batch)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		for _, v := range values[:n] {
			f.Entries++
			if binary.NativeEndian.Uint64(v[ctValExpires:]) > now {
				f.Live++
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return f, nil
		}
		if err != nil {
			return f, fmt.Errorf("reading the connection table: %w", err)
		}
	}
}
