package bpf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cilium/ebpf/asm"

	"github.com/bpftables/bpftables/translator/plan"
)

// scope is the function segments are emitted into: where a rule that
// ends the chain with the verdict in r0 (a jump's, a goto's) goes, and
// what RETURN returns.
type scope struct {
	exit string
	// ret is verdictContinue in a chain's function and verdictReturn in
	// one of its blocks, which must tell the chain's end from its own.
	ret int32
}

// verdict is what a rule with an action that ends the chain (accept,
// drop, RETURN) returns in the scope.
func (sc scope) verdict(k plan.ActionKind) int32 {
	switch k {
	case plan.ActAccept:
		return verdictAccept
	case plan.ActDrop:
		return verdictDrop
	}
	return sc.ret
}

// chainFunc emits a chain as a function: r1 the context, r2 the packet
// context; it returns a verdict (continue when the chain returns). A
// chain cut into blocks calls them in order, each a function of its own.
// Registers: r6 context, r7 packet context, r8 a looked-up entry.
func (g *gen) chainFunc(e *emitter, k Kind, c *plan.Chain) error {
	fn := funcName(c)
	if c.Blocks() == 0 {
		return g.segmentsFunc(e, k, c, fn, c.Segments, 0, verdictContinue)
	}
	// the blocks: [start, end) ranges of c.Segments
	var blocks [][2]int
	for i, s := range c.Segments {
		if i == 0 || c.Segments[i-1].Block != s.Block {
			blocks = append(blocks, [2]int{i, i})
		}
		blocks[len(blocks)-1][1] = i + 1
	}
	e.function(fn, k, paramCtx, paramPkt)
	exit := fn + "_exit"
	g.prologue(e)
	for _, b := range blocks {
		next, ret := e.newLabel("blk"), e.newLabel("blkret")
		e.emit(
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Reg(asm.R2, asm.R7),
			asm.Call.Label(blockName(c, c.Segments[b[0]].Block)),
			asm.JEq.Imm(asm.R0, verdictContinue, next),
			asm.JEq.Imm(asm.R0, verdictReturn, ret),
			asm.Ja.Label(exit),
		)
		e.mark(ret)
		e.ret(verdictContinue)
		e.mark(next)
	}
	e.ret(verdictContinue)
	e.mark(exit)
	e.emit(asm.Return())
	for _, b := range blocks {
		if err := g.segmentsFunc(e, k, c, blockName(c, c.Segments[b[0]].Block), c.Segments[b[0]:b[1]], b[0], verdictReturn); err != nil {
			return err
		}
	}
	return nil
}

func blockName(c *plan.Chain, block int) string { return fmt.Sprintf("c%d_b%d", c.ID, block) }

// prologue checks the packet context argument and keeps the arguments in
// r6 and r7.
func (g *gen) prologue(e *emitter) {
	notNull := e.newLabel("pktok")
	e.emit(asm.JNE.Imm(asm.R2, 0, notNull))
	e.ret(verdictError)
	e.mark(notNull)
	e.emit(asm.Mov.Reg(asm.R6, asm.R1), asm.Mov.Reg(asm.R7, asm.R2))
}

// segmentsFunc emits a function that runs segments of a chain (from
// position first): the chain's own, or one of its blocks (ret
// verdictReturn). Falling off the end returns verdictContinue.
func (g *gen) segmentsFunc(e *emitter, k Kind, c *plan.Chain, fn string, segs []*plan.Segment, first int, ret int32) error {
	e.function(fn, k, paramCtx, paramPkt)
	sc := scope{exit: fn + "_exit", ret: ret}
	g.prologue(e)
	for i, s := range segs {
		var err error
		switch s.Kind {
		case plan.Linear:
			err = g.linear(e, k, s, sc)
		case plan.BitVector:
			err = g.bitvec(e, k, s, sc)
		default:
			err = g.lookup(e, k, s, sc)
		}
		if err != nil {
			return fmt.Errorf("chain %s segment %d: %w", c.Name, first+i+1, err)
		}
	}
	e.ret(verdictContinue)
	e.mark(sc.exit)
	if ret != verdictContinue {
		// a goto's target that returned ends the chain
		done := e.newLabel("exit")
		e.emit(asm.JNE.Imm(asm.R0, verdictContinue, done), asm.Mov.Imm(asm.R0, ret))
		e.mark(done)
	}
	e.emit(asm.Return())
	g.bitvecFuncs(e, k)
	return nil
}

