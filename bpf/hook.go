package bpf

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// HookPoint is where a hook program runs.
type HookPoint uint8

// Hook points: tc ingress and egress, and XDP (ingress only).
const (
	Ingress HookPoint = iota
	Egress
	XDPIngress
)

func (h HookPoint) kind() Kind {
	if h == XDPIngress {
		return XDP
	}
	return TC
}

// HookSpec describes one hook program variant.
type HookSpec struct {
	Point HookPoint
	// L2 is the link-layer header length of the interfaces the program
	// serves: 14 for Ethernet (and lo), 0 for devices that carry bare IP
	// (WireGuard, tun).
	L2 int
}

// Name is the program's name.
func (h HookSpec) Name() string {
	n := [...]string{"bpftables_in", "bpftables_out", "bpftables_xdp"}[h.Point]
	if h.L2 == 0 {
		n += "_ip"
	}
	return n
}

// Stable maps every hook program uses.
const (
	mapConfig = "config" // test overrides: forced hook and interfaces
)

// rootMap names the root program array of a kind: slot 0 IPv4, 1 IPv6.
func rootMap(k Kind) string { return "root_" + k.String() }

// Stack layout of the hook program.
const (
	hsKey   = -8   // u32 map key
	hsHdr   = -48  // 40 bytes: the IP header
	hsFib   = -112 // 64 bytes: struct bpf_fib_lookup
	hsL4    = -128 // 16 bytes: the first bytes of the layer 4 header
	hsSaved = -136 // u64: saved values
)

// sk_buff and xdp_md context offsets (uapi).
const (
	skbLen            = 0
	skbPktType        = 4
	skbMark           = 8
	skbProtocol       = 16
	skbIngressIfindex = 36
	skbIfindex        = 40
	skbData           = 76
	skbDataEnd        = 80
	xdpData           = 0
	xdpDataEnd        = 4
	xdpIngressIfindex = 12
)

// bpf_fib_lookup fields and results.
const (
	fibFamily    = 0
	fibProto     = 1
	fibSport     = 2
	fibDport     = 4
	fibIfindex   = 8
	fibTOS       = 12
	fibSrc       = 16
	fibDst       = 32
	fibMark      = 52
	fibSize      = 64
	fibSkipNeigh = 1 << 2
	fibMarkFlag  = 1 << 5

	fibSuccess  = 0
	fibNotFwded = 4
	// fibFwdDisabled: forwarding is off on the interface, checked before
	// any lookup. Such a host forwards nothing: a packet is for it or is
	// dropped by the kernel's routing, so it is judged at INPUT.
	fibFwdDisabled = 5
	fibNoNeigh     = 7
	// fibFragNeeded: at tc, a lookup given no length still compares the
	// skb with the output device's MTU; the route (and ifindex) is found.
	fibFragNeeded = 8
)

// ConfigMapSpec is the map of test overrides the hook programs read: a
// forced hook (0: decide by route lookup) and interface indexes.
func ConfigMapSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: mapConfig, Type: ebpf.Array, KeySize: 4, ValueSize: 16, MaxEntries: 1}
}

// RootMapSpec is a kind's root program array.
func RootMapSpec(k Kind) *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: rootMap(k), Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 2}
}

// Config is the value of the config map.
type Config struct {
	// ForceHook, when not zero, is the hook (translator.Hook + 1) every
	// packet is judged at, with the interfaces below, instead of the route
	// lookup's answer: for BPF_PROG_TEST_RUN, where the packet's device is
	// the test namespace's loopback.
	ForceHook         uint32
	ForceIn, ForceOut uint32
	_                 uint32
}

