package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// Maps of the LOG and NFLOG targets. The ring buffer, its drop counters
// and the rate limiter are the datapath's (they outlive generations, so
// events survive a restore and the reader keeps its ring); the rules'
// event templates are the generation's.
const (
	MapLogRing  = "log_ring"  // ring buffer of events (LogEvent)
	MapLogDrops = "log_drops" // per-CPU u64s: LogDropFull, LogDropRate
	MapLogRate  = "log_rate"  // the token bucket: one logRate
	mapLogCfg   = "log_cfg"   // per LOG rule: its event header template
)

// Slots of the drop counters.
const (
	LogDropFull = 0 // the ring buffer was full
	LogDropRate = 1 // over the rate limit
)

// DefaultLogBufferSize is the ring buffer's size: 1 MiB, some 2,900
// events kept until a reader takes them.
const DefaultLogBufferSize = 1 << 20

// DefaultLogRate is the most events per second the datapath writes.
const DefaultLogRate = 10000

// The event: a fixed header, the rule's prefix, then the first bytes of
// the packet from its link-layer header on. Numbers in host order.
const (
	evKind    = 0  // u8: plan.LogKind
	evLevel   = 1  // u8
	evFlags   = 2  // u8: LOG flags; NFLOG: evHasSize
	evFamily  = 3  // u8: 4 or 6
	evHook    = 4  // u8: plan hook + 1
	evHasMAC  = 5  // u8: 1 when the capture starts with a 14-byte Ethernet header
	evGroup   = 6  // u16
	evIn      = 8  // u32: input ifindex
	evOut     = 12 // u32: output ifindex
	evLen     = 16 // u32: the packet's length from its link-layer header
	evCapLen  = 20 // u32: the bytes captured
	evMark    = 24 // u32
	evSize    = 28 // u32: --nflog-size
	evPrefix  = 32 // [plan.LogPrefixSize]byte, NUL-padded
	evData    = evPrefix + plan.LogPrefixSize
	evHasSize = 0x80 // evFlags of an NFLOG rule with --nflog-size

	// LogCapture is how many bytes of a packet an event holds: the
	// Ethernet header, the largest IP and TCP headers, or an ICMP
	// error's quoted headers.
	LogCapture = 256
	logEvent   = evData + LogCapture
)

// logRate is the token bucket as a virtual clock (GCRA): an event at
// time now passes while next <= now + tolerance, and moves next on by
// interval. Updates from CPUs racing may let a few more through.
//
//	next      u64 ns
//	interval  u64 ns per event (0: no limit)
//	tolerance u64 ns: (burst - 1) * interval
const logRateSize = 24

// LogRingSpec is the ring buffer map of a datapath; size is rounded up
// to a power of two pages (0: DefaultLogBufferSize).
func LogRingSpec(size int) *ebpf.MapSpec {
	if size <= 0 {
		size = DefaultLogBufferSize
	}
	n := 4096
	for n < size {
		n <<= 1
	}
	return &ebpf.MapSpec{Name: MapLogRing, Type: ebpf.RingBuf, MaxEntries: uint32(n)}
}

// LogDropsSpec is the map of the per-CPU drop counters.
func LogDropsSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: MapLogDrops, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 2}
}

// LogRateSpec is the map of the rate limiter.
func LogRateSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: MapLogRate, Type: ebpf.Array, KeySize: 4, ValueSize: logRateSize, MaxEntries: 1}
}

// SetLogRate sets the rate limiter of a datapath's LOG and NFLOG events:
// perSecond events a second (0: no limit), in bursts of up to perSecond.
func SetLogRate(m *ebpf.Map, perSecond int) error {
	v := make([]byte, logRateSize)
	if err := m.Lookup(uint32(0), v); err != nil {
		return fmt.Errorf("reading the log rate: %w", err)
	}
	var interval, tolerance uint64
	if perSecond > 0 {
		interval = uint64(1e9 / perSecond)
		tolerance = uint64(perSecond-1) * interval
	}
	binary.NativeEndian.PutUint64(v[8:], interval)
	binary.NativeEndian.PutUint64(v[16:], tolerance)
	return m.Put(uint32(0), v)
}

// LogDrops returns the events dropped, summed over the CPUs: because the
// ring buffer was full, and because of the rate limit.
func LogDrops(m *ebpf.Map) (full, rate uint64, err error) {
	var per []uint64
	for slot, dst := range []*uint64{&full, &rate} {
		if err := m.Lookup(uint32(slot), &per); err != nil {
			return 0, 0, fmt.Errorf("reading the log drop counters: %w", err)
		}
		for _, n := range per {
			*dst += n
		}
	}
	return full, rate, nil
}