// linear emits each rule: its tests in order, its counter, its action.
func (g *gen) linear(e *emitter, k Kind, s *plan.Segment, sc scope) error {
	for _, r := range s.Rules {
		next := e.newLabel("rule")
		for _, t := range r.Tests {
			if err := g.test(e, t, next); err != nil {
				return fmt.Errorf("rule %d: %w", r.Index, err)
			}
		}
		g.count(e, r.ID)
		g.action(e, r.Action, sc)
		e.mark(next)
	}
	return nil
}

// action emits what a matched rule does; evaluation goes on after it
// when it does not end the chain.
func (g *gen) action(e *emitter, a plan.Action, sc scope) {
	switch a.Kind {
	case plan.ActContinue:
	case plan.ActLog:
		logCall(e, a.Log)
	case plan.ActAccept:
		e.ret(verdictAccept)
	case plan.ActDrop:
		e.ret(verdictDrop)
	case plan.ActReject:
		e.ret(verdictReject + int32(a.Target))
	case plan.ActReturn:
		e.ret(sc.ret)
	case plan.ActJump, plan.ActGoto:
		callee := g.p.Chains[a.Target]
		target := funcName(callee)
		if callee.Program {
			target = fmt.Sprintf("stub%d", callee.ID)
		}
		e.emit(
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Reg(asm.R2, asm.R7),
			asm.Call.Label(target),
		)
		if a.Kind == plan.ActGoto {
			e.emit(asm.Ja.Label(sc.exit))
		} else {
			e.emit(asm.JNE.Imm(asm.R0, verdictContinue, sc.exit))
		}
	}
}

// lookup emits a hash or LPM segment: common tests, the key, the lookup,
// and the selected rule's counter and action taken from the entry. Packets
// a hot-drop test of the segment catches take their own path.
func (g *gen) lookup(e *emitter, k Kind, s *plan.Segment, sc scope) error {
	end := e.newLabel("segend")
	var hd string
	for _, t := range s.Common {
		if t.HotDrop {
			if hd == "" {
				hd = e.newLabel("hd")
			}
			// cond holds -> the hot-drop path
			skip := e.newLabel("nohd")
			if err := g.cond(e, t, skip); err != nil {
				return err
			}
			e.emit(asm.Ja.Label(hd))
			e.mark(skip)
		}
	}
	for _, t := range s.Common {
		if !t.HotDrop {
			if err := g.test(e, t, end); err != nil {
				return err
			}
		}
	}
	mapName := mapHash
	if s.Kind == plan.LPM {
		mapName = mapLPM
	}
	g.buildKey(e, s, s.Key, s.Kind == plan.LPM, g.hashKey)
	mapLookup(e, mapName, stackKey)
	e.emit(
		asm.JEq.Imm(asm.R0, 0, end),
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.LoadMem(asm.R9, asm.R8, 0, asm.Word),
	)
	g.countReg(e, asm.R9)
	// dispatch on the entry's action: only the kinds the segment has
	present := map[plan.ActionKind]bool{}
	for _, r := range s.Rules {
		present[r.Kind] = true
	}
	e.emit(asm.LoadMem(asm.R1, asm.R8, 4, asm.Word))
	labels := map[plan.ActionKind]string{}
	for _, kind := range []plan.ActionKind{plan.ActAccept, plan.ActDrop, plan.ActReturn, plan.ActJump, plan.ActGoto} {
		if present[kind] {
			labels[kind] = e.newLabel("act")
			e.emit(asm.JEq.Imm(asm.R1, int32(kind), labels[kind]))
		}
	}
	e.emit(asm.Ja.Label(end)) // ActContinue
	for _, kind := range []plan.ActionKind{plan.ActAccept, plan.ActDrop, plan.ActReturn} {
		v := sc.verdict(kind)
		if l, ok := labels[kind]; ok {
			e.mark(l)
			e.ret(v)
		}
	}
	for _, kind := range []plan.ActionKind{plan.ActJump, plan.ActGoto} {
		l, ok := labels[kind]
		if !ok {
			continue
		}
		e.mark(l)
		e.emit(
			asm.LoadMem(asm.R3, asm.R8, 8, asm.Word),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Reg(asm.R2, asm.R7),
			asm.Call.Label("stubdyn"),
		)
		if kind == plan.ActGoto {
			e.emit(asm.Ja.Label(sc.exit))
		} else {
			e.emit(asm.JNE.Imm(asm.R0, verdictContinue, sc.exit), asm.Ja.Label(end))
		}
	}
	if hd != "" {
		// A packet a hot-drop test catches is dropped when some rule of
		// the segment reaches that test: the common tests before it hold
		// and the key fields tested before it are some rule's.
		e.mark(hd)
		for _, t := range s.Common {
			if !t.HotDrop {
				if err := g.test(e, t, end); err != nil {
					return err
				}
				continue
			}
			skip := e.newLabel("nohd")
			if err := g.cond(e, t, skip); err != nil {
				return err
			}
			switch {
			case len(s.PreKey) == 0:
			case s.Kind == plan.LPM:
				g.buildKey(e, s, s.Key, true, 0)
				g.lookupOrEnd(e, mapLPM, end)
			default:
				g.buildKey(e, s, s.PreKey, false, g.auxKey)
				g.lookupOrEnd(e, mapPreKey, end)
			}
			e.ret(verdictDrop)
			e.mark(skip)
		}
		e.emit(asm.Ja.Label(end))
	}
	e.mark(end)
	return nil
}