// HookProgram builds a hook program: it parses the packet into the packet
// context, decides the hook (tc ingress and XDP by route lookup: local
// INPUT, forwarded FORWARD; tc egress OUTPUT for locally generated packets
// only) and tail-calls the family's generation. Packets the kernel itself
// will drop (a broken IP header, a length past the packet) and packets no
// hook judges pass untouched.
func HookProgram(h HookSpec) *ebpf.ProgramSpec {
	k := h.Point.kind()
	e := &emitter{}
	pass := func() { e.ret(k.pass()) }
	e.function("main", k, paramCtx)
	e.emit(asm.Mov.Reg(asm.R6, asm.R1))
	lookupPkt(e, hsKey, k.pass())
	if h.Point == Egress {
		// Forwarded packets were judged at ingress.
		own := e.newLabel("local")
		e.emit(
			asm.LoadMem(asm.R0, asm.R6, skbIngressIfindex, asm.Word),
			asm.JEq.Imm(asm.R0, 0, own),
		)
		pass()
		e.mark(own)
	}
	// The packet is parsed with direct reads of its linear part; a read
	// past it (or an IPv6 extension header) starts over with the parser
	// that reads through the helper, which writes the whole packet context
	// again from the same bytes. The two meet only with the context
	// complete, so the verifier walks each parser once rather than every
	// mix of the two (docs/datapath.md).
	passLabel := e.newLabel("pass")
	slow, parsed := e.newLabel("slowparse"), e.newLabel("parsed")
	parse(e, h, k, directReader(slow), slow, passLabel)
	e.emit(asm.Ja.Label(parsed))
	e.mark(slow)
	parse(e, h, k, loadBytes, "", passLabel)
	e.mark(parsed)

	// The hook: forced by the config, or decided.
	decide := e.newLabel("decide")
	judge := e.newLabel("judge")
	e.emit(
		asm.StoreImm(asm.R10, hsKey, 0, asm.Word),
	)
	mapLookup(e, mapConfig, hsKey)
	e.emit(
		asm.JEq.Imm(asm.R0, 0, decide),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JEq.Imm(asm.R1, 0, decide),
		asm.StoreMem(asm.R7, offHook, asm.R1, asm.Byte),
		asm.LoadMem(asm.R1, asm.R0, 4, asm.Word),
		asm.StoreMem(asm.R7, offInIfidx, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.Word),
		asm.StoreMem(asm.R7, offOutIfidx, asm.R1, asm.Word),
		asm.Ja.Label(judge),
	)
	e.mark(decide)
	if h.Point == Egress {
		e.emit(
			asm.StoreImm(asm.R7, offHook, 4, asm.Byte), // OUTPUT
			asm.StoreImm(asm.R7, offInIfidx, 0, asm.Word),
			asm.LoadMem(asm.R1, asm.R6, skbIfindex, asm.Word),
			asm.StoreMem(asm.R7, offOutIfidx, asm.R1, asm.Word),
			asm.Ja.Label(judge),
		)
	} else {
		fibLookup(e, k, passLabel, judge)
	}

	e.mark(judge)
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.LoadMapPtr(asm.R2, 0).WithReference(rootMap(k)),
		// slot 0 for IPv4 (4 = 0b100), 1 for IPv6 (6 = 0b110)
		asm.LoadMem(asm.R3, asm.R7, offFamily, asm.Byte),
		asm.RSh.Imm(asm.R3, 1),
		asm.And.Imm(asm.R3, 1),
		asm.FnTailCall.Call(),
	)
	// No generation for the family: the packet passes.
	e.mark(passLabel)
	pass()
	return &ebpf.ProgramSpec{Name: h.Name(), Type: k.progType(), License: "GPL", Instructions: prune(e.instructions())}
}

// A reader copies n bytes from packet offset r2 into the stack at dst (r1
// holds the context), jumping to fail when it cannot.
type reader func(e *emitter, k Kind, dst int16, n int32, fail string)

