package bpf

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sort"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpftables/bpftables/translator/plan"
)

// Maps of bit-vector segments, shared by the generation's segments.
const (
	// mapBVLPM: (table, address) -> the address key's class (a u32); no
	// entry is class 0.
	mapBVLPM = "bv_lpm"
	// mapBVNum: class tables of numeric fields with many classes, four
	// u16 classes per u64 entry (value v at entry base+v/4, bits
	// 16*(v%4)).
	mapBVNum = "bv_num"
	// mapBVTrans: for segments of several chunks, per key and class, the
	// row of each chunk's bitmaps (a u32 per chunk).
	mapBVTrans = "bv_trans"
	// mapBVRules: per rule of each segment, its ruleValue.
	mapBVRules = "bv_rules"
)

// bvMap names the bitmap map whose values have w words.
func bvMap(w int) string { return fmt.Sprintf("bv_w%d", w) }

// bvMaxBytes bounds the bitmaps of a generation: past it Generate refuses
// the ruleset with an error that says so, before anything loads.
const bvMaxBytes = 1 << 30

// bvTreeMax is the most classes a numeric field's class is computed for
// from its bounds; fields with more use a table in bv_num.
const bvTreeMax = 8

// Return values of a bit-vector scan function besides a rule position.
const (
	bvNone = -1 // no rule from the start position on
	bvHot  = -2 // a hot drop comes first
)

// bvSeg is where a bit-vector segment's data lives in the maps.
type bvSeg struct {
	id       int // scan function bv<id>
	ruleBase uint32
	// per key: the address key's LPM table, the numeric key's per field
	// bv_num base (-1: compare code), the bv_trans base (several chunks)
	lpmTable  []uint32
	numBase   [][]int
	transBase []uint32
	// per chunk: its bitmap map's words, and per key the first rows
	words               []int
	mBase, pBase        [][]uint32
	fireBase            []uint32
	multi               bool
	hotMask             uint64 // hot classes that may hot-drop (<= 64 of them)
	hotAll              bool   // more than 64 hot classes: always take the hot path
	ownSlot             []int  // per key, its index among PreOwn keys, -1
	nOwn                int
	targets             []int // jump and goto targets, in order
	present             map[plan.ActionKind]bool
	goOn                int
	hasHot              bool
	keys                []*plan.BVKey
	chunks              []*plan.BVChunk
	stackCls, stackPtr  int16
	stackFire, stackOwn int16
	stackLPM            int16
}

// bvState is what a generation knows of its bit-vector segments.
type bvState struct {
	segs    map[*plan.Segment]*bvSeg
	pending []*plan.Segment // scan functions the current chain needs
}

