package bpf

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// Kind is the kind of program a generation is built for: tc (clsact or
// TCX) or XDP. They differ in context, action codes, and the program
// array they tail-call through.
type Kind uint8

// Program kinds.
const (
	TC Kind = iota
	XDP
)

// String returns "tc" or "xdp".
func (k Kind) String() string {
	if k == XDP {
		return "xdp"
	}
	return "tc"
}

func (k Kind) progType() ebpf.ProgramType {
	if k == XDP {
		return ebpf.XDP
	}
	return ebpf.SchedCLS
}

func (k Kind) pass() int32 {
	if k == XDP {
		return xdpPass
	}
	return tcActUnspec
}

func (k Kind) drop() int32 {
	if k == XDP {
		return xdpDrop
	}
	return tcActShot
}

// Names of the maps every generation has.
const (
	mapPkt      = "pkt"      // the packet context (shared, not the generation's)
	MapCounters = "counters" // per-CPU {packets, bytes} per counter slot
	MapIfaces   = "ifaces"   // ifindex -> interface pattern bits
)

// progsMap names the generation's program array for a kind.
func progsMap(k Kind) string { return "progs_" + k.String() }

// Stack layout of every generated function: the counter key, then room
// for a lookup key.
const (
	stackCounterKey = -8
	stackKey        = -8 - maxKey
	maxKey          = 64
)

// ruleValue is the value of hash and LPM entries: the rule, its action
// and the target chain's program slot.
type ruleValue struct {
	Rule   uint32
	Kind   uint32
	Target uint32
}

func (v ruleValue) bytes() []byte { return v.append(make([]byte, 0, 12)) }

func (v ruleValue) append(b []byte) []byte {
	b = binary.NativeEndian.AppendUint32(b, v.Rule)
	b = binary.NativeEndian.AppendUint32(b, v.Kind)
	return binary.NativeEndian.AppendUint32(b, v.Target)
}

// GenerationSpec is one generation of one family before loading: the
// programs and maps, with map contents.
type GenerationSpec struct {
	Family translator.Family
	Plan   *plan.Plan
	Kinds  []Kind
	// Collection holds the programs ("entry_tc", "c<ID>_tc", ...) and the
	// maps; the packet context map is replaced by the datapath's own at
	// load time.
	Collection *ebpf.CollectionSpec
	// ErrorCounter is the counter slot that counts failed tail calls.
	ErrorCounter int
	// Fill holds the contents of the exact-key maps, loaded in one batch
	// each after the maps are created (element by element, a large
	// ruleset's entries cost a system call each).
	Fill map[string]Batch
}

// Batch is the keys and values of a map, packed end to end.
type Batch struct {
	Keys, Values []byte
	Count        int
}

// grow makes room for n more entries of the key and value sizes.
func (b *Batch) grow(n, key, value int) {
	b.Keys = slices.Grow(b.Keys, n*key)
	b.Values = slices.Grow(b.Values, n*value)
}

func (b *Batch) add(k, v []byte) {
	b.Keys = append(b.Keys, k...)
	b.Values = append(b.Values, v...)
	b.Count++
}

// EntryProgram names the program the root array slot points to.
func EntryProgram(k Kind) string { return "entry_" + k.String() }

func chainProgram(id int, k Kind) string { return fmt.Sprintf("c%d_%s", id, k) }