// parse writes the packet context from the packet's headers, reading them
// with read, and jumps to passLabel for a packet the kernel will drop. An
// IPv6 packet with extension headers goes to rare instead if it is not
// empty. It needs r6 the context and r7 the packet context.
func parse(e *emitter, h HookSpec, k Kind, read reader, rare, passLabel string) {
	// Bytes of the packet after the link-layer header, in r9.
	if k == XDP {
		e.emit(asm.Mov.Reg(asm.R1, asm.R6), asm.FnXdpGetBuffLen.Call(), asm.Mov.Reg(asm.R9, asm.R0))
	} else {
		e.emit(asm.LoadMem(asm.R9, asm.R6, skbLen, asm.Word))
	}
	if h.L2 > 0 {
		e.emit(asm.Add.Imm(asm.R9, -int32(h.L2)))
	}
	load := func(off int32, dst int16, n int32, fail string) {
		e.emit(asm.Mov.Reg(asm.R1, asm.R6))
		e.emit(asm.Mov.Imm(asm.R2, off))
		read(e, k, dst, n, fail)
	}
	loadAt := func(offReg asm.Register, dst int16, n int32, fail string) {
		e.emit(asm.Mov.Reg(asm.R1, asm.R6), asm.Mov.Reg(asm.R2, offReg))
		read(e, k, dst, n, fail)
	}
	// The IP version from the first byte decides the family.
	load(int32(h.L2), hsHdr, 1, passLabel)
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, hsHdr, asm.Byte),
		asm.RSh.Imm(asm.R0, 4),
	)
	v6 := e.newLabel("v6")
	e.emit(asm.JEq.Imm(asm.R0, 6, v6), asm.JNE.Imm(asm.R0, 4, passLabel))

	// IPv4
	l4 := e.newLabel("l4")
	load(int32(h.L2), hsHdr, 20, passLabel)
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, hsHdr, asm.Byte),
		asm.And.Imm(asm.R0, 0x0f),
		asm.LSh.Imm(asm.R0, 2), // header length
		asm.JLT.Imm(asm.R0, 20, passLabel),
		asm.Mov.Reg(asm.R8, asm.R0), // r8: header length
		asm.LoadMem(asm.R1, asm.R10, hsHdr+2, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half), // total length
		asm.JLT.Reg(asm.R1, asm.R8, passLabel),
		asm.JGT.Reg(asm.R1, asm.R9, passLabel), // longer than the packet: ip_rcv drops it
		asm.StoreMem(asm.R7, offLen, asm.R1, asm.Half),
		asm.StoreMem(asm.R7, offBytes, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R9, asm.R1), // r9 from now: the IP packet length
		asm.LoadMem(asm.R0, asm.R10, hsHdr+12, asm.Word),
		asm.StoreMem(asm.R7, offSrc, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.R10, hsHdr+16, asm.Word),
		asm.StoreMem(asm.R7, offDst, asm.R0, asm.Word),
	)
	for _, off := range []int16{4, 8, 12, 20, 24, 28} {
		e.emit(asm.StoreImm(asm.R7, off, 0, asm.Word))
	}
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, hsHdr+9, asm.Byte),
		asm.StoreMem(asm.R7, offProto, asm.R0, asm.Byte),
		asm.LoadMem(asm.R0, asm.R10, hsHdr+8, asm.Byte),
		asm.StoreMem(asm.R7, offTTL, asm.R0, asm.Byte),
		asm.LoadMem(asm.R0, asm.R10, hsHdr+1, asm.Byte),
		asm.StoreMem(asm.R7, offTOS, asm.R0, asm.Byte),
		asm.LoadMem(asm.R0, asm.R10, hsHdr+6, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.And.Imm(asm.R0, 0x1fff),
		asm.StoreMem(asm.R7, offFragOff, asm.R0, asm.Half),
		asm.StoreImm(asm.R7, offFamily, 4, asm.Byte),
		// r8: offset of the layer 4 header in the packet
		asm.Add.Imm(asm.R8, int32(h.L2)),
		asm.Ja.Label(l4),
	)

	// IPv6
	e.mark(v6)
	load(int32(h.L2), hsHdr, 40, passLabel)
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, hsHdr+4, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.Add.Imm(asm.R1, 40),
		asm.JGT.Reg(asm.R1, asm.R9, passLabel),
		asm.StoreMem(asm.R7, offLen, asm.R1, asm.Half),
		asm.StoreMem(asm.R7, offBytes, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R9, asm.R1),
	)
	for i := int16(0); i < 32; i += 8 {
		e.emit(asm.LoadMem(asm.R0, asm.R10, hsHdr+8+i, asm.DWord), asm.StoreMem(asm.R7, offSrc+i, asm.R0, asm.DWord))
	}
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, hsHdr+7, asm.Byte),
		asm.StoreMem(asm.R7, offTTL, asm.R0, asm.Byte),
		asm.LoadMem(asm.R0, asm.R10, hsHdr, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.RSh.Imm(asm.R0, 4),
		asm.And.Imm(asm.R0, 0xff),
		asm.StoreMem(asm.R7, offTOS, asm.R0, asm.Byte),
		asm.StoreImm(asm.R7, offFamily, 6, asm.Byte),
		asm.StoreImm(asm.R7, offFragOff, 0, asm.Half),
		asm.Mov.Imm(asm.R8, int32(h.L2)+40), // r8: offset of the next header
		asm.LoadMem(asm.R0, asm.R10, hsHdr+6, asm.Byte),
		asm.StoreMem(asm.R7, offProto, asm.R0, asm.Byte), // the header at r8
	)
	// Extension headers: hop-by-hop, routing, destination options, AH
	// and fragment, at most eight of them.
	extDone := e.newLabel("extdone")
	if rare != "" {
		// Each header moves the offset the direct reads add to the
		// packet pointer, and the verifier would follow every sequence.
		e.emit(
			asm.LoadMem(asm.R0, asm.R7, offProto, asm.Byte),
			asm.JEq.Imm(asm.R0, 0, rare),
			asm.JEq.Imm(asm.R0, 43, rare),
			asm.JEq.Imm(asm.R0, 60, rare),
			asm.JEq.Imm(asm.R0, 51, rare),
			asm.JEq.Imm(asm.R0, 44, rare),
			asm.Ja.Label(l4),
		)
	}
	for i := 0; rare == "" && i < 8; i++ {
		gen := e.newLabel("extgen")
		ah := e.newLabel("extah")
		frag := e.newLabel("extfrag")
		next := e.newLabel("extnext")
		iter := e.newLabel("extiter")
		e.emit(
			asm.LoadMem(asm.R0, asm.R7, offProto, asm.Byte),
			asm.JEq.Imm(asm.R0, 0, gen),
			asm.JEq.Imm(asm.R0, 43, gen),
			asm.JEq.Imm(asm.R0, 60, gen),
			asm.JEq.Imm(asm.R0, 51, ah),
			asm.JEq.Imm(asm.R0, 44, frag),
			asm.Ja.Label(extDone),
		)
		// A header that does not fit stays the protocol, with the
		// bytes that are there.
		// the length byte counts 8-byte units after the first, in AH
		// 4-byte units after the first two
		for _, h := range []struct {
			at           string
			extra, shift int32
		}{{gen, 1, 3}, {ah, 2, 2}} {
			e.mark(h.at)
			loadAt(asm.R8, hsL4, 2, extDone)
			e.emit(
				asm.LoadMem(asm.R0, asm.R10, hsL4+1, asm.Byte),
				asm.Add.Imm(asm.R0, h.extra),
				asm.LSh.Imm(asm.R0, h.shift),
				asm.Ja.Label(next),
			)
		}
		e.mark(frag)
		loadAt(asm.R8, hsL4, 4, extDone)
		e.emit(
			asm.LoadMem(asm.R1, asm.R10, hsL4+2, asm.Half),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.RSh.Imm(asm.R1, 3),
			asm.StoreMem(asm.R7, offFragOff, asm.R1, asm.Half),
			asm.Mov.Imm(asm.R0, 8),
		)
		e.mark(next)
		e.emit(
			asm.Add.Reg(asm.R8, asm.R0),
			asm.LoadMem(asm.R0, asm.R10, hsL4, asm.Byte),
			asm.StoreMem(asm.R7, offProto, asm.R0, asm.Byte),
			// after a later fragment's header come no more headers
			asm.LoadMem(asm.R1, asm.R7, offFragOff, asm.Half),
			asm.JNE.Imm(asm.R1, 0, extDone),
			asm.Ja.Label(iter),
		)
		e.mark(iter)
	}
	e.mark(extDone)
	e.emit(asm.Ja.Label(l4))

	// Layer 4: r8 its offset, r9 the IP packet length.
	e.mark(l4)
	noL4 := e.newLabel("nol4")
	haveAvail := e.newLabel("avail")
	e.emit(
		asm.StoreMem(asm.R7, offL4Off, asm.R8, asm.Half),
		asm.StoreImm(asm.R7, offSport, 0, asm.Half),
		asm.StoreImm(asm.R7, offDport, 0, asm.Half),
		asm.StoreImm(asm.R7, offICMP, 0, asm.Half),
		asm.StoreImm(asm.R7, offTCPFlags, 0, asm.Byte),
		asm.LoadMem(asm.R0, asm.R7, offFragOff, asm.Half),
		asm.JNE.Imm(asm.R0, 0, noL4),
		// available: IP length + link layer - offset, at least zero
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.Add.Imm(asm.R1, int32(h.L2)),
		asm.JLE.Reg(asm.R1, asm.R8, noL4),
		asm.Sub.Reg(asm.R1, asm.R8),
		asm.Ja.Label(haveAvail),
	)
	e.mark(noL4)
	e.emit(asm.Mov.Imm(asm.R1, 0))
	e.mark(haveAvail)
	e.emit(
		asm.StoreMem(asm.R7, offL4Avail, asm.R1, asm.Half),
		asm.StoreMem(asm.R10, hsSaved, asm.R1, asm.DWord),
	)
	l4done := e.newLabel("l4done")
	two := e.newLabel("l4two")
	four := e.newLabel("l4four")
	e.emit(
		asm.JLT.Imm(asm.R1, 2, l4done),
		asm.JLT.Imm(asm.R1, 4, two),
		asm.JLT.Imm(asm.R1, 14, four),
	)
	ports := e.newLabel("l4ports")
	loadAt(asm.R8, hsL4, 14, l4done)
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offProto, asm.Byte),
		asm.JNE.Imm(asm.R0, 6, ports),
		asm.LoadMem(asm.R0, asm.R10, hsL4+13, asm.Byte),
		asm.StoreMem(asm.R7, offTCPFlags, asm.R0, asm.Byte),
		asm.Ja.Label(ports),
	)
	e.mark(two)
	loadAt(asm.R8, hsL4, 2, l4done)
	icmp := e.newLabel("icmp")
	e.emit(asm.Ja.Label(icmp))
	e.mark(four)
	// ports: the first 4 bytes (already there after the 14 above)
	loadAt(asm.R8, hsL4, 4, l4done)
	e.mark(ports)
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, hsL4, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.StoreMem(asm.R7, offSport, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.R10, hsL4+2, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.StoreMem(asm.R7, offDport, asm.R0, asm.Half),
	)
	e.mark(icmp)
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, hsL4, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.StoreMem(asm.R7, offICMP, asm.R0, asm.Half),
	)
	e.mark(l4done)

	// Metadata: mark, packet type, source MAC.
	if k == XDP {
		e.emit(asm.StoreImm(asm.R7, offMark, 0, asm.Word))
		xdpPktType(e, h.L2, read)
	} else {
		e.emit(
			asm.LoadMem(asm.R0, asm.R6, skbMark, asm.Word),
			asm.StoreMem(asm.R7, offMark, asm.R0, asm.Word),
			asm.LoadMem(asm.R0, asm.R6, skbPktType, asm.Word),
			asm.StoreMem(asm.R7, offPktType, asm.R0, asm.Byte),
		)
		// A looped-back packet counts as multicast (IPv6, or an IPv4
		// multicast destination) or broadcast, as the pkttype match has it.
		done := e.newLabel("pktt")
		mc := e.newLabel("mc")
		e.emit(
			asm.JNE.Imm(asm.R0, 5, done),
			asm.LoadMem(asm.R0, asm.R7, offFamily, asm.Byte),
			asm.JEq.Imm(asm.R0, 6, mc),
			asm.LoadMem(asm.R0, asm.R7, offDst, asm.Byte),
			asm.And.Imm(asm.R0, 0xf0),
			asm.JEq.Imm(asm.R0, 0xe0, mc),
			asm.StoreImm(asm.R7, offPktType, 1, asm.Byte),
			asm.Ja.Label(done),
		)
		e.mark(mc)
		e.emit(asm.StoreImm(asm.R7, offPktType, 2, asm.Byte))
		e.mark(done)
	}
	if h.L2 >= 14 {
		nomac := e.newLabel("nomac")
		load(6, hsL4, 6, nomac)
		e.emit(
			asm.LoadMem(asm.R0, asm.R10, hsL4, asm.Word),
			asm.StoreMem(asm.R7, offSrcMAC, asm.R0, asm.Word),
			asm.LoadMem(asm.R0, asm.R10, hsL4+4, asm.Half),
			asm.StoreMem(asm.R7, offSrcMAC+4, asm.R0, asm.Half),
			asm.StoreImm(asm.R7, offHasMAC, 1, asm.Byte),
		)
		macDone := e.newLabel("macdone")
		e.emit(asm.Ja.Label(macDone))
		e.mark(nomac)
		e.emit(
			asm.StoreImm(asm.R7, offSrcMAC, 0, asm.Word),
			asm.StoreImm(asm.R7, offSrcMAC+4, 0, asm.Half),
			asm.StoreImm(asm.R7, offHasMAC, 0, asm.Byte),
		)
		e.mark(macDone)
	} else {
		e.emit(
			asm.StoreImm(asm.R7, offSrcMAC, 0, asm.Word),
			asm.StoreImm(asm.R7, offSrcMAC+4, 0, asm.Half),
			asm.StoreImm(asm.R7, offHasMAC, 0, asm.Byte),
		)
	}

}