// bitvecMaps lays out the bit-vector segments' data in their maps and
// fills them.
func (g *gen) bitvecMaps() error {
	g.bv = &bvState{segs: map[*plan.Segment]*bvSeg{}}
	fam := g.p.Family
	addrLen := fam.Bits() / 8
	var lpm, num, trans, rules Batch
	bitmaps := map[int]*Batch{}
	rowsIn := map[int]uint32{}
	maxChunks := 0
	var tables, numEntries uint32
	total := 0
	for _, c := range g.p.Chains {
		for si, s := range c.Segments {
			if s.Kind != plan.BitVector {
				continue
			}
			bv := s.BV
			total += bv.Bytes()
			if total > bvMaxBytes {
				return fmt.Errorf("chain %s segment %d: the bit-vector bitmaps of the ruleset take more than %d MiB: split the rules over chains", c.Name, si+1, bvMaxBytes>>20)
			}
			bs := &bvSeg{id: len(g.bv.segs) + 1, ruleBase: uint32(rules.Count), multi: len(bv.Chunks) > 1, goOn: bv.GoOn, hasHot: bv.Hot >= 0, keys: bv.Keys, chunks: bv.Chunks, present: map[plan.ActionKind]bool{}}
			g.bv.segs[s] = bs
			seenTarget := map[int]bool{}
			for _, r := range s.Rules {
				v := ruleValue{Rule: uint32(r.ID), Kind: uint32(r.Kind)}
				if r.Kind == plan.ActJump || r.Kind == plan.ActGoto {
					v.Target = uint32(r.Target)
					if !seenTarget[r.Target] {
						seenTarget[r.Target] = true
						bs.targets = append(bs.targets, r.Target)
					}
				}
				bs.present[r.Kind] = true
				rules.add(u32(uint32(rules.Count)), v.bytes())
			}
			if len(bv.Chunks) > 1 {
				maxChunks = max(maxChunks, len(bv.Chunks))
			}
			if bv.Hot >= 0 {
				for h, f := range bv.HotFire {
					if f && h < 64 {
						bs.hotMask |= 1 << h
					}
				}
				bs.hotAll = len(bv.HotFire) > 64
			}
			bs.ownSlot = make([]int, len(bv.Keys))
			for ki, k := range bv.Keys {
				bs.ownSlot[ki] = -1
				if k.Pre == plan.PreOwn && ki != bv.Hot {
					bs.ownSlot[ki] = bs.nOwn
					bs.nOwn++
				}
				if k.IsAddr() {
					tables++
					bs.lpmTable = append(bs.lpmTable, tables)
					bs.numBase = append(bs.numBase, nil)
					for i, p := range k.Prefixes {
						key := make([]byte, 8, 8+addrLen)
						binary.NativeEndian.PutUint32(key, uint32(32+p.Len))
						binary.BigEndian.PutUint32(key[4:], tables)
						key = append(key, p.Addr...)
						lpm.add(key, u32(uint32(i+1)))
					}
					continue
				}
				bs.lpmTable = append(bs.lpmTable, 0)
				var bases []int
				for i, f := range k.Fields {
					b := k.Bounds[i]
					if len(b) <= bvTreeMax {
						bases = append(bases, -1)
						continue
					}
					bases = append(bases, int(numEntries))
					size := 1 << (8 * fieldSize(f, fam))
					for e := 0; e < size/4; e++ {
						var v uint64
						for j := 0; j < 4; j++ {
							v |= uint64(classOfBounds(b, uint32(4*e+j))) << (16 * j)
						}
						num.add(u32(numEntries), binary.NativeEndian.AppendUint64(nil, v))
						numEntries++
					}
				}
				bs.numBase = append(bs.numBase, bases)
			}
			for _, ch := range bv.Chunks {
				w := 1 << bits.Len(uint(ch.Words-1))
				bs.words = append(bs.words, w)
				if bitmaps[w] == nil {
					bitmaps[w] = &Batch{}
				}
				if b := bitmaps[w]; cap(b.Values) == 0 {
					// room for the rows of this and like chunks at once:
					// growing megabytes by appending copies them again
					rows := 0
					for _, c2 := range bv.Chunks {
						if 1<<bits.Len(uint(c2.Words-1)) == w {
							rows += c2.Bytes() / (8 * c2.Words)
						}
					}
					b.Keys = make([]byte, 0, 4*rows)
					b.Values = make([]byte, 0, 8*w*rows)
				}
				b := bitmaps[w]
				put := func(t plan.BVTable) uint32 {
					base := rowsIn[w]
					for r := 0; r < t.Rows(); r++ {
						b.Keys = binary.NativeEndian.AppendUint32(b.Keys, rowsIn[w])
						b.Values = append(b.Values, nativeBytes(t.Row(r))...)
						b.Values = append(b.Values, make([]byte, 8*(w-t.Words))...)
						b.Count++
						rowsIn[w]++
					}
					return base
				}
				var mb, pb []uint32
				for ki := range bv.Keys {
					mb = append(mb, put(ch.Match[ki]))
					if bs.ownSlot[ki] >= 0 {
						pb = append(pb, put(ch.Pre[ki]))
					} else {
						pb = append(pb, 0)
					}
				}
				bs.mBase = append(bs.mBase, mb)
				bs.pBase = append(bs.pBase, pb)
				fb := uint32(0)
				if bv.Hot >= 0 {
					fb = put(ch.Fire)
				}
				bs.fireBase = append(bs.fireBase, fb)
			}
		}
	}
	if len(g.bv.segs) == 0 {
		return nil
	}
	// translation rows of segments of several chunks
	var segs []*plan.Segment
	for s := range g.bv.segs {
		segs = append(segs, s)
	}
	sort.Slice(segs, func(i, j int) bool { return g.bv.segs[segs[i]].id < g.bv.segs[segs[j]].id })
	for _, s := range segs {
		bs := g.bv.segs[s]
		bs.transBase = make([]uint32, len(bs.keys))
		if !bs.multi {
			continue
		}
		for ki, k := range bs.keys {
			bs.transBase[ki] = uint32(trans.Count)
			for cl := 0; cl < k.Classes; cl++ {
				trans.Keys = binary.NativeEndian.AppendUint32(trans.Keys, uint32(trans.Count))
				for ci, ch := range bs.chunks {
					l := uint32(cl)
					if ch.Local[ki] != nil {
						l = ch.Local[ki][cl]
					}
					trans.Values = binary.NativeEndian.AppendUint32(trans.Values, bs.mBase[ci][ki]+l)
				}
				trans.Values = append(trans.Values, make([]byte, 4*(maxChunks-len(bs.chunks)))...)
				trans.Count++
			}
		}
	}
	// one batch, where Contents would cost a system call per prefix
	g.spec.Maps[mapBVLPM] = &ebpf.MapSpec{Name: mapBVLPM, Type: ebpf.LPMTrie, Flags: 1 /* BPF_F_NO_PREALLOC */, KeySize: uint32(8 + addrLen), ValueSize: 4, MaxEntries: uint32(max(1, lpm.Count))}
	g.fill[mapBVLPM] = lpm
	g.spec.Maps[mapBVNum] = &ebpf.MapSpec{Name: mapBVNum, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(max(1, num.Count))}
	g.spec.Maps[mapBVTrans] = &ebpf.MapSpec{Name: mapBVTrans, Type: ebpf.Array, KeySize: 4, ValueSize: uint32(4 * max(1, maxChunks)), MaxEntries: uint32(max(1, trans.Count))}
	g.spec.Maps[mapBVRules] = &ebpf.MapSpec{Name: mapBVRules, Type: ebpf.Array, KeySize: 4, ValueSize: 12, MaxEntries: uint32(max(1, rules.Count))}
	g.fill[mapBVNum], g.fill[mapBVTrans], g.fill[mapBVRules] = num, trans, rules
	for w, b := range bitmaps {
		g.spec.Maps[bvMap(w)] = &ebpf.MapSpec{Name: bvMap(w), Type: ebpf.Array, KeySize: 4, ValueSize: uint32(8 * w), MaxEntries: uint32(max(1, b.Count))}
		g.fill[bvMap(w)] = *b
	}
	return nil
}