// Generate builds the programs and maps of a plan for the given kinds.
func Generate(p *plan.Plan, kinds ...Kind) (*GenerationSpec, error) {
	if len(kinds) == 0 {
		kinds = []Kind{TC}
	}
	g := &gen{p: p, spec: &ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{}, Programs: map[string]*ebpf.ProgramSpec{}}}
	errSlot := p.Counters()
	g.spec.Maps[mapPkt] = PacketMapSpec()
	g.spec.Maps[MapCounters] = &ebpf.MapSpec{Name: MapCounters, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: uint32(errSlot + 1)}
	g.spec.Maps[MapIfaces] = &ebpf.MapSpec{Name: MapIfaces, Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4096}
	if n := p.NthSlots(); n > 0 {
		g.spec.Maps[mapNth] = &ebpf.MapSpec{Name: mapNth, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(n)}
	}
	if p.LimitSlots() > 0 {
		hz, err := KernelHZ()
		if err != nil {
			return nil, fmt.Errorf("limit: %w", err)
		}
		g.hz = hz
		g.spec.Maps[mapLimit] = limitMap(p, hz)
	}
	if g.ct = p.Conntrack(); g.ct {
		g.spec.Maps[MapConntrack] = ConntrackMapSpec(0)
	}
	g.logMaps()
	if err := g.segmentMaps(); err != nil {
		return nil, err
	}
	if err := g.bitvecMaps(); err != nil {
		return nil, err
	}
	for _, k := range kinds {
		progs := &ebpf.MapSpec{Name: progsMap(k), Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: uint32(max(1, len(p.Chains)))}
		g.spec.Maps[progs.Name] = progs
		entry, err := g.program(k, nil)
		if err != nil {
			return nil, err
		}
		g.spec.Programs[EntryProgram(k)] = entry
		for _, c := range p.Chains {
			if !c.Program {
				continue
			}
			prog, err := g.program(k, c)
			if err != nil {
				return nil, err
			}
			name := chainProgram(c.ID, k)
			g.spec.Programs[name] = prog
			progs.Contents = append(progs.Contents, ebpf.MapKV{Key: uint32(c.ID), Value: name})
		}
	}
	return &GenerationSpec{Family: p.Family, Plan: p, Kinds: kinds, Collection: g.spec, ErrorCounter: errSlot, Fill: g.fill}, nil
}

// chainsOf names the chains a program of the generation holds.
func (g *GenerationSpec) chainsOf(prog string) []string {
	var root *plan.Chain
	found := false
	for _, k := range g.Kinds {
		found = found || prog == EntryProgram(k)
		for _, c := range g.Plan.Chains {
			if c.Program && prog == chainProgram(c.ID, k) {
				root, found = c, true
			}
		}
	}
	if !found {
		return nil
	}
	var names []string
	for _, c := range g.Plan.Held(root) {
		names = append(names, c.Name)
	}
	return names
}

// PacketMapSpec is the packet context map: one per-CPU entry.
func PacketMapSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: mapPkt, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: pktSize, MaxEntries: 1}
}

type gen struct {
	p *plan.Plan
	// hz is the kernel's tick rate, for limit tests (KernelHZ).
	hz   uint32
	spec *ebpf.CollectionSpec
	// segID numbers the hash and LPM segments: the first four bytes of
	// their keys in the shared lookup maps (a program may use 64 maps).
	segID map[*plan.Segment]uint32
	// key sizes of the shared maps, without the segment ID
	hashKey, auxKey int
	fill            map[string]Batch
	bv              *bvState // bit-vector segments (bitvec.go)
	// inlineCount: the program being built updates counters inline
	// rather than by calling its counting function (see countFunc).
	inlineCount bool
	// ct: the plan tests connection tracking state, so the entry
	// program tracks connections (conntrack.go).
	ct bool
	// log: the plan has LOG or NFLOG rules (log.go).
	log bool
}

// Shared lookup maps of a generation: exact keys, prefixes, and the
// pre-keys of hot-drop paths. Keys start with the segment ID.
const (
	mapHash   = "hash"
	mapNth    = "nth" // the statistic match's nth counters: packets seen, shared by all CPUs
	mapLPM    = "lpm"
	mapPreKey = "prekey"
)