func (g *gen) lookupOrEnd(e *emitter, mapName, end string) {
	mapLookup(e, mapName, stackKey)
	e.emit(
		asm.JEq.Imm(asm.R0, 0, end),
	)
}

// buildKey writes a lookup key on the stack: the segment ID, then the key
// fields copied from the packet context, zero-padded to size bytes (a hash
// key); an LPM key is the prefix length (all of the ID and the address),
// then the ID big-endian and the address.
func (g *gen) buildKey(e *emitter, s *plan.Segment, key []plan.Field, lpm bool, size int) {
	off := int16(stackKey)
	id := int64(g.segID[s])
	if lpm {
		e.emit(
			asm.StoreImm(asm.R10, off, int64(32+8*fieldSize(key[0], g.p.Family)), asm.Word),
			asm.StoreImm(asm.R10, off+4, int64(binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, uint32(id)))), asm.Word),
		)
		off += 8
	} else {
		e.emit(asm.StoreImm(asm.R10, off, id, asm.Word))
		off += 4
		for pad := fieldsSize(key, g.p.Family); pad < size; pad++ {
			e.emit(asm.StoreImm(asm.R10, off+int16(pad), 0, asm.Byte))
		}
	}
	for _, f := range key {
		n := fieldSize(f, g.p.Family)
		src := fields[f].off
		for done := 0; done < n; {
			sz, w := asm.Word, 4
			switch {
			case n-done >= 4:
			case n-done >= 2:
				sz, w = asm.Half, 2
			default:
				sz, w = asm.Byte, 1
			}
			e.emit(
				asm.LoadMem(asm.R1, asm.R7, src+int16(done), sz),
				asm.StoreMem(asm.R10, off+int16(done), asm.R1, sz),
			)
			done += w
		}
		off += int16(n)
	}
}

// test jumps to fail unless the (non-hot-drop) test holds; a hot-drop
// test returns a drop verdict when its condition holds.
func (g *gen) test(e *emitter, t plan.Test, fail string) error {
	if t.HotDrop {
		skip := e.newLabel("nohd")
		if err := g.cond(e, t, skip); err != nil {
			return err
		}
		e.ret(verdictDrop)
		e.mark(skip)
		return nil
	}
	if !t.Invert {
		return g.cond(e, t, fail)
	}
	ok := e.newLabel("inv")
	if err := g.cond(e, t, ok); err != nil {
		return err
	}
	e.emit(asm.Ja.Label(fail))
	e.mark(ok)
	return nil
}