// loadBytes is the reader through the helper, bpf_skb_load_bytes or
// bpf_xdp_load_bytes, which reaches every byte of the packet and fails
// only past its end (then it jumps to fail). A call costs 10-15 ns.
func loadBytes(e *emitter, k Kind, dst int16, n int32, fail string) {
	e.emit(
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, int32(dst)),
		asm.Mov.Imm(asm.R4, n),
	)
	if k == XDP {
		e.emit(asm.FnXdpLoadBytes.Call())
	} else {
		e.emit(asm.FnSkbLoadBytes.Call())
	}
	e.emit(asm.JNE.Imm(asm.R0, 0, fail))
}

// directReader reads the linear part of the packet directly
// (skb->data/data_end, xdp_md at XDP) and jumps to slow for bytes past it
// (a paged skb, an XDP frame with fragments) or past the packet's end.
func directReader(slow string) reader {
	return func(e *emitter, k Kind, dst int16, n int32, _ string) {
		data, dataEnd := int16(skbData), int16(skbDataEnd)
		if k == XDP {
			data, dataEnd = xdpData, xdpDataEnd
		}
		e.emit(
			asm.LoadMem(asm.R3, asm.R1, data, asm.Word),
			asm.LoadMem(asm.R4, asm.R1, dataEnd, asm.Word),
			asm.Add.Reg(asm.R3, asm.R2),
			asm.Mov.Reg(asm.R5, asm.R3),
			asm.Add.Imm(asm.R5, n),
			asm.JGT.Reg(asm.R5, asm.R4, slow),
		)
		for i := int32(0); i < n; {
			size, w := asm.DWord, int32(8)
			switch {
			case n-i >= 8:
			case n-i >= 4:
				size, w = asm.Word, 4
			case n-i >= 2:
				size, w = asm.Half, 2
			default:
				size, w = asm.Byte, 1
			}
			e.emit(
				asm.LoadMem(asm.R0, asm.R3, int16(i), size),
				asm.StoreMem(asm.R10, dst+int16(i), asm.R0, size),
			)
			i += w
		}
	}
}