func u32(x uint32) []byte { return binary.NativeEndian.AppendUint32(nil, x) }

// nativeBytes views words as the bytes of their native encoding, which a
// map value holds: megabytes of bitmaps are copied in one move each row.
func nativeBytes(words []uint64) []byte {
	if len(words) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), 8*len(words))
}

func classOfBounds(b []uint32, x uint32) int {
	return sort.Search(len(b), func(i int) bool { return b[i] > x }) - 1
}

// Registers of the chain function's bit-vector loop: the next start
// position, and the iteration count (a constant at each step for the
// verifier, which bounds the loop).
const (
	regBVStart = asm.R8
	regBVIter  = asm.R9
)

// Stack slots of the chain function's loop (inside the lookup key area).
const (
	stackBVKind   = stackKey + 8
	stackBVTarget = stackKey + 12
)

// bitvec emits a bit-vector segment in a chain function: call the scan
// function from position 0; for each rule it returns, count it and do
// its action; a rule that goes on calls the scan again after it.
func (g *gen) bitvec(e *emitter, k Kind, s *plan.Segment, sc scope) error {
	bs := g.bv.segs[s]
	g.bv.pending = append(g.bv.pending, s)
	loop, found, next, end := e.newLabel("bvloop"), e.newLabel("bvfound"), e.newLabel("bvnext"), e.newLabel("bvend")
	errl := e.newLabel("bverr")
	e.emit(asm.Mov.Imm(regBVStart, 0), asm.Mov.Imm(regBVIter, 0))
	e.mark(loop)
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Mov.Reg(asm.R2, regBVStart),
		asm.Call.Label(bvFunc(bs)),
		// the verifier follows the fall-through first: keep the paths
		// that leave the loop there, so its pending states stay few
		asm.JSGE.Imm(asm.R0, 0, found),
		asm.JEq.Imm(asm.R0, bvNone, end),
	)
	e.ret(verdictDrop) // bvHot
	e.mark(found)
	e.emit(
		asm.Mov.Reg(regBVStart, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Add.Imm(asm.R1, int32(bs.ruleBase)),
		asm.StoreMem(asm.R10, stackKey, asm.R1, asm.Word),
	)
	mapLookup(e, mapBVRules, stackKey)
	e.emit(
		asm.JEq.Imm(asm.R0, 0, errl),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.R10, stackCounterKey, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R0, 4, asm.Word),
		asm.StoreMem(asm.R10, stackBVKind, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.Word),
		asm.StoreMem(asm.R10, stackBVTarget, asm.R1, asm.Word),
	)
	g.countStacked(e)
	e.emit(
		asm.LoadMem(asm.R1, asm.R10, stackBVKind, asm.Word),
		asm.JEq.Imm(asm.R1, int32(plan.ActContinue), next),
	)
	jumpl := map[plan.ActionKind]string{}
	for _, kind := range []plan.ActionKind{plan.ActJump, plan.ActGoto} {
		if bs.present[kind] {
			jumpl[kind] = e.newLabel("bvjump")
			e.emit(asm.JEq.Imm(asm.R1, int32(kind), jumpl[kind]))
		}
	}
	for _, kind := range []plan.ActionKind{plan.ActAccept, plan.ActDrop, plan.ActReturn} {
		v := sc.verdict(kind)
		if bs.present[kind] {
			l := e.newLabel("bvact")
			e.emit(asm.JNE.Imm(asm.R1, int32(kind), l))
			e.ret(v)
			e.mark(l)
		}
	}
	e.emit(asm.Ja.Label(errl))
	for _, kind := range []plan.ActionKind{plan.ActJump, plan.ActGoto} {
		l, ok := jumpl[kind]
		if !ok {
			continue
		}
		// call the target chain the entry names, as linear code does
		e.mark(l)
		e.emit(asm.LoadMem(asm.R1, asm.R10, stackBVTarget, asm.Word))
		for _, t := range bs.targets {
			skip := e.newLabel("bvtgt")
			e.emit(asm.JNE.Imm(asm.R1, int32(t), skip))
			g.action(e, plan.Action{Kind: kind, Target: t}, sc)
			e.emit(asm.Ja.Label(next))
			e.mark(skip)
		}
		e.emit(asm.Ja.Label(errl))
	}
	e.mark(next)
	e.emit(
		asm.Add.Imm(regBVStart, 1),
		asm.Add.Imm(regBVIter, 1),
		asm.JLT.Imm(regBVIter, int32(bs.goOn+1), loop),
	)
	e.mark(errl)
	e.ret(verdictError)
	e.mark(end)
	return nil
}