// cond jumps to onFalse when the test's condition (before inversion) does
// not hold, and falls through when it does.
func (g *gen) cond(e *emitter, t plan.Test, onFalse string) error {
	f := fields[t.Field]
	switch t.Op {
	case plan.OpEq:
		if f.numeric {
			return g.eqNum(e, t, onFalse)
		}
		return g.eqBytes(e, t, onFalse)
	case plan.OpRange:
		if f.numeric && f.size <= 4 {
			g.loadNum(e, asm.R0, t.Field)
			inRange(e, uint32(uintOf(t.Lo)), uint32(uintOf(t.Hi)), uint32(uint64(1)<<(8*f.size)-1), onFalse)
			return nil
		}
		if f.numeric {
			lo, hi := uintOf(t.Lo), uintOf(t.Hi)
			g.loadNum(e, asm.R0, t.Field)
			if lo > 0 {
				e.emit(asm.JLT.Imm32(asm.R0, int32(lo), onFalse))
			}
			max := uint64(1)<<(8*f.size) - 1
			if hi < max || (f.size == 8 && hi != ^uint64(0)) {
				e.emit(asm.JGT.Imm32(asm.R0, int32(hi), onFalse))
			}
			if lo > hi {
				e.emit(asm.Ja.Label(onFalse))
			}
			return nil
		}
		return g.rangeBytes(e, t, onFalse)
	case plan.OpSet, plan.OpSetEither:
		in := e.newLabel("inset")
		fieldsToTest := []plan.Field{t.Field}
		if t.Op == plan.OpSetEither {
			fieldsToTest = []plan.Field{plan.FieldSport, plan.FieldDport}
		}
		for _, fl := range fieldsToTest {
			g.loadNum(e, asm.R0, fl)
			for _, r := range t.Ranges {
				if r[0] == r[1] {
					e.emit(asm.JEq.Imm32(asm.R0, int32(r[0]), in))
					continue
				}
				next := e.newLabel("range")
				e.emit(asm.JLT.Imm32(asm.R0, int32(r[0]), next), asm.JLE.Imm32(asm.R0, int32(r[1]), in))
				e.mark(next)
			}
		}
		e.emit(asm.Ja.Label(onFalse))
		e.mark(in)
		return nil
	case plan.OpIface:
		g.loadNum(e, asm.R0, t.Field)
		e.emit(
			asm.RSh.Imm(asm.R0, int32(t.Pattern)),
			asm.And.Imm(asm.R0, 1),
			asm.JEq.Imm(asm.R0, 0, onFalse),
		)
		return nil
	case plan.OpRandom:
		// statistic_mt: prandom_u32() & 0x7fffffff < probability; a
		// 32-bit compare takes the threshold 0x80000000 (probability 1)
		e.emit(
			asm.FnGetPrandomU32.Call(),
			asm.And.Imm32(asm.R0, 0x7fffffff),
			asm.JGE.Imm32(asm.R0, int32(t.Stat.Probability), onFalse),
		)
		return nil
	case plan.OpLimit:
		g.limit(e, t, onFalse)
		return nil
	case plan.OpNth:
		// The kernel steps a counter from count to every and back to 0
		// with cmpxchg; one atomic add of the packets seen gives every
		// packet the same place in that cycle (plan.NthNext). The
		// stack's counter key slot is free until the rule counts.
		e.emit(asm.StoreImm(asm.R10, stackCounterKey, int64(t.Stat.Slot), asm.Word))
		mapLookup(e, mapNth, stackCounterKey)
		e.emit(
			asm.JEq.Imm(asm.R0, 0, onFalse),
			asm.Mov.Imm(asm.R1, 1),
			atomicMem(asm.FetchAdd, asm.R0, asm.R1, asm.DWord, 0),
			asm.LoadImm(asm.R2, int64(t.Stat.Count)+1, asm.DWord),
			asm.Add.Reg(asm.R1, asm.R2),
			asm.LoadImm(asm.R2, int64(t.Stat.Every)+1, asm.DWord),
			asm.Mod.Reg(asm.R1, asm.R2),
			asm.JNE.Imm(asm.R1, 0, onFalse),
		)
		return nil
	}
	return fmt.Errorf("test %s: operation %d has no code", t, t.Op)
}

func sizeOf(n int) asm.Size {
	switch n {
	case 1:
		return asm.Byte
	case 2:
		return asm.Half
	case 4:
		return asm.Word
	}
	return asm.DWord
}

func (g *gen) loadNum(e *emitter, r asm.Register, f plan.Field) {
	fd := fields[f]
	e.emit(asm.LoadMem(r, asm.R7, fd.off, sizeOf(fd.size)))
}

func (g *gen) eqNum(e *emitter, t plan.Test, onFalse string) error {
	fd := fields[t.Field]
	v, m := uintOf(t.Value), uintOf(t.Mask)
	full := uint64(1)<<(8*fd.size) - 1
	if fd.size == 8 {
		full = ^uint64(0)
	}
	g.loadNum(e, asm.R0, t.Field)
	if fd.size == 8 {
		if m != full {
			e.emit(asm.LoadImm(asm.R1, int64(m), asm.DWord), asm.And.Reg(asm.R0, asm.R1))
		}
		e.emit(asm.LoadImm(asm.R1, int64(v), asm.DWord), asm.JNE.Reg(asm.R0, asm.R1, onFalse))
		return nil
	}
	if m != full {
		e.emit(asm.And.Imm32(asm.R0, int32(uint32(m))))
	}
	e.emit(asm.JNE.Imm32(asm.R0, int32(uint32(v)), onFalse))
	return nil
}