// logTemplate is the header and prefix of a rule's events.
func logTemplate(s plan.LogSpec) []byte {
	b := make([]byte, evData)
	b[evKind], b[evLevel], b[evFlags] = byte(s.Kind), s.Level, s.Flags
	if s.Kind == plan.LogNFLOG && s.HasSize {
		b[evFlags] |= evHasSize
	}
	binary.NativeEndian.PutUint16(b[evGroup:], s.Group)
	binary.NativeEndian.PutUint32(b[evSize:], s.Size)
	copy(b[evPrefix:evData], s.Prefix)
	return b
}

// logMaps adds the log maps to a generation whose plan logs.
func (g *gen) logMaps() {
	if len(g.p.Logs) == 0 {
		return
	}
	g.log = true
	g.spec.Maps[MapLogRing] = LogRingSpec(0)
	g.spec.Maps[MapLogDrops] = LogDropsSpec()
	g.spec.Maps[MapLogRate] = LogRateSpec()
	cfg := &ebpf.MapSpec{Name: mapLogCfg, Type: ebpf.Array, KeySize: 4, ValueSize: evData, MaxEntries: uint32(len(g.p.Logs))}
	for i, s := range g.p.Logs {
		cfg.Contents = append(cfg.Contents, ebpf.MapKV{Key: uint32(i), Value: logTemplate(s)})
	}
	g.spec.Maps[mapLogCfg] = cfg
}

// logFunc names the function that logs a packet: (context, packet
// context, index of the rule's LogSpec).
const logFunc = "log"

// logCall emits the call of the log function for a rule; r6 is the
// context, r7 the packet context. It clobbers r0-r5.
func logCall(e *emitter, log int) {
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Mov.Imm(asm.R3, int32(log)),
		asm.Call.Label(logFunc),
	)
}

// Stack slots of the log function.
const (
	logStackCfg  = -4
	logStackSlot = -8
)

// logFunction emits the log function: it takes a token from the rate
// limiter, reserves an event in the ring buffer, fills it from the rule's
// template, the packet context and the packet's first bytes, and submits
// it; a packet over the rate or finding the ring full only counts a drop.
func logFunction(e *emitter, k Kind) {
	e.function(logFunc, k, paramCtx, paramPkt, paramSlot)
	ok := e.newLabel("logpkt")
	e.emit(asm.JNE.Imm(asm.R2, 0, ok))
	e.ret(0)
	e.mark(ok)
	e.emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Reg(asm.R7, asm.R2),
		asm.StoreMem(asm.R10, logStackCfg, asm.R3, asm.Word),
	)
	lookupOrReturn(e, mapLogCfg, logStackCfg, 0)
	e.emit(asm.Mov.Reg(asm.R9, asm.R0))

	// the rate limiter
	limited, full := e.newLabel("lograte"), e.newLabel("logfull")
	e.emit(asm.StoreImm(asm.R10, logStackSlot, 0, asm.Word))
	lookupOrReturn(e, MapLogRate, logStackSlot, 0)
	keep := e.newLabel("logkeep")
	e.emit(
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.LoadMem(asm.R1, asm.R8, 0, asm.DWord),
		asm.LoadMem(asm.R3, asm.R8, 16, asm.DWord),
		asm.Add.Reg(asm.R3, asm.R2),
		asm.JGT.Reg(asm.R1, asm.R3, limited),
		asm.JGE.Reg(asm.R1, asm.R2, keep),
		asm.Mov.Reg(asm.R1, asm.R2),
	)
	e.mark(keep)
	e.emit(
		asm.LoadMem(asm.R4, asm.R8, 8, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R4),
		asm.StoreMem(asm.R8, 0, asm.R1, asm.DWord),
	)

	// the packet's length, before the event: the helper clobbers r1-r5
	if k == XDP {
		e.emit(asm.Mov.Reg(asm.R1, asm.R6), asm.FnXdpGetBuffLen.Call(), asm.Mov.Reg(asm.R5, asm.R0))
	} else {
		e.emit(asm.LoadMem(asm.R5, asm.R6, 0, asm.Word)) // skb->len
	}
	e.emit(asm.StoreMem(asm.R10, logStackSlot, asm.R5, asm.Word))

	e.emit(
		asm.LoadMapPtr(asm.R1, 0).WithReference(MapLogRing),
		asm.Mov.Imm(asm.R2, logEvent),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, full),
		asm.Mov.Reg(asm.R8, asm.R0),
	)
	for off := int16(0); off < evData; off += 8 {
		e.emit(asm.LoadMem(asm.R1, asm.R9, off, asm.DWord), asm.StoreMem(asm.R8, off, asm.R1, asm.DWord))
	}
	for _, f := range []struct {
		from, to int16
		size     asm.Size
	}{
		{offFamily, evFamily, asm.Byte}, {offHook, evHook, asm.Byte}, {offHasMAC, evHasMAC, asm.Byte},
		{offInIfidx, evIn, asm.Word}, {offOutIfidx, evOut, asm.Word}, {offMark, evMark, asm.Word},
	} {
		e.emit(asm.LoadMem(asm.R1, asm.R7, f.from, f.size), asm.StoreMem(asm.R8, f.to, asm.R1, f.size))
	}
	submit, capped := e.newLabel("logsubmit"), e.newLabel("logcap")
	e.emit(
		asm.LoadMem(asm.R4, asm.R10, logStackSlot, asm.Word),
		asm.StoreMem(asm.R8, evLen, asm.R4, asm.Word),
		asm.JLE.Imm(asm.R4, LogCapture, capped),
		asm.Mov.Imm(asm.R4, LogCapture),
	)
	e.mark(capped)
	e.emit(
		asm.StoreMem(asm.R8, evCapLen, asm.R4, asm.Word),
		asm.JLT.Imm(asm.R4, 1, submit),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Add.Imm(asm.R3, evData),
	)
	if k == XDP {
		e.emit(asm.FnXdpLoadBytes.Call())
	} else {
		e.emit(asm.FnSkbLoadBytes.Call())
	}
	e.emit(
		asm.JEq.Imm(asm.R0, 0, submit),
		asm.StoreImm(asm.R8, evCapLen, 0, asm.Word),
	)
	e.mark(submit)
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
	)
	e.ret(0)

	for _, d := range []struct {
		label string
		slot  int64
	}{{limited, LogDropRate}, {full, LogDropFull}} {
		e.mark(d.label)
		e.emit(asm.StoreImm(asm.R10, logStackSlot, d.slot, asm.Word))
		lookupOrReturn(e, MapLogDrops, logStackSlot, 0)
		e.emit(
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		)
		e.ret(0)
	}
}