func bvFunc(bs *bvSeg) string { return fmt.Sprintf("bv%d", bs.id) }

// bitvecFuncs emits the scan functions of the segments of the chain just
// emitted.
func (g *gen) bitvecFuncs(e *emitter, k Kind) {
	if g.bv == nil {
		return
	}
	for _, s := range g.bv.pending {
		g.scanFunc(e, k, g.bv.segs[s])
	}
	g.bv.pending = nil
}

// Stack of a scan function.
const (
	bvStackKey   = -8  // u32 key of array lookups
	bvStackStart = -16 // the start position
	bvStackHot   = -24 // 1 when the packet's hot class may hot-drop
	bvStackVars  = -32 // then: per key its class or row, pointers, ...
)

// scanFunc emits the scan function of a segment: (packet context, start)
// -> the position of the first rule at or after start whose bit is set
// in the match vector, bvHot when the hot-drop vector has an earlier bit,
// or bvNone. A global function: the verifier checks it once.
//
// Registers in the word loop: r0 the AND, r1 scratch, r2-r9 the keys'
// bitmap pointers (more keys are reloaded from the stack).
func (g *gen) scanFunc(e *emitter, k Kind, bs *bvSeg) {
	nk := len(bs.keys)
	bs.stackCls = bvStackVars
	bs.stackPtr = bs.stackCls - int16(8*nk)
	bs.stackFire = bs.stackPtr - int16(8*nk)
	bs.stackOwn = bs.stackFire - 8
	bs.stackLPM = bs.stackPtr - 16 // 24 bytes over the pointer slots: used before them
	slot := func(base int16, i int) int16 { return base - int16(8*i) }
	e.function(bvFunc(bs), k, paramPkt, paramSlot)
	notNull := e.newLabel("bvpkt")
	e.emit(asm.JNE.Imm(asm.R1, 0, notNull))
	e.ret(bvNone)
	e.mark(notNull)
	e.emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreMem(asm.R10, bvStackStart, asm.R2, asm.DWord),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.R10, bvStackHot, asm.R1, asm.DWord),
	)
	fam := g.p.Family
	// classes
	for ki, key := range bs.keys {
		if key.IsAddr() {
			f := key.Fields[0]
			n := fieldSize(f, fam)
			off := bs.stackLPM
			e.emit(
				asm.StoreImm(asm.R10, off, int64(32+8*n), asm.Word),
				asm.StoreImm(asm.R10, off+4, int64(int32(binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, bs.lpmTable[ki])))), asm.Word),
			)
			for i := 0; i < n; i += 4 {
				e.emit(
					asm.LoadMem(asm.R1, asm.R6, fields[f].off+int16(i), asm.Word),
					asm.StoreMem(asm.R10, off+8+int16(i), asm.R1, asm.Word),
				)
			}
			miss := e.newLabel("bvmiss")
			mapLookup(e, mapBVLPM, off)
			e.emit(
				asm.Mov.Imm(asm.R8, 0),
				asm.JEq.Imm(asm.R0, 0, miss),
				asm.LoadMem(asm.R8, asm.R0, 0, asm.Word),
			)
			e.mark(miss)
		} else {
			// r8 = the classes of the fields, first slowest (Horner)
			e.emit(asm.Mov.Imm(asm.R8, 0))
			for i, f := range key.Fields {
				g.fieldClass(e, f, key.Bounds[i], bs.numBase[ki][i])
				e.emit(asm.Mul.Imm(asm.R8, int32(len(key.Bounds[i]))), asm.Add.Reg(asm.R8, asm.R1))
				if i+1 == key.HotFields {
					// whether the packet's hot class may hot-drop
					if bs.hotAll {
						e.emit(asm.Mov.Imm(asm.R1, 1), asm.StoreMem(asm.R10, bvStackHot, asm.R1, asm.DWord))
					} else {
						e.emit(
							asm.LoadImm(asm.R1, int64(bs.hotMask), asm.DWord),
							asm.RSh.Reg(asm.R1, asm.R8),
							asm.And.Imm(asm.R1, 1),
							asm.StoreMem(asm.R10, bvStackHot, asm.R1, asm.DWord),
						)
					}
				}
			}
		}
		if !bs.multi {
			e.emit(asm.StoreMem(asm.R10, slot(bs.stackCls, ki), asm.R8, asm.DWord))
			continue
		}
		e.emit(asm.Add.Imm(asm.R8, int32(bs.transBase[ki])))
		g.arrayLookup(e, mapBVTrans, asm.R8)
		e.emit(asm.StoreMem(asm.R10, slot(bs.stackCls, ki), asm.R0, asm.DWord))
	}
	// the chunks
	for ci, ch := range bs.chunks {
		nextChunk := e.newLabel("bvchunk")
		e.emit(asm.LoadMem(asm.R1, asm.R10, bvStackStart, asm.DWord))
		unlink(e)
		e.emit(asm.JSGE.Imm(asm.R1, int32(ch.First+ch.Count), nextChunk))
		m := bvMap(bs.words[ci])
		// row index of key ki's table at base (Match, Pre or Fire) in r8
		row := func(ki int, base uint32) {
			if bs.multi {
				e.emit(
					asm.LoadMem(asm.R8, asm.R10, slot(bs.stackCls, ki), asm.DWord),
					asm.LoadMem(asm.R8, asm.R8, int16(4*ci), asm.Word),
					asm.Add.Imm(asm.R8, int32(base-bs.mBase[ci][ki])),
				)
				return
			}
			e.emit(
				asm.LoadMem(asm.R8, asm.R10, slot(bs.stackCls, ki), asm.DWord),
				asm.Add.Imm(asm.R8, int32(base)),
			)
		}
		for ki := range bs.keys {
			row(ki, bs.mBase[ci][ki])
			g.arrayLookup(e, m, asm.R8)
			e.emit(asm.StoreMem(asm.R10, slot(bs.stackPtr, ki), asm.R0, asm.DWord))
		}
		hotPath := ""
		if bs.hasHot {
			hotPath = e.newLabel("bvhotpath")
			e.emit(
				asm.LoadMem(asm.R1, asm.R10, bvStackHot, asm.DWord),
				asm.JNE.Imm(asm.R1, 0, hotPath),
			)
		}
		found := e.newLabel("bvfound")
		regs := []asm.Register{asm.R2, asm.R3, asm.R4, asm.R5, asm.R6, asm.R7, asm.R8, asm.R9}
		for ki := 0; ki < nk && ki < len(regs); ki++ {
			e.emit(asm.LoadMem(regs[ki], asm.R10, slot(bs.stackPtr, ki), asm.DWord))
		}
		load := func(dst asm.Register, ki int, off int16) {
			if ki < len(regs) {
				e.emit(asm.LoadMem(dst, regs[ki], off, asm.DWord))
				return
			}
			e.emit(asm.LoadMem(dst, asm.R10, slot(bs.stackPtr, ki), asm.DWord), asm.LoadMem(dst, dst, off, asm.DWord))
		}
		g.scanWords(e, ch, found, func(w int) {
			load(asm.R0, 0, int16(8*w))
			for ki := 1; ki < nk; ki++ {
				load(asm.R1, ki, int16(8*w))
				e.emit(asm.And.Reg(asm.R0, asm.R1))
			}
		}, "")
		e.emit(asm.Ja.Label(nextChunk))
		g.emitFound(e, found)
		if bs.hasHot {
			e.mark(hotPath)
			hot := hotKey(bs.keys)
			row(hot, bs.fireBase[ci])
			g.arrayLookup(e, m, asm.R8)
			e.emit(asm.StoreMem(asm.R10, bs.stackFire, asm.R0, asm.DWord))
			for ki := range bs.keys {
				if o := bs.ownSlot[ki]; o >= 0 {
					row(ki, bs.pBase[ci][ki])
					g.arrayLookup(e, m, asm.R8)
					e.emit(asm.StoreMem(asm.R10, slot(bs.stackOwn, o), asm.R0, asm.DWord))
				}
			}
			hfound := e.newLabel("bvfound")
			andFrom := func(acc asm.Register, ptrSlot int16, off int16) {
				e.emit(asm.LoadMem(asm.R1, asm.R10, ptrSlot, asm.DWord), asm.LoadMem(asm.R1, asm.R1, off, asm.DWord), asm.And.Reg(acc, asm.R1))
			}
			// r0: the match vector; r2: the hot-drop vector
			g.scanWords(e, ch, hfound, func(w int) {
				off := int16(8 * w)
				e.emit(asm.Mov.Imm(asm.R0, -1))
				for ki, key := range bs.keys {
					if ki != hot && key.Pre == plan.PreSame {
						andFrom(asm.R0, slot(bs.stackPtr, ki), off)
					}
				}
				e.emit(asm.Mov.Reg(asm.R2, asm.R0))
				andFrom(asm.R2, bs.stackFire, off)
				for ki := range bs.keys {
					if o := bs.ownSlot[ki]; o >= 0 {
						andFrom(asm.R2, slot(bs.stackOwn, o), off)
					}
				}
				for ki, key := range bs.keys {
					if ki == hot || key.Pre != plan.PreSame {
						andFrom(asm.R0, slot(bs.stackPtr, ki), off)
					}
				}
				e.emit(asm.Or.Reg(asm.R0, asm.R2))
			}, "hot")
			e.emit(asm.Ja.Label(nextChunk))
			g.emitFound(e, hfound)
		}
		e.mark(nextChunk)
	}
	e.ret(bvNone)
}

