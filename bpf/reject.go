package bpf

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// REJECT. The entry program turns the rejected packet into the reply the
// kernel would send - the TCP RST of nf_send_reset (nf_send_reset6), or
// the ICMP (ICMPv6) error of nf_send_unreach (nf_send_unreach6) - and
// sends it back where the packet came from:
//
//   - a packet judged at tc ingress (INPUT, FORWARD) leaves by the egress
//     of the same device (bpf_redirect), with the MAC addresses swapped;
//   - a locally generated packet (OUTPUT, tc egress) comes back to the
//     ingress of its device (BPF_F_INGRESS), addressed to the device's own
//     MAC, so the local socket sees the reply;
//   - except on lo, where the reply leaves by lo's egress whatever the
//     hook: lo's transmit keeps the packet's route (a local one: the
//     reply goes to the same address), where BPF_F_INGRESS drops it and
//     the input route lookup then refuses 127.0.0.1 as a martian source.
//
// No reply is sent (the packet is only dropped) where the kernel sends
// none; and, unlike the kernel, on a device without an Ethernet header.
// REJECT at XDP is refused (rejectAtXDP). docs/datapath.md, "REJECT".

// Stack layout of the reply, in the entry program's main function. The
// verifier wants stack accesses aligned to their size: the reply's
// headers, 2-byte aligned after the 14-byte Ethernet header, are written
// in half words.
const (
	rjEth     = -176 // 14 bytes: Ethernet header
	rjIP      = -162 // 20 or 40 bytes
	rjOrigTCP = -64  // 20 bytes: the offending TCP header
	rjOrigIP  = -40  // 8 bytes: the start of the offending IP header
	rjPseudo  = -24  // 8 bytes: the pseudo-header's length and protocol
	rjScratch = -16  // 4 bytes
)

const (
	fnRedirectIngress = 1 // BPF_F_INGRESS
	skbRecomputeCsum  = 1 // BPF_F_RECOMPUTE_CSUM
	// loopbackIfindex is lo's in every network namespace
	// (LOOPBACK_IFINDEX).
	loopbackIfindex = 1
)

// rejectAtXDP refuses a plan with REJECT rules at XDP.
func rejectAtXDP(p *plan.Plan) error {
	for _, r := range p.Rules {
		if r.Kind == plan.ActReject {
			return &plan.RuleError{Chain: p.Chains[r.Chain].Name, Index: r.Index, Line: r.Line,
				Err: fmt.Errorf("target `REJECT' at XDP (--xdp) is %w", plan.ErrNotInDatapath)}
		}
	}
	return nil
}

// be16 is the native value whose bytes in memory are v, big-endian.
func be16(v uint16) int64 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int64(binary.NativeEndian.Uint16(b[:]))
}

func be32(v uint32) int64 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return int64(int32(binary.NativeEndian.Uint32(b[:])))
}

// copyPkt copies n bytes (a multiple of 2) of the packet context to the
// stack.
func copyPkt(e *emitter, from, to int16, n int) {
	copyHalves(e, asm.R7, from, to, n)
}

// copyHalves copies n bytes (a multiple of 2) from memory at reg+from to
// the stack at to, in half words.
func copyHalves(e *emitter, reg asm.Register, from, to int16, n int) {
	for i := int16(0); i < int16(n); i += 2 {
		e.emit(
			asm.LoadMem(asm.R1, reg, from+i, asm.Half),
			asm.StoreMem(asm.R10, to+i, asm.R1, asm.Half),
		)
	}
}

// storeBytes writes bytes (an even number) to the stack in half words.
func storeBytes(e *emitter, to int16, b ...byte) {
	for i := 0; i < len(b); i += 2 {
		e.emit(asm.StoreImm(asm.R10, to+int16(i), be16(uint16(b[i])<<8|uint16(b[i+1])), asm.Half))
	}
}

// storeWord writes the word in r1 (memory order) to the stack at to.
func storeWord(e *emitter, to int16) {
	e.emit(asm.StoreMem(asm.R10, rjScratch, asm.R1, asm.Word))
	copyHalves(e, asm.R10, rjScratch, to, 4)
}