// LogEvent is one event read from the ring buffer.
type LogEvent struct {
	Spec    plan.LogSpec
	Family  translator.Family
	Hook    translator.Hook // zero when the event names none
	In, Out uint32          // interface indexes
	Mark    uint32
	Len     int    // the packet's length from its link-layer header
	MAC     []byte // the Ethernet header, nil if the capture has none
	Data    []byte // the packet's first bytes from its IP header
}

// ErrShortEvent is returned for a record too short to be an event.
var ErrShortEvent = errors.New("log event too short")

// DecodeLogEvent decodes an event; the result's slices point into b.
func DecodeLogEvent(b []byte) (*LogEvent, error) {
	if len(b) < evData {
		return nil, ErrShortEvent
	}
	ne := binary.NativeEndian
	ev := &LogEvent{
		Spec: plan.LogSpec{Kind: plan.LogKind(b[evKind]), Level: b[evLevel], Flags: b[evFlags],
			Group: ne.Uint16(b[evGroup:]), Size: ne.Uint32(b[evSize:])},
		In: ne.Uint32(b[evIn:]), Out: ne.Uint32(b[evOut:]), Mark: ne.Uint32(b[evMark:]),
		Len: int(ne.Uint32(b[evLen:])),
	}
	if ev.Spec.Kind == plan.LogNFLOG {
		ev.Spec.HasSize = ev.Spec.Flags&evHasSize != 0
		ev.Spec.Flags = 0
	}
	prefix := b[evPrefix:evData]
	for i, c := range prefix {
		if c == 0 {
			prefix = prefix[:i]
			break
		}
	}
	ev.Spec.Prefix = string(prefix)
	ev.Family = translator.IPv4
	if b[evFamily] == 6 {
		ev.Family = translator.IPv6
	}
	if h := int(b[evHook]); h > 0 {
		ev.Hook = translator.Hook(h - 1)
	}
	n := min(int(ne.Uint32(b[evCapLen:])), len(b)-evData)
	data := b[evData : evData+n]
	if b[evHasMAC] != 0 && len(data) >= 14 {
		ev.MAC, data = data[:14], data[14:]
	}
	ev.Data = data
	return ev, nil
}