// hotKey returns the index of the key with the hot-drop fields.
func hotKey(keys []*plan.BVKey) int {
	for i, k := range keys {
		if k.HotFields > 0 {
			return i
		}
	}
	return -1
}

// scanWords emits the words of a chunk: and(w) leaves word w's vector in
// r0 (and, on the hot path, the hot-drop vector in r2); a word with bits
// goes out of line, where bits before the start position are cleared,
// and to found with the word's first position in r2 (or returns bvHot
// when the first bit is a hot drop).
func (g *gen) scanWords(e *emitter, ch *plan.BVChunk, found string, and func(w int), hot string) {
	type slow struct {
		label, next string
		wb          int
	}
	var slows []slow
	for w := 0; w < ch.Words; w++ {
		and(w)
		s := slow{label: e.newLabel("bvslow"), next: e.newLabel("bvword"), wb: ch.First + 64*w}
		slows = append(slows, s)
		e.emit(asm.JNE.Imm(asm.R0, 0, s.label))
		e.mark(s.next)
	}
	done := e.newLabel("bvwords")
	e.emit(asm.Ja.Label(done))
	for _, s := range slows {
		at := e.newLabel("bvat")
		e.mark(s.label)
		e.emit(asm.LoadMem(asm.R1, asm.R10, bvStackStart, asm.DWord))
		unlink(e)
		e.emit(
			asm.JSGE.Imm(asm.R1, int32(s.wb+64), s.next),
			asm.JSLE.Imm(asm.R1, int32(s.wb), at),
			asm.Sub.Imm(asm.R1, int32(s.wb)),
			asm.RSh.Reg(asm.R0, asm.R1),
			asm.LSh.Reg(asm.R0, asm.R1),
			asm.JEq.Imm(asm.R0, 0, s.next),
		)
		e.mark(at)
		if hot != "" {
			isHot := e.newLabel("bvishot")
			e.emit(
				asm.Mov.Imm(asm.R1, 0),
				asm.Sub.Reg(asm.R1, asm.R0),
				asm.And.Reg(asm.R0, asm.R1), // the first bit alone
				asm.And.Reg(asm.R2, asm.R0),
				asm.JNE.Imm(asm.R2, 0, isHot),
				asm.Mov.Imm(asm.R2, int32(s.wb)),
				asm.Ja.Label(found),
			)
			e.mark(isHot)
			e.ret(bvHot)
			continue
		}
		e.emit(asm.Mov.Imm(asm.R2, int32(s.wb)), asm.Ja.Label(found))
	}
	e.mark(done)
}