// segmentMaps fills the shared lookup maps with the entries of every hash
// and LPM segment.
func (g *gen) segmentMaps() error {
	g.segID = map[*plan.Segment]uint32{}
	fam := g.p.Family
	var segs []*plan.Segment
	for _, c := range g.p.Chains {
		for _, s := range c.Segments {
			if s.Kind == plan.Linear {
				continue
			}
			g.segID[s] = uint32(len(segs) + 1)
			segs = append(segs, s)
			if s.Kind == plan.Hash {
				g.hashKey = max(g.hashKey, keySize(s, fam))
				if len(s.PreKey) > 0 {
					g.auxKey = max(g.auxKey, fieldsSize(s.PreKey, fam))
				}
			}
		}
	}
	if 4+g.hashKey > maxKey {
		return fmt.Errorf("a lookup key of %d bytes is longer than the %d the datapath builds", g.hashKey, maxKey-4)
	}
	var hash, aux, lpm Batch
	for _, s := range segs {
		id := g.segID[s]
		if s.Kind == plan.Hash {
			hash.grow(len(s.Entries), 4+g.hashKey, 12)
		} else {
			lpm.grow(len(s.Entries), 8+fam.Bits()/8, 12)
		}
		for _, e := range s.Entries {
			v := ruleValue{Rule: uint32(e.Rule.ID), Kind: uint32(e.Rule.Kind)}
			if e.Rule.Kind == plan.ActJump || e.Rule.Kind == plan.ActGoto {
				v.Target = uint32(e.Rule.Target)
			}
			if s.Kind == plan.LPM {
				lpm.Keys = binary.NativeEndian.AppendUint32(lpm.Keys, uint32(32+e.PrefixLen))
				lpm.Keys = binary.BigEndian.AppendUint32(lpm.Keys, id)
				lpm.Keys = append(lpm.Keys, e.Key...)
			} else {
				hash.Keys = g.appendEntryKey(hash.Keys, id, s, s.Key, e, g.hashKey)
			}
			b := &hash
			if s.Kind == plan.LPM {
				b = &lpm
			}
			b.Values = v.append(b.Values)
			b.Count++
		}
		if s.Kind == plan.Hash && len(s.PreKey) > 0 {
			seen := map[string]bool{}
			var k []byte
			for _, e := range s.Entries {
				k = g.appendEntryKey(k[:0], id, s, s.PreKey, e, g.auxKey)
				if !seen[string(k)] {
					seen[string(k)] = true
					aux.add(k, []byte{1})
				}
			}
		}
	}
	g.spec.Maps[mapHash] = &ebpf.MapSpec{Name: mapHash, Type: ebpf.Hash, KeySize: uint32(4 + g.hashKey), ValueSize: 12, MaxEntries: uint32(max(1, hash.Count))}
	g.spec.Maps[mapLPM] = &ebpf.MapSpec{Name: mapLPM, Type: ebpf.LPMTrie, Flags: 1 /* BPF_F_NO_PREALLOC, as LPM tries require */, KeySize: uint32(8 + fam.Bits()/8), ValueSize: 12, MaxEntries: uint32(max(1, lpm.Count))}
	g.spec.Maps[mapPreKey] = &ebpf.MapSpec{Name: mapPreKey, Type: ebpf.Hash, KeySize: uint32(4 + g.auxKey), ValueSize: 1, MaxEntries: uint32(max(1, aux.Count))}
	// batches, where Contents cost a system call per entry
	g.fill = map[string]Batch{mapHash: hash, mapLPM: lpm, mapPreKey: aux}
	return nil
}

// appendEntryKey appends the lookup key of an entry as the program builds
// it: the segment ID, the wanted key fields as the packet context holds
// them, zeros to size bytes after the ID.
func (g *gen) appendEntryKey(b []byte, id uint32, s *plan.Segment, want []plan.Field, e plan.Entry, size int) []byte {
	fam := g.p.Family
	b = binary.NativeEndian.AppendUint32(b, id)
	start := len(b)
	off := 0
	for _, f := range s.Key {
		n := f.Size(fam)
		if slices.Contains(want, f) {
			b = appendKeyBytes(b, f, e.Key[off:off+n])
		}
		off += n
	}
	for len(b)-start < size {
		b = append(b, 0)
	}
	return b
}