// eqBytes compares an address or MAC, word by word as the context holds
// it (network order); all-zero mask words are skipped.
func (g *gen) eqBytes(e *emitter, t plan.Test, onFalse string) error {
	fd := fields[t.Field]
	n := len(t.Value)
	for off := 0; off < n; {
		w := 4
		if n-off < 4 {
			w = 2
		}
		var v, m uint32
		if w == 4 {
			v, m = binary.NativeEndian.Uint32(t.Value[off:]), binary.NativeEndian.Uint32(t.Mask[off:])
		} else {
			v, m = uint32(binary.NativeEndian.Uint16(t.Value[off:])), uint32(binary.NativeEndian.Uint16(t.Mask[off:]))
		}
		if m != 0 {
			e.emit(asm.LoadMem(asm.R0, asm.R7, fd.off+int16(off), sizeOf(w)))
			if w == 4 && m != 0xffffffff || w == 2 && m != 0xffff {
				e.emit(asm.And.Imm32(asm.R0, int32(m)))
			}
			e.emit(asm.JNE.Imm32(asm.R0, int32(v), onFalse))
		}
		off += w
	}
	return nil
}

// inRange jumps to onFalse unless lo <= w0 <= hi, where max is the most
// w0 holds; it may change r0. Both bounds take one compare, of w0 - lo
// with hi - lo (unsigned, so below lo wraps to above): a branch less for
// the packet and for the verifier, which follows each branch.
func inRange(e *emitter, lo, hi, max uint32, onFalse string) {
	switch {
	case lo > hi:
		e.emit(asm.Ja.Label(onFalse))
	case lo > 0 && hi < max:
		e.emit(asm.Sub.Imm32(asm.R0, int32(lo)), asm.JGT.Imm32(asm.R0, int32(hi-lo), onFalse))
	case lo > 0:
		e.emit(asm.JLT.Imm32(asm.R0, int32(lo), onFalse))
	case hi < max:
		e.emit(asm.JGT.Imm32(asm.R0, int32(hi), onFalse))
	}
}

// rangeBytes tests lo <= address <= hi, comparing big-endian 32-bit
// (IPv4) or 64-bit (IPv6) words in order.
func (g *gen) rangeBytes(e *emitter, t plan.Test, onFalse string) error {
	fd := fields[t.Field]
	n := len(t.Lo)
	if n == 4 {
		// an IPv4 address is a number
		e.emit(
			asm.LoadMem(asm.R0, asm.R7, fd.off, asm.Word),
			asm.HostTo(asm.BE, asm.R0, asm.Word),
		)
		inRange(e, binary.BigEndian.Uint32(t.Lo), binary.BigEndian.Uint32(t.Hi), math.MaxUint32, onFalse)
		return nil
	}
	word, size := 4, asm.Word
	if n == 16 {
		word, size = 8, asm.DWord
	}
	bound := func(b []byte, i int) uint64 {
		if word == 4 {
			return uint64(binary.BigEndian.Uint32(b[i:]))
		}
		return binary.BigEndian.Uint64(b[i:])
	}
	// x >= lo: the first differing word decides.
	for _, side := range []struct {
		lim     []byte
		beyond  func(asm.Register, asm.Register, string) asm.Instruction // x past the limit: fail
		inside  func(asm.Register, asm.Register, string) asm.Instruction // x strictly within: done
		isLower bool
	}{
		{t.Lo, asm.JLT.Reg, asm.JGT.Reg, true},
		{t.Hi, asm.JGT.Reg, asm.JLT.Reg, false},
	} {
		done := e.newLabel("bound")
		for i := 0; i < n; i += word {
			e.emit(
				asm.LoadMem(asm.R0, asm.R7, fd.off+int16(i), size),
				asm.HostTo(asm.BE, asm.R0, size),
				asm.LoadImm(asm.R1, int64(bound(side.lim, i)), asm.DWord),
				side.beyond(asm.R0, asm.R1, onFalse),
			)
			if i+word < n {
				e.emit(side.inside(asm.R0, asm.R1, done))
			}
		}
		e.mark(done)
	}
	return nil
}

// atomicMem is op.Mem with its immediate set: cilium/ebpf v0.22's
// Marshal takes the immediate before it derives it from the opcode's
// atomic bits, so a bare FetchAdd is emitted as a plain add (imm 0)
// that leaves src unchanged, and Xchg and CmpXchg likewise.
func atomicMem(op asm.AtomicOp, dst, src asm.Register, size asm.Size, off int16) asm.Instruction {
	ins := op.Mem(dst, src, size, off)
	ins.Constant = int64(op >> 8)
	return ins
}