// unlink makes r1, just loaded from the start position's stack slot, a
// value of its own: otherwise each comparison narrows the slot too, the
// narrowed states of every chunk differ, and the verifier walks the rest
// of the scan once per chunk before it (quadratic in chunks).
func unlink(e *emitter) { e.emit(asm.And.Imm(asm.R1, 0x7fffffff)) }

// emitFound returns r2 plus the index of the lowest set bit of r0: the
// bit isolated, then found by halving.
func (g *gen) emitFound(e *emitter, label string) {
	e.mark(label)
	e.emit(
		asm.Mov.Imm(asm.R1, 0),
		asm.Sub.Reg(asm.R1, asm.R0),
		asm.And.Reg(asm.R0, asm.R1),
	)
	for _, sh := range []int32{32, 16, 8, 4, 2, 1} {
		skip := e.newLabel("bvctz")
		e.emit(
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.RSh.Imm(asm.R1, sh),
			asm.JEq.Imm(asm.R1, 0, skip),
			asm.Add.Imm(asm.R2, sh),
			asm.Mov.Reg(asm.R0, asm.R1),
		)
		e.mark(skip)
	}
	e.emit(asm.Mov.Reg(asm.R0, asm.R2), asm.Return())
}

// arrayLookup looks up index reg of an array map, leaving the value
// pointer in r0; a missing entry returns bvNone (there, not by a jump to
// a shared exit: the scan of a large segment is longer than a jump
// reaches).
func (g *gen) arrayLookup(e *emitter, m string, reg asm.Register) {
	e.emit(asm.StoreMem(asm.R10, bvStackKey, reg, asm.Word))
	lookupOrReturn(e, m, bvStackKey, bvNone)
}