// fieldSize is a field's size in the packet context for the family
// (addresses take the family's length).
func fieldSize(f plan.Field, fam translator.Family) int {
	if f == plan.FieldSrc || f == plan.FieldDst {
		return f.Size(fam)
	}
	return fields[f].size
}

func fieldsSize(fs []plan.Field, fam translator.Family) int {
	n := 0
	for _, f := range fs {
		n += fieldSize(f, fam)
	}
	return n
}

func keySize(s *plan.Segment, fam translator.Family) int { return fieldsSize(s.Key, fam) }

// program builds the entry program (root nil) or the program of one chain.
func (g *gen) program(k Kind, root *plan.Chain) (*ebpf.ProgramSpec, error) {
	e := &emitter{}
	// The chains the program holds as functions, and the programs their
	// jumps enter: through a stub each, or the one the lookup names.
	order := g.p.Held(root)
	g.inlineCount = countSites(order) <= maxInlineCounts
	name := EntryProgram(k)
	if root == nil {
		if k == XDP {
			if err := rejectAtXDP(g.p); err != nil {
				return nil, err
			}
		}
		var roots []*plan.Chain
		for _, h := range []translator.Hook{translator.Input, translator.Forward, translator.Output, translator.PreRouting, translator.PostRouting} {
			if id, ok := g.p.Entry[h]; ok {
				roots = append(roots, g.p.Chains[id])
			}
		}
		g.entryMain(e, k, roots)
	} else {
		name = chainProgram(root.ID, k)
		g.chainMain(e, k, root)
	}
	stubs := map[int]bool{}
	dyn := false
	for _, c := range order {
		for _, s := range c.Segments {
			for _, r := range s.Rules {
				if r.Kind != plan.ActJump && r.Kind != plan.ActGoto {
					continue
				}
				if s.Kind == plan.Hash || s.Kind == plan.LPM {
					dyn = true
				} else if g.p.Chains[r.Target].Program {
					stubs[r.Target] = true
				}
			}
		}
	}
	for _, c := range order {
		if err := g.chainFunc(e, k, c); err != nil {
			return nil, err
		}
	}
	ids := make([]int, 0, len(stubs))
	for id := range stubs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		e.function(fmt.Sprintf("stub%d", id), k, paramCtx, paramPkt)
		e.emit(
			asm.LoadMapPtr(asm.R2, 0).WithReference(progsMap(k)),
			asm.Mov.Imm(asm.R3, int32(id)),
			asm.FnTailCall.Call(),
		)
		e.ret(verdictError)
	}
	if !g.inlineCount {
		g.countFunction(e, k)
	}
	if root == nil && g.ct {
		conntrackFuncs(e, k)
	}
	if g.log {
		logFunction(e, k) // pruned from programs without LOG rules
	}
	if dyn {
		e.function("stubdyn", k, paramCtx, paramPkt, paramSlot)
		e.emit(
			asm.LoadMapPtr(asm.R2, 0).WithReference(progsMap(k)),
			asm.FnTailCall.Call(),
		)
		e.ret(verdictError)
	}
	return &ebpf.ProgramSpec{Name: name, Type: k.progType(), License: "GPL", Instructions: prune(e.instructions())}, nil
}

func funcName(c *plan.Chain) string { return fmt.Sprintf("c%d", c.ID) }

// lookupPkt puts the packet context in r7, or returns onNull from the
// program; key is the stack slot its zero key is built in.
func lookupPkt(e *emitter, key int16, onNull int32) {
	e.emit(asm.StoreImm(asm.R10, key, 0, asm.Word))
	lookupOrReturn(e, mapPkt, key, onNull)
	e.emit(asm.Mov.Reg(asm.R7, asm.R0))
}