// csumFold folds the 32-bit sum in r0 and complements it.
func csumFold(e *emitter) {
	for range 2 {
		e.emit(
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.RSh.Imm(asm.R1, 16),
			asm.And.Imm(asm.R0, 0xffff),
			asm.Add.Reg(asm.R0, asm.R1),
		)
	}
	e.emit(asm.Xor.Imm(asm.R0, 0xffff), asm.And.Imm(asm.R0, 0xffff))
}

// csumDiff adds n bytes of the stack at off to the sum in r5 (r0 out).
func csumDiff(e *emitter, off int16, n int32, seed bool) {
	if !seed {
		e.emit(asm.Mov.Imm(asm.R5, 0))
	} else {
		e.emit(asm.Mov.Reg(asm.R5, asm.R0))
	}
	e.emit(
		asm.Mov.Imm(asm.R1, 0),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, int32(off)),
		asm.Mov.Imm(asm.R4, n),
		asm.FnCsumDiff.Call(),
	)
}

// rjLoad reads n bytes of the packet at the offset in r2 to the stack,
// or drops the packet.
func rjLoad(e *emitter, to int16, n int32, drop string) {
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, int32(to)),
		asm.Mov.Imm(asm.R4, n),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, drop),
	)
}

// rejectCode emits the reject path of the entry program's main function
// (tc only): r0 holds verdictReject plus the action's target (the ICMP
// code or plan.RejectReset), r6 the context, r7 the packet context.
func rejectCode(e *emitter, k Kind, fam translator.Family) {
	drop, send, rst := e.newLabel("rjdrop"), e.newLabel("rjsend"), e.newLabel("rjrst")
	e.emit(
		asm.Sub.Imm(asm.R0, verdictReject),
		asm.JEq.Imm(asm.R0, plan.RejectReset, rst),
		asm.Mov.Reg(asm.R9, asm.R0),
	)
	icmpCode(e, k, fam, drop)
	e.emit(asm.Ja.Label(send))
	e.mark(rst)
	rstCode(e, fam, drop)
	e.mark(send)
	sendReply(e)
	e.mark(drop)
	e.ret(k.drop())
}