// xdpPktType classifies an XDP frame by its destination MAC: broadcast,
// multicast, else to this host (XDP cannot tell "other host" apart).
func xdpPktType(e *emitter, l2 int, read reader) {
	if l2 < 14 {
		e.emit(asm.StoreImm(asm.R7, offPktType, 0, asm.Byte))
		return
	}
	done := e.newLabel("xpt")
	host := e.newLabel("xhost")
	bcast := e.newLabel("xbc")
	mcheck := e.newLabel("xmcheck")
	mc := e.newLabel("xmc")
	e.emit(asm.Mov.Reg(asm.R1, asm.R6), asm.Mov.Imm(asm.R2, 0))
	read(e, XDP, hsL4, 6, host)
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, hsL4, asm.Word),
		asm.JNE.Imm32(asm.R0, -1, mcheck),
		asm.LoadMem(asm.R0, asm.R10, hsL4+4, asm.Half),
		asm.JEq.Imm32(asm.R0, 0xffff, bcast),
	)
	e.mark(mcheck)
	e.emit(
		asm.LoadMem(asm.R0, asm.R10, hsL4, asm.Byte),
		asm.And.Imm(asm.R0, 1),
		asm.JNE.Imm(asm.R0, 0, mc),
	)
	e.mark(host)
	e.emit(asm.StoreImm(asm.R7, offPktType, 0, asm.Byte), asm.Ja.Label(done))
	e.mark(bcast)
	e.emit(asm.StoreImm(asm.R7, offPktType, 1, asm.Byte), asm.Ja.Label(done))
	e.mark(mc)
	e.emit(asm.StoreImm(asm.R7, offPktType, 2, asm.Byte))
	e.mark(done)
}