// lookupOrReturn looks the key at the stack slot up in the map, leaving
// the value's pointer in r0, or returns onNull when there is none.
func lookupOrReturn(e *emitter, m string, key int16, onNull int32) {
	ok := e.newLabel("found")
	mapLookup(e, m, key)
	e.emit(
		asm.JNE.Imm(asm.R0, 0, ok),
	)
	e.ret(onNull)
	e.mark(ok)
}

// entryMain is the entry program's main function: interface bits, the
// hook's built-in chain, its policy, and the action code.
func (g *gen) entryMain(e *emitter, k Kind, roots []*plan.Chain) {
	e.function("main", k, paramCtx)
	e.emit(asm.Mov.Reg(asm.R6, asm.R1))
	lookupPkt(e, stackCounterKey, k.pass())
	if len(g.p.Ifaces) > 0 {
		for _, f := range []struct{ idx, bits int16 }{{offInIfidx, offInBits}, {offOutIfidx, offOutBits}} {
			none := e.newLabel("noif")
			done := e.newLabel("ifdone")
			e.emit(
				asm.LoadMem(asm.R1, asm.R7, f.idx, asm.Word),
				asm.StoreMem(asm.R10, stackCounterKey, asm.R1, asm.Word),
			)
			mapLookup(e, MapIfaces, stackCounterKey)
			e.emit(
				asm.JEq.Imm(asm.R0, 0, none),
				asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
				asm.StoreMem(asm.R7, f.bits, asm.R1, asm.DWord),
				asm.Ja.Label(done),
			)
			e.mark(none)
			e.emit(asm.Mov.Imm(asm.R1, 0), asm.StoreMem(asm.R7, f.bits, asm.R1, asm.DWord))
			e.mark(done)
		}
	}
	if g.ct {
		e.emit(asm.Mov.Reg(asm.R1, asm.R6), asm.Call.Label(ctIn))
	}
	verdict := e.newLabel("verdict")
	e.emit(asm.LoadMem(asm.R1, asm.R7, offHook, asm.Byte))
	labels := map[int]string{}
	for _, c := range roots {
		labels[c.ID] = e.newLabel("hook")
		e.emit(asm.JEq.Imm(asm.R1, int32(c.Hook)+1, labels[c.ID]))
	}
	e.ret(k.pass()) // a hook this table has no chain for
	for _, c := range roots {
		e.mark(labels[c.ID])
		e.emit(
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Reg(asm.R2, asm.R7),
			asm.Call.Label(funcName(c)),
			asm.JNE.Imm(asm.R0, verdictContinue, verdict),
		)
		g.count(e, c.PolicyID)
		if c.Policy == plan.ActDrop {
			e.emit(asm.Mov.Imm(asm.R0, verdictDrop))
		} else {
			e.emit(asm.Mov.Imm(asm.R0, verdictAccept))
		}
		e.emit(asm.Ja.Label(verdict))
	}
	e.mark(verdict)
	errLabel := e.newLabel("err")
	e.emit(asm.JEq.Imm(asm.R0, verdictError, errLabel))
	dropIt := e.newLabel("drop")
	if g.p.Rejects() {
		rejectIt := e.newLabel("reject")
		e.emit(asm.JGE.Imm(asm.R0, verdictReject, rejectIt))
		defer func() {
			e.mark(rejectIt)
			rejectCode(e, k, g.p.Family)
		}()
	}
	e.emit(asm.JNE.Imm(asm.R0, verdictAccept, dropIt))
	if g.ct {
		// the accepted packet's new connection is confirmed
		e.emit(asm.Mov.Reg(asm.R1, asm.R6), asm.Call.Label(ctConfirm))
	}
	e.ret(k.pass())
	e.mark(errLabel)
	g.count(e, g.p.Counters()) // the error slot
	e.mark(dropIt)
	e.ret(k.drop())
}