// rstCode emits the TCP RST reply: r6 context, r7 packet context.
func rstCode(e *emitter, fam translator.Family, drop string) {
	v6 := fam == translator.IPv6
	ipLen := int16(20)
	if v6 {
		ipLen = 40
	}
	tcp := rjIP + ipLen
	total := int32(14 + ipLen + 20)

	// what nf_send_reset answers
	e.emit(
		asm.LoadMem(asm.R1, asm.R7, offFragOff, asm.Half),
		asm.JNE.Imm(asm.R1, 0, drop),
		asm.LoadMem(asm.R1, asm.R7, offProto, asm.Byte),
		asm.JNE.Imm(asm.R1, 6, drop),
		asm.LoadMem(asm.R1, asm.R7, offL4Avail, asm.Half),
		asm.JLT.Imm(asm.R1, 20, drop),
		asm.LoadMem(asm.R1, asm.R7, offTCPFlags, asm.Byte),
		asm.JSet.Imm(asm.R1, 0x04, drop), // no RST for a RST
		asm.LoadMem(asm.R1, asm.R7, offHasMAC, asm.Byte),
		asm.JNE.Imm(asm.R1, 1, drop),
	)
	if v6 {
		// ipv6_addr_type & IPV6_ADDR_UNICAST of both addresses
		for _, off := range []int16{offSrc, offDst} {
			dropIfMulticast6(e, off, drop)
			dropIfUnspecified6(e, off, drop)
		}
	} else {
		dropIfBroadcast4(e, drop)
	}

	// the offending headers
	e.emit(asm.Mov.Imm(asm.R2, 0))
	rjLoad(e, rjEth+6, 6, drop) // its destination MAC is the reply's source
	e.emit(asm.LoadMem(asm.R2, asm.R7, offL4Off, asm.Half))
	rjLoad(e, rjOrigTCP, 20, drop)
	e.emit(asm.Mov.Imm(asm.R2, 14))
	rjLoad(e, rjOrigIP, 8, drop)

	// Ethernet: to the sender's MAC
	copyPkt(e, offSrcMAC, rjEth, 6)
	ethType := uint16(0x0800)
	if v6 {
		ethType = 0x86dd
	}
	e.emit(asm.StoreImm(asm.R10, rjEth+12, be16(ethType), asm.Half))

	// r8: the payload length, from the IP length (not the frame's, which
	// may be padded)
	if v6 {
		e.emit(asm.LoadMem(asm.R8, asm.R10, rjOrigIP+4, asm.Half), asm.HostTo(asm.BE, asm.R8, asm.Half))
		e.emit(asm.LoadMem(asm.R1, asm.R7, offL4Off, asm.Half), asm.Sub.Imm(asm.R1, 14+40), asm.Sub.Reg(asm.R8, asm.R1))
	} else {
		e.emit(asm.LoadMem(asm.R8, asm.R10, rjOrigIP+2, asm.Half), asm.HostTo(asm.BE, asm.R8, asm.Half))
		e.emit(asm.LoadMem(asm.R1, asm.R7, offL4Off, asm.Half), asm.Sub.Imm(asm.R1, 14), asm.Sub.Reg(asm.R8, asm.R1))
	}
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, rjOrigTCP+12, asm.Byte),
		asm.RSh.Imm(asm.R1, 4),
		asm.LSh.Imm(asm.R1, 2),
		asm.Sub.Reg(asm.R8, asm.R1),
	)

	// TCP: the ports swapped, the numbers of nf_reject_ip_tcphdr_put
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, rjOrigTCP, asm.Half),
		asm.StoreMem(asm.R10, tcp+2, asm.R1, asm.Half),
		asm.LoadMem(asm.R1, asm.R10, rjOrigTCP+2, asm.Half),
		asm.StoreMem(asm.R10, tcp, asm.R1, asm.Half),
	)
	storeBytes(e, tcp+12, 0x50, 0, 0, 0, 0, 0, 0, 0) // offset, flags, window, checksum, urgent pointer
	noACK, flagsDone := e.newLabel("rjnoack"), e.newLabel("rjflags")
	e.emit(
		asm.LoadMem(asm.R9, asm.R10, rjOrigTCP+13, asm.Byte),
		asm.JSet.Imm(asm.R9, 0x10, noACK+"_ack"),
		asm.Ja.Label(noACK),
	)
	// with ACK: seq = its ack_seq, RST alone
	e.mark(noACK + "_ack")
	e.emit(
		asm.StoreImm(asm.R10, tcp+13, 0x04, asm.Byte),
	)
	copyHalves(e, asm.R10, rjOrigTCP+8, tcp+4, 4)
	storeBytes(e, tcp+8, 0, 0, 0, 0)
	e.emit(asm.Ja.Label(flagsDone))
	// without: seq 0, ack_seq = seq + syn + fin + payload, RST|ACK
	e.mark(noACK)
	synDone, finDone := e.newLabel("rjsyn"), e.newLabel("rjfin")
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, rjOrigTCP+4, asm.Word),
		asm.HostTo(asm.BE, asm.R1, asm.Word),
		asm.Add.Reg(asm.R1, asm.R8),
		asm.JSet.Imm(asm.R9, 0x02, synDone+"_y"),
		asm.Ja.Label(synDone),
	)
	e.mark(synDone + "_y")
	e.emit(asm.Add.Imm(asm.R1, 1))
	e.mark(synDone)
	e.emit(
		asm.JSet.Imm(asm.R9, 0x01, finDone+"_y"),
		asm.Ja.Label(finDone),
	)
	e.mark(finDone + "_y")
	e.emit(asm.Add.Imm(asm.R1, 1))
	e.mark(finDone)
	e.emit(
		asm.HostTo(asm.BE, asm.R1, asm.Word),
		asm.StoreImm(asm.R10, tcp+13, 0x14, asm.Byte),
	)
	storeWord(e, tcp+8)
	storeBytes(e, tcp+4, 0, 0, 0, 0)
	e.mark(flagsDone)

	// IP: the addresses swapped, the kernel's defaults (nf_reject_iphdr_put,
	// ip6_nf_... : TTL/hop limit 64, DF)
	if v6 {
		storeBytes(e, rjIP, 0x60, 0, 0, 0, 0, 20, 6, 64)
		copyPkt(e, offDst, rjIP+8, 16)
		copyPkt(e, offSrc, rjIP+24, 16)
		e.emit(
			asm.StoreImm(asm.R10, rjPseudo, be32(20), asm.Word),
			asm.StoreImm(asm.R10, rjPseudo+4, be32(6), asm.Word),
		)
		csumDiff(e, rjIP+8, 32, false)
		csumDiff(e, rjPseudo, 8, true)
	} else {
		storeBytes(e, rjIP, 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0) // id 0, DF
		copyPkt(e, offDst, rjIP+12, 4)
		copyPkt(e, offSrc, rjIP+16, 4)
		e.emit(asm.StoreImm(asm.R10, rjPseudo, be32(6<<16|20), asm.Word))
		csumDiff(e, rjIP+12, 8, false)
		csumDiff(e, rjPseudo, 4, true)
	}
	csumDiff(e, tcp, 20, true)
	sealHeaders(e, v6, tcp+16)

	// the packet becomes the reply
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, total),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnSkbChangeTail.Call(),
		asm.JNE.Imm(asm.R0, 0, drop),
	)
	storeReply(e, total, drop)
}