// fibCall calls bpf_fib_lookup with the struct bpf_fib_lookup built at
// the stack slot; r6 is the context, r0 the answer.
func fibCall(e *emitter, params int16, flags int32) {
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, int32(params)),
		asm.Mov.Imm(asm.R3, fibSize),
		asm.Mov.Imm(asm.R4, flags),
		asm.FnFibLookup.Call(),
	)
}

// fibLookup decides INPUT or FORWARD by the kernel's route lookup and
// jumps to judge; other answers (blackhole, unreachable) leave the packet
// to the kernel. The lookup is given no length, so it checks no MTU: the
// kernel judges a forwarded packet in FORWARD whatever its size and
// fragments it after, and a packet a NIC's GRO aggregated is longer than
// any route's MTU. (With the length, FRAG_NEEDED passed such packets
// unjudged; without it, tc's lookup still answers FRAG_NEEDED for an skb
// longer than the output device's MTU, having found the route: FORWARD.)
func fibLookup(e *emitter, k Kind, pass, judge string) {
	// (a store of an immediate cannot be 64 bits wide: use a register)
	e.emit(asm.Mov.Imm(asm.R0, 0))
	for i := int16(0); i < fibSize; i += 8 {
		e.emit(asm.StoreMem(asm.R10, hsFib+i, asm.R0, asm.DWord))
	}
	v6 := e.newLabel("fib6")
	call := e.newLabel("fibcall")
	e.emit(
		asm.LoadMem(asm.R0, asm.R7, offProto, asm.Byte),
		asm.StoreMem(asm.R10, hsFib+fibProto, asm.R0, asm.Byte),
		asm.LoadMem(asm.R0, asm.R7, offSport, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.StoreMem(asm.R10, hsFib+fibSport, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.R7, offDport, asm.Half),
		asm.HostTo(asm.BE, asm.R0, asm.Half),
		asm.StoreMem(asm.R10, hsFib+fibDport, asm.R0, asm.Half),
		asm.LoadMem(asm.R0, asm.R7, offMark, asm.Word),
		asm.StoreMem(asm.R10, hsFib+fibMark, asm.R0, asm.Word),
	)
	if k == XDP {
		e.emit(asm.LoadMem(asm.R0, asm.R6, xdpIngressIfindex, asm.Word))
	} else {
		e.emit(asm.LoadMem(asm.R0, asm.R6, skbIfindex, asm.Word))
	}
	e.emit(
		asm.StoreMem(asm.R10, hsFib+fibIfindex, asm.R0, asm.Word),
		asm.StoreMem(asm.R7, offInIfidx, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.R7, offFamily, asm.Byte),
		asm.JEq.Imm(asm.R0, 6, v6),
		asm.StoreImm(asm.R10, hsFib+fibFamily, 2, asm.Byte), // AF_INET
		asm.LoadMem(asm.R0, asm.R7, offTOS, asm.Byte),
		asm.StoreMem(asm.R10, hsFib+fibTOS, asm.R0, asm.Byte),
		asm.LoadMem(asm.R0, asm.R7, offSrc, asm.Word),
		asm.StoreMem(asm.R10, hsFib+fibSrc, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.R7, offDst, asm.Word),
		asm.StoreMem(asm.R10, hsFib+fibDst, asm.R0, asm.Word),
		asm.Ja.Label(call),
	)
	e.mark(v6)
	e.emit(asm.StoreImm(asm.R10, hsFib+fibFamily, 10, asm.Byte)) // AF_INET6
	for i := int16(0); i < 16; i += 8 {
		e.emit(
			asm.LoadMem(asm.R0, asm.R7, offSrc+i, asm.DWord),
			asm.StoreMem(asm.R10, hsFib+fibSrc+i, asm.R0, asm.DWord),
			asm.LoadMem(asm.R0, asm.R7, offDst+i, asm.DWord),
			asm.StoreMem(asm.R10, hsFib+fibDst+i, asm.R0, asm.DWord),
		)
	}
	e.mark(call)
	fwd, input := e.newLabel("fwd"), e.newLabel("input")
	fibCall(e, hsFib, fibSkipNeigh|fibMarkFlag)
	e.emit(
		asm.JEq.Imm(asm.R0, fibSuccess, fwd),
		asm.JEq.Imm(asm.R0, fibNoNeigh, fwd),
		asm.JEq.Imm(asm.R0, fibFragNeeded, fwd),
		asm.JEq.Imm(asm.R0, fibFwdDisabled, input),
		asm.JNE.Imm(asm.R0, fibNotFwded, pass),
	)
	e.mark(input)
	e.emit(
		asm.StoreImm(asm.R7, offHook, 2, asm.Byte), // INPUT
		asm.StoreImm(asm.R7, offOutIfidx, 0, asm.Word),
		asm.Ja.Label(judge),
	)
	e.mark(fwd)
	e.emit(
		// The kernel drops a packet it would forward with a TTL or hop
		// limit of 1 or 0 before FORWARD, and FORWARD sees the others
		// with it already decremented.
		asm.LoadMem(asm.R0, asm.R7, offTTL, asm.Byte),
		asm.JLE.Imm(asm.R0, 1, pass),
		asm.Sub.Imm(asm.R0, 1),
		asm.StoreMem(asm.R7, offTTL, asm.R0, asm.Byte),
		asm.StoreImm(asm.R7, offHook, 3, asm.Byte), // FORWARD
		asm.LoadMem(asm.R0, asm.R10, hsFib+fibIfindex, asm.Word),
		asm.StoreMem(asm.R7, offOutIfidx, asm.R0, asm.Word),
		asm.Ja.Label(judge),
	)
}