// chainMain is the main function of a chain's own program.
func (g *gen) chainMain(e *emitter, k Kind, c *plan.Chain) {
	e.function("main", k, paramCtx)
	e.emit(asm.Mov.Reg(asm.R6, asm.R1))
	lookupPkt(e, stackCounterKey, verdictError)
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Call.Label(funcName(c)),
		asm.Return(),
	)
}

// countFunc names the counting function: (packet context, slot) adds the
// packet to the slot's per-CPU packet and byte counts. The verifier
// inlines every lookup of an array map, moving the whole program for each
// (Linux 6.18, bpf_patch_insn_data): a program with a counter update per
// rule inline is quadratic to load. Past maxInlineCounts updates a
// program calls the function instead, which costs a packet a call and
// return per rule it counts (about 8 ns on the AMD EPYC measured, where
// returns pay for speculation mitigations).
const countFunc = "count"

// maxInlineCounts is the most counter updates a program has inline (a
// variable for tests).
var maxInlineCounts = 256

// countSites bounds the counter updates of a program that holds the
// chains: one per linear rule, per lookup and bit-vector segment, and per
// built-in chain's policy, and the failed-tail-call slot.
func countSites(held []*plan.Chain) int {
	n := 1
	for _, c := range held {
		if c.Builtin {
			n++
		}
		for _, s := range c.Segments {
			if s.Kind == plan.Linear {
				n += len(s.Rules)
			} else {
				n++
			}
		}
	}
	return n
}

// count adds the packet to a constant counter slot. It clobbers r0-r5.
func (g *gen) count(e *emitter, slot int) {
	if g.inlineCount {
		e.emit(asm.StoreImm(asm.R10, stackCounterKey, int64(slot), asm.Word))
		g.countAt(e)
		return
	}
	e.emit(asm.Mov.Reg(asm.R1, asm.R7), asm.Mov.Imm(asm.R2, int32(slot)), asm.Call.Label(countFunc))
}

// countReg adds the packet to the counter slot held in reg (not r1 or r2).
func (g *gen) countReg(e *emitter, reg asm.Register) {
	e.emit(asm.StoreMem(asm.R10, stackCounterKey, reg, asm.Word))
	g.countStacked(e)
}

// countStacked adds the packet to the counter slot stored at
// stackCounterKey.
func (g *gen) countStacked(e *emitter) {
	if g.inlineCount {
		g.countAt(e)
		return
	}
	e.emit(
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.LoadMem(asm.R2, asm.R10, stackCounterKey, asm.Word),
		asm.Call.Label(countFunc),
	)
}

// countAt adds the packet to the counter slot stored at stackCounterKey,
// inline; r7 is the packet context.
func (g *gen) countAt(e *emitter) {
	skip := e.newLabel("nocnt")
	mapLookup(e, MapCounters, stackCounterKey)
	e.emit(
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, offBytes, asm.Word),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
	)
	e.mark(skip)
}

// countFunction emits the counting function (see countFunc): the
// inline update, with the packet context in r7 as there.
func (g *gen) countFunction(e *emitter, k Kind) {
	e.function(countFunc, k, paramPkt, paramSlot)
	done := e.newLabel("cnt")
	e.emit(
		asm.JEq.Imm(asm.R1, 0, done),
		asm.Mov.Reg(asm.R7, asm.R1),
		asm.StoreMem(asm.R10, stackCounterKey, asm.R2, asm.Word),
	)
	g.countAt(e)
	e.mark(done)
	e.ret(0)
}

// mapLookup calls bpf_map_lookup_elem on the map with the key at the
// stack slot; r0 is the value's pointer or null.
func mapLookup(e *emitter, m string, key int16) {
	e.emit(
		asm.LoadMapPtr(asm.R1, 0).WithReference(m),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, int32(key)),
		asm.FnMapLookupElem.Call(),
	)
}