// dropIfBroadcast4 jumps to drop when the IPv4 destination is the
// limited broadcast address or multicast (224.0.0.0/4).
func dropIfBroadcast4(e *emitter, drop string) {
	e.emit(
		asm.LoadMem(asm.R1, asm.R7, offDst, asm.Word),
		asm.JEq.Imm(asm.R1, -1, drop), // 255.255.255.255
		asm.LoadMem(asm.R1, asm.R7, offDst, asm.Byte),
		asm.And.Imm(asm.R1, 0xf0),
		asm.JEq.Imm(asm.R1, 0xe0, drop),
	)
}

// dropIfMulticast6 jumps to drop when the IPv6 address at the packet
// context's offset is multicast (ff00::/8).
func dropIfMulticast6(e *emitter, off int16, drop string) {
	e.emit(
		asm.LoadMem(asm.R1, asm.R7, off, asm.Byte),
		asm.JEq.Imm(asm.R1, 0xff, drop),
	)
}

// dropIfUnspecified6 jumps to drop when the IPv6 address at the packet
// context's offset is ::.
func dropIfUnspecified6(e *emitter, off int16, drop string) {
	nonzero := e.newLabel("rjaddr")
	e.emit(
		asm.LoadMem(asm.R1, asm.R7, off, asm.DWord),
		asm.JNE.Imm(asm.R1, 0, nonzero),
		asm.LoadMem(asm.R1, asm.R7, off+8, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, drop),
	)
	e.mark(nonzero)
}

// sealHeaders stores the folded layer 4 checksum in r0 at the stack slot
// l4csum and, in IPv4, the IP header's checksum.
func sealHeaders(e *emitter, v6 bool, l4csum int16) {
	csumFold(e)
	e.emit(asm.StoreMem(asm.R10, l4csum, asm.R0, asm.Half))
	if !v6 {
		csumDiff(e, rjIP, 20, false)
		csumFold(e)
		e.emit(asm.StoreMem(asm.R10, rjIP+10, asm.R0, asm.Half))
	}
}

// storeReply writes the reply's first n bytes, built on the stack from
// rjEth on, over the packet's.
func storeReply(e *emitter, n int32, drop string) {
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, rjEth),
		asm.Mov.Imm(asm.R4, n),
		asm.Mov.Imm(asm.R5, skbRecomputeCsum),
		asm.FnSkbStoreBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, drop),
	)
}