// fieldClass leaves the class of a numeric field of the packet context
// (r6) in r1: by compare-and-jump code for few classes, else from the
// field's table in bv_num. It keeps r8.
func (g *gen) fieldClass(e *emitter, f plan.Field, b []uint32, base int) {
	fd := fields[f]
	if base < 0 {
		// Without branches: the class counts the bounds at most the
		// value, each (bound-1-value)>>63. Compare-and-jump code would
		// give each class a path, and the verifier would check all that
		// follows once per combination of the keys' classes.
		e.emit(
			asm.LoadMem(asm.R2, asm.R6, fd.off, sizeOf(fd.size)),
			asm.Mov.Imm(asm.R1, 0),
		)
		for _, x := range b[1:] {
			e.emit(
				asm.Mov.Imm(asm.R3, int32(x-1)),
				asm.Sub.Reg(asm.R3, asm.R2),
				asm.RSh.Imm(asm.R3, 63),
				asm.Add.Reg(asm.R1, asm.R3),
			)
		}
		return
	}
	miss := e.newLabel("bvnomiss")
	e.emit(
		asm.LoadMem(asm.R1, asm.R6, fd.off, sizeOf(fd.size)),
		asm.RSh.Imm(asm.R1, 2),
		asm.Add.Imm(asm.R1, int32(base)),
		asm.StoreMem(asm.R10, bvStackKey, asm.R1, asm.Word),
	)
	mapLookup(e, mapBVNum, bvStackKey)
	e.emit(
		asm.Mov.Imm(asm.R1, 0),
		asm.JEq.Imm(asm.R0, 0, miss),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.LoadMem(asm.R2, asm.R6, fd.off, sizeOf(fd.size)),
		asm.And.Imm(asm.R2, 3),
		asm.LSh.Imm(asm.R2, 4),
		asm.RSh.Reg(asm.R1, asm.R2),
		asm.And.Imm(asm.R1, 0xffff),
	)
	e.mark(miss)
}