// sendReply sends the reply the packet has become.
func sendReply(e *emitter) {
	// back out of the device it came in on, or into the device it was
	// leaving by
	egress := e.newLabel("rjout")
	e.emit(
		asm.Mov.Imm(asm.R2, 0),
		asm.LoadMem(asm.R1, asm.R6, skbIfindex, asm.Word),
		asm.JEq.Imm(asm.R1, loopbackIfindex, egress),
		asm.LoadMem(asm.R3, asm.R7, offHook, asm.Byte),
		asm.JNE.Imm(asm.R3, int32(translator.Output)+1, egress),
		asm.Mov.Imm(asm.R2, fnRedirectIngress),
	)
	e.mark(egress)
	e.emit(
		asm.FnRedirect.Call(),
		asm.Return(),
	)
}

// ICMP replies: the stack layout beside the reply's headers.
const (
	rjChunk = -256 // 64 bytes: quoted bytes read for the checksum
	rjFib   = -336 // 64 bytes: struct bpf_fib_lookup
	rjQuote = 64   // bytes summed per chunk
)

const (
	adjRoomMAC = 1      // BPF_ADJ_ROOM_MAC
	fibSrcFlag = 1 << 4 // BPF_FIB_LOOKUP_SRC (Linux 6.8)
)

// icmpCode emits the ICMP (ICMPv6) destination unreachable reply of
// nf_send_unreach (nf_send_unreach6) with the code in r9: the offending
// IP packet quoted, up to 576 bytes of reply in IPv4 (icmp_send) and 1280
// in IPv6 (icmp6_send), room made after the Ethernet header with
// bpf_skb_adjust_room and the rest cut; from the address the packet was
// for (INPUT), the address the kernel picks for the route back to the
// sender (FORWARD: bpf_fib_lookup with BPF_FIB_LOOKUP_SRC), or the
// sender's own (OUTPUT: the reply is for a local address). r6 context,
// r7 packet context, r9 the code.
func icmpCode(e *emitter, k Kind, fam translator.Family, drop string) {
	v6 := fam == translator.IPv6
	ipLen, hdrs, maxQuote := int16(20), int32(28), int32(576-28)
	if v6 {
		ipLen, hdrs, maxQuote = 40, 48, 1280-48
	}
	icmp := rjIP + ipLen
	notOut := e.newLabel("rjnotout")
	hostOK := e.newLabel("rjhost")
	// what icmp_send and icmp6_send answer
	e.emit(
		asm.LoadMem(asm.R1, asm.R7, offFragOff, asm.Half),
		asm.JNE.Imm(asm.R1, 0, drop),
		asm.LoadMem(asm.R1, asm.R7, offHasMAC, asm.Byte),
		asm.JNE.Imm(asm.R1, 1, drop),
		asm.LoadMem(asm.R1, asm.R7, offHook, asm.Byte),
		asm.JNE.Imm(asm.R1, int32(translator.Output)+1, notOut),
		asm.Ja.Label(hostOK),
	)
	e.mark(notOut)
	e.emit(
		asm.LoadMem(asm.R1, asm.R7, offPktType, asm.Byte),
		asm.JNE.Imm(asm.R1, 0, drop),
	)
	e.mark(hostOK)
	if v6 {
		dropIfMulticast6(e, offDst, drop)
		dropIfMulticast6(e, offSrc, drop)
		dropIfUnspecified6(e, offSrc, drop)
		notICMP := e.newLabel("rjnoicmp")
		e.emit(
			asm.LoadMem(asm.R1, asm.R7, offProto, asm.Byte),
			asm.JNE.Imm(asm.R1, 58, notICMP),
			asm.LoadMem(asm.R1, asm.R7, offL4Avail, asm.Half),
			asm.JLT.Imm(asm.R1, 1, drop),
			asm.LoadMem(asm.R1, asm.R7, offICMP, asm.Half),
			asm.RSh.Imm(asm.R1, 8),
			asm.JLT.Imm(asm.R1, 128, drop), // an error
		)
		e.mark(notICMP)
	} else {
		notICMP := e.newLabel("rjnoicmp")
		dropIfBroadcast4(e, drop)
		e.emit(
			asm.LoadMem(asm.R1, asm.R7, offProto, asm.Byte),
			asm.JNE.Imm(asm.R1, 1, notICMP),
			asm.LoadMem(asm.R1, asm.R7, offL4Avail, asm.Half),
			asm.JLT.Imm(asm.R1, 1, drop),
			asm.LoadMem(asm.R1, asm.R7, offICMP, asm.Half),
			asm.RSh.Imm(asm.R1, 8),
			asm.JGT.Imm(asm.R1, 18, drop), // unknown types count as errors
		)
		for _, t := range []int32{3, 4, 5, 11, 12} {
			e.emit(asm.JEq.Imm(asm.R1, t, drop))
		}
		e.mark(notICMP)
	}

	// the sender's MAC, and the IP length
	e.emit(asm.Mov.Imm(asm.R2, 0))
	rjLoad(e, rjEth+6, 6, drop)
	e.emit(asm.Mov.Imm(asm.R2, 14))
	rjLoad(e, rjOrigIP, 8, drop)
	if v6 {
		e.emit(
			asm.LoadMem(asm.R8, asm.R10, rjOrigIP+4, asm.Half),
			asm.HostTo(asm.BE, asm.R8, asm.Half),
			asm.Add.Imm(asm.R8, 40),
		)
	} else {
		e.emit(
			asm.LoadMem(asm.R8, asm.R10, rjOrigIP+2, asm.Half),
			asm.HostTo(asm.BE, asm.R8, asm.Half),
		)
	}
	// r8: the bytes quoted
	short := e.newLabel("rjshort")
	e.emit(
		asm.JLE.Imm(asm.R8, maxQuote, short),
		asm.Mov.Imm(asm.R8, maxQuote),
	)
	e.mark(short)

	// the reply's headers
	copyPkt(e, offSrcMAC, rjEth, 6)
	ethType := uint16(0x0800)
	if v6 {
		ethType = 0x86dd
	}
	e.emit(asm.StoreImm(asm.R10, rjEth+12, be16(ethType), asm.Half))
	srcOff := int16(rjIP + 12)
	dstOff := int16(rjIP + 16)
	addrLen := 4
	if v6 {
		srcOff, dstOff, addrLen = rjIP+8, rjIP+24, 16
		storeBytes(e, rjIP, 0x60, 0, 0, 0)
		e.emit(
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Add.Imm(asm.R1, 8),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.StoreMem(asm.R10, rjIP+4, asm.R1, asm.Half),
		)
		storeBytes(e, rjIP+6, 58, 64)
		storeBytes(e, icmp, 1, 0, 0, 0, 0, 0, 0, 0)
	} else {
		// TOS: the precedence of network control (icmp_send)
		e.emit(
			asm.LoadMem(asm.R1, asm.R7, offTOS, asm.Byte),
			asm.And.Imm(asm.R1, 0x1e),
			asm.Or.Imm(asm.R1, 0x45c0),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.StoreMem(asm.R10, rjIP, asm.R1, asm.Half),
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Add.Imm(asm.R1, 28),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.StoreMem(asm.R10, rjIP+2, asm.R1, asm.Half),
		)
		storeBytes(e, rjIP+4, 0, 0, 0, 0, 64, 1, 0, 0)
		storeBytes(e, icmp, 3, 0, 0, 0, 0, 0, 0, 0)
	}
	e.emit(asm.StoreMem(asm.R10, icmp+1, asm.R9, asm.Byte))
	copyPkt(e, offSrc, dstOff, addrLen)
	// the source
	notIn, notFwd, srcDone := e.newLabel("rjnotin"), e.newLabel("rjnotfwd"), e.newLabel("rjsrcdone")
	e.emit(
		asm.LoadMem(asm.R1, asm.R7, offHook, asm.Byte),
		asm.JNE.Imm(asm.R1, int32(translator.Input)+1, notIn),
	)
	copyPkt(e, offDst, srcOff, addrLen)
	e.emit(asm.Ja.Label(srcDone))
	e.mark(notIn)
	e.emit(asm.JNE.Imm(asm.R1, int32(translator.Forward)+1, notFwd))
	e.emit(asm.Mov.Imm(asm.R1, 0))
	for i := int16(0); i < fibSize; i += 8 {
		e.emit(asm.StoreMem(asm.R10, rjFib+i, asm.R1, asm.DWord))
	}
	fibFam := int64(2) // AF_INET
	if v6 {
		fibFam = 10
	}
	e.emit(
		asm.StoreImm(asm.R10, rjFib+fibFamily, fibFam, asm.Byte),
		asm.LoadMem(asm.R1, asm.R6, skbIfindex, asm.Word),
		asm.StoreMem(asm.R10, rjFib+fibIfindex, asm.R1, asm.Word),
	)
	for i := 0; i < addrLen; i += 4 {
		e.emit(
			asm.LoadMem(asm.R1, asm.R7, offSrc+int16(i), asm.Word),
			asm.StoreMem(asm.R10, rjFib+fibDst+int16(i), asm.R1, asm.Word),
		)
	}
	fibCall(e, rjFib, fibSrcFlag|fibSkipNeigh)
	e.emit(asm.JNE.Imm(asm.R0, fibSuccess, drop))
	copyHalves(e, asm.R10, rjFib+fibSrc, srcOff, addrLen)
	e.emit(asm.Ja.Label(srcDone))
	e.mark(notFwd)
	if v6 {
		copyPkt(e, offSrc, srcOff, addrLen) // OUTPUT: to a local address
	} else {
		// The kernel's comes from the host's own address over lo; handed
		// in through the device, a local source is a martian
		// (fib_validate_source): from the address the packet was for.
		copyPkt(e, offDst, srcOff, addrLen)
	}
	e.mark(srcDone)

	// room after the Ethernet header, the rest cut to the quote
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, hdrs),
		asm.Mov.Imm(asm.R3, adjRoomMAC),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnSkbAdjustRoom.Call(),
		asm.JNE.Imm(asm.R0, 0, drop),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Add.Imm(asm.R2, 14+hdrs),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnSkbChangeTail.Call(),
		asm.JNE.Imm(asm.R0, 0, drop),
	)

	// the checksum: the quote in chunks, zero-padded, then the header
	// (and the pseudo-header)
	e.emit(asm.Mov.Imm(asm.R0, 0), asm.StoreMem(asm.R10, rjScratch, asm.R0, asm.Word))
	sumDone := e.newLabel("rjsum")
	for c := int32(0); c*rjQuote < maxQuote; c++ {
		full := e.newLabel("rjfull")
		e.emit(asm.Mov.Imm(asm.R1, 0))
		for i := int16(0); i < rjQuote; i += 8 {
			e.emit(asm.StoreMem(asm.R10, rjChunk+i, asm.R1, asm.DWord))
		}
		e.emit(
			asm.Mov.Reg(asm.R4, asm.R8),
			asm.Sub.Imm(asm.R4, c*rjQuote),
			asm.JSLE.Imm(asm.R4, 0, sumDone),
			asm.JLE.Imm(asm.R4, rjQuote, full),
			asm.Mov.Imm(asm.R4, rjQuote),
		)
		e.mark(full)
		e.emit(
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, 14+hdrs+c*rjQuote),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, rjChunk),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, drop),
			asm.LoadMem(asm.R0, asm.R10, rjScratch, asm.Word),
		)
		csumDiff(e, rjChunk, rjQuote, true)
		e.emit(asm.StoreMem(asm.R10, rjScratch, asm.R0, asm.Word))
	}
	e.mark(sumDone)
	e.emit(asm.LoadMem(asm.R0, asm.R10, rjScratch, asm.Word))
	csumDiff(e, icmp, 8, true)
	if v6 {
		e.emit(
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Add.Imm(asm.R1, 8),
			asm.HostTo(asm.BE, asm.R1, asm.Word),
			asm.StoreMem(asm.R10, rjPseudo, asm.R1, asm.Word),
			asm.StoreImm(asm.R10, rjPseudo+4, be32(58), asm.Word),
			asm.StoreMem(asm.R10, rjScratch, asm.R0, asm.Word),
		)
		e.emit(asm.LoadMem(asm.R0, asm.R10, rjScratch, asm.Word))
		csumDiff(e, rjPseudo, 8, true)
		csumDiff(e, rjIP+8, 32, true)
	}
	sealHeaders(e, v6, icmp+2)
	storeReply(e, 14+hdrs, drop)
}
