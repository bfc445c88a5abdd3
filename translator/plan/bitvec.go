package plan

import (
	"bytes"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// A BitVector segment classifies a run of rules of mixed shapes by the
// linear bit-vector search of bpf-iptables (Miano et al., 2019): each key
// (an address field, or a few small numeric fields together) maps the
// packet to a class, each class selects a bitmap with one bit per rule of
// the run - set when the rule's tests on the key's fields hold for the
// class - and the AND of the keys' bitmaps has the rules that match. The
// first set bit is the first matching rule; a rule that goes on after
// matching resumes the scan after its bit.
//
// Hot drops (a tcp match dropping a packet whose header is cut short) stay
// exact with a second vector: FIRE, per class of the hot-drop fields
// (fragment offset and layer 4 length), has the rules whose first hot-drop
// test that holds is reached when their earlier tests hold; ANDed with the
// keys' bitmaps of the tests before that hot-drop test, it has the rules
// that drop the packet. The first set bit of either vector decides.

// Bit-vector limits.
const (
	// DefaultBVMinRun is the shortest run worth a bit-vector segment:
	// below it straight-line code is as fast (measured with
	// the per-packet cost of make bench; see docs/datapath.md).
	DefaultBVMinRun = 24
	// DefaultBVChunk is how many rules share one set of bitmaps. A class
	// bitmap has a bit per rule of its chunk, and each chunk has about a
	// class per rule on an address key, so the bitmaps of n rules take
	// about n*chunk/8 bytes per address key: chunks bound that, at the
	// cost of one lookup per key and chunk.
	DefaultBVChunk = 2048
	// BVMaxRun bounds a segment's rules: the datapath's scan code grows
	// with them, and the verifier walks it.
	BVMaxRun = 65536
	// BVMaxGoOn bounds the rules of a segment that go on after matching
	// (no target, jumps): each may resume the scan, and the verifier
	// follows each resume.
	BVMaxGoOn = 512
	// BVYield is the length of a run of rules of one hash or LPM shape
	// that a bit-vector run stops before, leaving it to its lookup.
	BVYield = 256
	// bvMaxProduct bounds the classes of a key of several numeric fields.
	bvMaxProduct = 1024
)

// PreMode says what the hot-drop vector takes from a key.
type PreMode uint8

// Pre modes.
const (
	// PreSkip: no rule that can hot-drop tests the key's fields before
	// its hot-drop test.
	PreSkip PreMode = iota
	// PreSame: such rules test the key's fields only before: the match
	// bitmaps serve.
	PreSame
	// PreOwn: the key has bitmaps of its own for the tests before.
	PreOwn
)

var preNames = []string{"skip", "same", "own"}

func (m PreMode) String() string { return preNames[m] }

// BVSearch is how a BitVector segment classifies.
type BVSearch struct {
	Keys   []*BVKey
	Chunks []*BVChunk
	// Hot is the index of the key that holds the hot-drop fields, -1 when
	// no rule of the segment can hot-drop.
	Hot int
	// HotFire tells, per class of the hot key's leading hot-drop fields,
	// whether some rule may hot-drop packets of that class: others skip
	// the hot-drop vector.
	HotFire []bool
	// GoOn counts the rules that go on after matching: the most scans a
	// packet can resume.
	GoOn int
}

// BVPrefix is one prefix of an address key.
type BVPrefix struct {
	Addr []byte // masked to Len bits
	Len  int
}

// BVKey is one lookup of a bit-vector segment. An address key's class is
// the longest of its prefixes that contains the address: 0 for none, i+1
// for Prefixes[i]. A numeric key's class combines its fields' classes,
// the first field varying slowest: field i's class is the number of its
// Bounds at most the value, minus one.
type BVKey struct {
	Fields   []Field
	Prefixes []BVPrefix
	Bounds   [][]uint32
	// Classes is the number of classes.
	Classes int
	// HotFields is how many of the leading fields are the hot-drop fields
	// (fragment offset, layer 4 length); the classes they make together
	// index BVSearch.HotFire.
	HotFields int
	Pre       PreMode
	// up is, per prefix of an address key, the index of the longest
	// other prefix containing it, -1 for none: the nesting every chunk's
	// tables follow, computed once.
	up []int32
}

// IsAddr reports whether the key is an address key.
func (k *BVKey) IsAddr() bool { return k.Fields[0] == FieldSrc || k.Fields[0] == FieldDst }

// HotClasses returns the number of classes of the leading hot-drop
// fields, and how many classes of the rest each of them spans.
func (k *BVKey) HotClasses() (n, stride int) {
	n = 1
	for i := 0; i < k.HotFields; i++ {
		n *= len(k.Bounds[i])
	}
	return n, k.Classes / n
}

// BVTable is a bitmap per class: row i is Bits[i*Words:(i+1)*Words], bit
// j of the row (word j/64, bit j%64) standing for rule First+j of the
// chunk.
type BVTable struct {
	Words int
	Bits  []uint64
}

// Rows returns the number of bitmaps.
func (t BVTable) Rows() int {
	if t.Words == 0 {
		return 0
	}
	return len(t.Bits) / t.Words
}

// Row returns bitmap i.
func (t BVTable) Row(i int) []uint64 { return t.Bits[i*t.Words : (i+1)*t.Words] }

// BVChunk is a slice of a segment's rules with bitmaps of their own.
type BVChunk struct {
	First, Count int // positions in the segment
	Words        int
	// Local maps a key's classes to rows of its tables; nil where the
	// class is the row.
	Local [][]uint32
	// Match, per key: the rules whose tests on the key's fields hold (for
	// the hot key: and that do not hot-drop).
	Match []BVTable
	// Pre, per key in PreOwn mode: the rules whose tests on the key's
	// fields before their hot-drop test hold.
	Pre []BVTable
	// Fire, for the hot key: the rules that hot-drop packets of the class
	// when their tests on other keys before the hot-drop test hold.
	Fire BVTable
}

// Bytes returns the size of the chunk's bitmaps.
func (c *BVChunk) Bytes() int {
	n := len(c.Fire.Bits)
	for _, t := range c.Match {
		n += len(t.Bits)
	}
	for _, t := range c.Pre {
		n += len(t.Bits)
	}
	return 8 * n
}

// hotField reports whether hot-drop tests may test the field.
func hotField(f Field) bool { return f == FieldFragOff || f == FieldL4Avail }

// bvTest is a test as the bit-vector builder sees it: a prefix, or sets of
// value ranges.
type bvTest struct {
	pos    int
	field  Field
	invert bool
	addr   []byte
	plen   int
	ranges [][2]uint32 // sorted, disjoint, not adjacent
	// prefix indexes the address key's Prefixes (set by buildBitVector)
	prefix int32
}

// holds evaluates a numeric test on a value.
func (t *bvTest) holds(x uint32) bool {
	in := false
	for _, r := range t.ranges {
		if r[0] <= x && x <= r[1] {
			in = true
			break
		}
	}
	return in != t.invert
}

// bvRule is a rule as the bit-vector builder sees it.
type bvRule struct {
	tests []bvTest // conditions
	hot   []bvTest // hot-drop tests (never inverted)
	// firstHot is the position of the first hot-drop test that can be the
	// first to hold: the tests before it on other fields than the hot ones
	// are the rule's pre tests.
	firstHot int
}

// pre reports whether a test of the rule is among those the hot-drop
// vector takes from the keys.
func (r *bvRule) pre(t *bvTest) bool { return len(r.hot) > 0 && t.pos < r.firstHot }

// bvLower returns the rule as the bit-vector builder sees it, or nil when
// a test is not one it handles.
func bvLower(r *Rule, fam translator.Family) *bvRule {
	br := &bvRule{tests: make([]bvTest, 0, len(r.Tests))}
	seenAddr := [2]bool{}
	for i, t := range r.Tests {
		if t.Stateful() {
			return nil
		}
		bt := bvTest{pos: i, field: t.Field, invert: t.Invert}
		switch {
		case t.Field == FieldSrc || t.Field == FieldDst:
			n := prefixBits(t.Mask)
			if t.Op != OpEq || t.HotDrop || n < 0 || seenAddr[t.Field] {
				return nil
			}
			seenAddr[t.Field] = true
			bt.addr, bt.plen = maskTo(t.Value, n), n
		case t.Field.Size(fam) <= 2:
			rs, ok := numRanges(t, t.Field.Size(fam))
			if !ok {
				return nil
			}
			bt.ranges = rs
		default:
			return nil
		}
		if t.HotDrop {
			if !hotField(t.Field) || t.Invert {
				return nil
			}
			br.hot = append(br.hot, bt)
			continue
		}
		br.tests = append(br.tests, bt)
	}
	if len(br.hot) == 0 {
		return br
	}
	// Which hot-drop tests can be the first to hold: try every class of
	// the rule's own bounds on the hot fields.
	var fbounds, lbounds []uint32
	for _, list := range [][]bvTest{br.tests, br.hot} {
		for i := range list {
			switch list[i].field {
			case FieldFragOff:
				fbounds = appendBounds(fbounds, list[i].ranges, 0xffff)
			case FieldL4Avail:
				lbounds = appendBounds(lbounds, list[i].ranges, 0xffff)
			}
		}
	}
	fbounds, lbounds = sortBounds(fbounds), sortBounds(lbounds)
	lo, hi := -1, -1
	for _, fo := range fbounds {
		for _, l4 := range lbounds {
			if i := firstFiring(br.hot, fo, l4); i >= 0 {
				if lo < 0 || br.hot[i].pos < lo {
					lo = br.hot[i].pos
				}
				hi = max(hi, br.hot[i].pos)
			}
		}
	}
	if lo < 0 {
		br.hot = nil // no packet makes them hold
		return br
	}
	// The tests before the hot-drop test that fires must not depend on
	// which one fires, but on the hot fields.
	for i := range br.tests {
		if t := &br.tests[i]; !hotField(t.field) && t.pos > lo && t.pos < hi {
			return nil
		}
	}
	br.firstHot = lo
	return br
}

// firstFiring returns the index of the first hot-drop test that holds for
// the fragment offset and layer 4 length, or -1.
func firstFiring(hot []bvTest, fo, l4 uint32) int {
	for i := range hot {
		x := fo
		if hot[i].field == FieldL4Avail {
			x = l4
		}
		if hot[i].holds(x) {
			return i
		}
	}
	return -1
}

// prefixBits returns the prefix length of a contiguous mask, or -1.
func prefixBits(mask []byte) int {
	n := 0
	for n < 8*len(mask) && bit(mask, n) == 1 {
		n++
	}
	for i := n; i < 8*len(mask); i++ {
		if bit(mask, i) == 1 {
			return -1
		}
	}
	return n
}

func maskTo(addr []byte, n int) []byte {
	out := make([]byte, len(addr))
	for i := range out {
		switch {
		case n >= 8*(i+1):
			out[i] = addr[i]
		case n > 8*i:
			out[i] = addr[i] & byte(0xff<<(8-(n-8*i)))
		}
	}
	return out
}

// numRanges returns the values a numeric test's condition holds for, as
// sorted, merged ranges; false when a 16-bit field has a mask that is not
// a run of high bits.
func numRanges(t Test, size int) ([][2]uint32, bool) {
	max := uint32(1)<<(8*size) - 1
	var rs [][2]uint32
	switch t.Op {
	case OpEq:
		v, m := uint32(uintBE(t.Value)), uint32(uintBE(t.Mask))
		switch {
		case m == max:
			rs = [][2]uint32{{v, v}}
		case size == 1:
			for x := uint32(0); x <= max; x++ {
				if x&m == v {
					rs = append(rs, [2]uint32{x, x})
				}
			}
		default:
			low := ^m & max
			switch {
			case low&(low+1) != 0:
				return nil, false // not a run of high bits
			case v&low != 0:
				return nil, true // never holds
			}
			rs = [][2]uint32{{v, v | low}}
		}
	case OpRange:
		lo, hi := uint32(uintBE(t.Lo)), uint32(uintBE(t.Hi))
		if lo <= hi {
			rs = [][2]uint32{{lo, hi}}
		}
	case OpSet:
		for _, r := range t.Ranges {
			if r[0] <= r[1] {
				rs = append(rs, [2]uint32{uint32(r[0]), uint32(r[1])})
			}
		}
	default:
		return nil, false
	}
	return mergeRanges(rs), true
}

func uintBE(b []byte) uint64 {
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x
}

// mergeRanges sorts ranges and joins those that overlap or touch.
func mergeRanges(rs [][2]uint32) [][2]uint32 {
	sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && uint64(r[0]) <= uint64(out[n-1][1])+1 {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// appendBounds adds the class bounds a test's ranges make: each range's
// start and the value after its end.
func appendBounds(b []uint32, rs [][2]uint32, max uint32) []uint32 {
	for _, r := range rs {
		b = append(b, r[0])
		if r[1] < max {
			b = append(b, r[1]+1)
		}
	}
	return b
}

// sortBounds sorts and dedups bounds, with 0 first.
func sortBounds(b []uint32) []uint32 {
	b = append(b, 0)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	out := b[:1]
	for _, x := range b[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}

// classOf returns the class of x among bounds.
func classOf(bounds []uint32, x uint32) int {
	return sort.Search(len(bounds), func(i int) bool { return bounds[i] > x }) - 1
}

// comparePrefix orders prefixes by address, then length: a prefix comes
// before the prefixes it contains.
func comparePrefix(a, b BVPrefix) int {
	if c := bytes.Compare(a.Addr, b.Addr); c != 0 {
		return c
	}
	return a.Len - b.Len
}

func (a BVPrefix) contains(b BVPrefix) bool {
	if a.Len > b.Len {
		return false
	}
	n := a.Len / 8
	if !bytes.Equal(a.Addr[:n], b.Addr[:n]) {
		return false
	}
	if r := a.Len % 8; r != 0 {
		m := byte(0xff << (8 - r))
		return a.Addr[n]&m == b.Addr[n]&m
	}
	return true
}

func prefixKey(addr []byte, n int) string { return string(addr) + string(rune(n)) }

// nesting returns, for prefixes in address order (each after those that
// contain it), the index of the longest other prefix containing each, -1
// for none.
func nesting(ps []BVPrefix) []int32 {
	up := make([]int32, len(ps))
	stack := make([]int32, 0, 32)
	for i, p := range ps {
		for len(stack) > 0 && !ps[stack[len(stack)-1]].contains(p) {
			stack = stack[:len(stack)-1]
		}
		up[i] = -1
		if len(stack) > 0 {
			up[i] = stack[len(stack)-1]
		}
		stack = append(stack, int32(i))
	}
	return up
}

// buildBitVector builds the classifier of a run of rules.
func buildBitVector(rules []*Rule, low []*bvRule, fam translator.Family, chunk int) *BVSearch {
	bv := &BVSearch{Hot: -1}
	for _, r := range rules {
		if !r.Kind.Terminal() {
			bv.GoOn++
		}
	}
	hasHot := false
	// Fields the run tests, and their global classes.
	var addrKeys []*BVKey
	bounds := map[Field][]uint32{}
	for _, f := range []Field{FieldSrc, FieldDst} {
		seen := map[string]int32{}
		var ps []BVPrefix
		for _, br := range low {
			for i := range br.tests {
				t := &br.tests[i]
				if t.field != f {
					continue
				}
				k := prefixKey(t.addr, t.plen)
				if _, ok := seen[k]; !ok {
					seen[k] = int32(len(ps))
					ps = append(ps, BVPrefix{Addr: t.addr, Len: t.plen})
				}
			}
		}
		if len(ps) == 0 {
			continue
		}
		// sort, then tell each test its prefix's place
		order := make([]int32, len(ps))
		for i := range order {
			order[i] = int32(i)
		}
		sort.Slice(order, func(i, j int) bool { return comparePrefix(ps[order[i]], ps[order[j]]) < 0 })
		at := make([]int32, len(ps))
		sorted := make([]BVPrefix, len(ps))
		for i, o := range order {
			at[o] = int32(i)
			sorted[i] = ps[o]
		}
		for _, br := range low {
			for i := range br.tests {
				if t := &br.tests[i]; t.field == f {
					t.prefix = at[seen[prefixKey(t.addr, t.plen)]]
				}
			}
		}
		addrKeys = append(addrKeys, &BVKey{Fields: []Field{f}, Prefixes: sorted, Classes: len(sorted) + 1, up: nesting(sorted)})
	}
	for _, br := range low {
		if len(br.hot) > 0 {
			hasHot = true
		}
		for _, list := range [][]bvTest{br.tests, br.hot} {
			for i := range list {
				if t := &list[i]; t.addr == nil {
					max := uint32(1)<<(8*t.field.Size(fam)) - 1
					bounds[t.field] = appendBounds(bounds[t.field], t.ranges, max)
				}
			}
		}
	}
	var numFields []Field
	for f := range bounds {
		bounds[f] = sortBounds(bounds[f])
		numFields = append(numFields, f)
	}
	// Group numeric fields into keys while the product of their classes
	// stays small, so that fewer bitmaps are ANDed per word: the hot
	// fields first, then the fields tested only before hot drops (the
	// protocol), whose tests the hot-drop vector then finds in the hot
	// key, then the fields with fewest classes.
	preOnly := map[Field]bool{}
	post := map[Field]bool{}
	for _, br := range low {
		for i := range br.tests {
			if t := &br.tests[i]; len(br.hot) > 0 {
				if br.pre(t) {
					preOnly[t.field] = true
				} else {
					post[t.field] = true
				}
			}
		}
	}
	rank := func(f Field) int {
		switch {
		case !hasHot:
			return 2
		case hotField(f):
			return 0
		case preOnly[f] && !post[f]:
			return 1
		}
		return 2
	}
	sort.Slice(numFields, func(i, j int) bool {
		a, b := numFields[i], numFields[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if len(bounds[a]) != len(bounds[b]) {
			return len(bounds[a]) < len(bounds[b])
		}
		return a < b
	})
	var numKeys []*BVKey
	for _, f := range numFields {
		n := len(bounds[f])
		if k := len(numKeys) - 1; k >= 0 && (numKeys[k].Classes*n <= bvMaxProduct || hasHot && hotField(f)) {
			numKeys[k].Fields = append(numKeys[k].Fields, f)
			numKeys[k].Bounds = append(numKeys[k].Bounds, bounds[f])
			numKeys[k].Classes *= n
			continue
		}
		numKeys = append(numKeys, &BVKey{Fields: []Field{f}, Bounds: [][]uint32{bounds[f]}, Classes: n})
	}
	if hasHot {
		k := numKeys[0]
		for k.HotFields < len(k.Fields) && hotField(k.Fields[k.HotFields]) {
			k.HotFields++
		}
		bv.Hot = len(addrKeys)
	}
	bv.Keys = append(addrKeys, numKeys...)
	// Pre modes: what the rules that can hot-drop test before doing so.
	for ki, k := range bv.Keys {
		if ki == bv.Hot {
			continue
		}
		in := map[Field]bool{}
		for _, f := range k.Fields {
			in[f] = true
		}
		pre, post := false, false
		for _, br := range low {
			if len(br.hot) == 0 {
				continue
			}
			for i := range br.tests {
				if t := &br.tests[i]; in[t.field] {
					if br.pre(t) {
						pre = true
					} else {
						post = true
					}
				}
			}
		}
		switch {
		case pre && post:
			k.Pre = PreOwn
		case pre:
			k.Pre = PreSame
		}
	}
	if hasHot {
		k := bv.Keys[bv.Hot]
		n, _ := k.HotClasses()
		bv.HotFire = make([]bool, n)
	}
	for first := 0; first < len(rules); first += chunk {
		count := min(chunk, len(rules)-first)
		bv.Chunks = append(bv.Chunks, bv.buildChunk(low[first:first+count], first, len(rules) > chunk))
	}
	return bv
}

// buildChunk computes the bitmaps of one chunk.
func (bv *BVSearch) buildChunk(low []*bvRule, first int, local bool) *BVChunk {
	c := &BVChunk{First: first, Count: len(low), Words: (len(low) + 63) / 64}
	c.Local = make([][]uint32, len(bv.Keys))
	c.Match = make([]BVTable, len(bv.Keys))
	c.Pre = make([]BVTable, len(bv.Keys))
	for ki, k := range bv.Keys {
		if k.IsAddr() {
			c.Local[ki], c.Match[ki], c.Pre[ki] = addrTables(k, low, c.Words, local)
			continue
		}
		c.numTables(bv, ki, low, local)
	}
	return c
}

// addrTables computes an address key's bitmaps for the chunk's own
// prefixes (its local classes) and, for several chunks, which local class
// each of the key's classes falls in.
func addrTables(k *BVKey, low []*bvRule, words int, local bool) ([]uint32, BVTable, BVTable) {
	f := k.Fields[0]
	// the tests on each prefix, and the rules that test none
	type use struct {
		rule      int
		inv, pre  bool
		prefixIdx int
	}
	uses := make([]use, 0, len(low))
	inChunk := make([]bool, len(k.Prefixes))
	wild := make([]uint64, words)    // no test: always set
	wildPre := make([]uint64, words) // no pre test: always set
	for r, br := range low {
		found := false
		for i := range br.tests {
			if t := &br.tests[i]; t.field == f {
				p := int(t.prefix)
				inChunk[p] = true
				uses = append(uses, use{rule: r, inv: t.invert, pre: br.pre(t), prefixIdx: p})
				found = true
				if !br.pre(t) {
					wildPre[r/64] |= 1 << (r % 64)
				}
			}
		}
		if !found {
			wild[r/64] |= 1 << (r % 64)
			wildPre[r/64] |= 1 << (r % 64)
		}
	}
	// Local classes: the chunk's prefixes in order; each global class
	// falls in the longest chunk prefix containing it.
	localOf := make([]uint32, len(k.Prefixes)) // 1-based, 0: none
	n := 0
	for i := range k.Prefixes {
		if inChunk[i] || !local {
			n++
			localOf[i] = uint32(n)
		}
	}
	parent := make([]uint32, n+1) // local parent of each local class
	var loc []uint32
	if local {
		loc = make([]uint32, len(k.Prefixes)+1)
	}
	// each prefix's local class: its own, or that of the longest prefix
	// containing it (which comes first)
	class := make([]uint32, len(k.Prefixes))
	for i := range k.Prefixes {
		up := uint32(0)
		if g := k.up[i]; g >= 0 {
			up = class[g]
		}
		l := up
		if localOf[i] != 0 {
			l = localOf[i]
			parent[l] = up
		}
		class[i] = l
		if loc != nil {
			loc[i+1] = l
		}
	}
	// per local class, the rules testing exactly its prefix
	byLocal := make([][]use, n+1)
	for _, u := range uses {
		l := localOf[u.prefixIdx]
		byLocal[l] = append(byLocal[l], u)
	}
	build := func(base []uint64, pre bool) BVTable {
		t := BVTable{Words: words, Bits: make([]uint64, (n+1)*words)}
		row0 := t.Row(0)
		copy(row0, base)
		// every inverted test holds outside its prefix
		for _, u := range uses {
			if u.inv && (!pre || u.pre) {
				row0[u.rule/64] |= 1 << (u.rule % 64)
			}
		}
		for l := 1; l <= n; l++ {
			row := t.Row(l)
			copy(row, t.Row(int(parent[l])))
			for _, u := range byLocal[l] {
				if pre && !u.pre {
					continue
				}
				if u.inv {
					row[u.rule/64] &^= 1 << (u.rule % 64)
				} else {
					row[u.rule/64] |= 1 << (u.rule % 64)
				}
			}
		}
		return t
	}
	m := build(wild, false)
	var p BVTable
	if k.Pre == PreOwn {
		p = build(wildPre, true)
	}
	return loc, m, p
}

// fieldTables computes, for one numeric field, the bitmap of each of its
// classes: the rules whose tests on the field (all of them, or the pre
// tests only) hold. A sweep over the classes keeps per rule the number of
// its tests that hold.
func fieldTables(f Field, b []uint32, low []*bvRule, words int, pre bool) []uint64 {
	n := len(b)
	out := make([]uint64, n*words)
	cur := make([]uint64, words)
	need := make([]int32, len(low))
	have := make([]int32, len(low))
	type event struct {
		rule  int32
		delta int32
	}
	events := make([][]event, n+1)
	for r, br := range low {
		for i := range br.tests {
			t := &br.tests[i]
			if t.field != f || pre && !br.pre(t) {
				continue
			}
			need[r]++
			// the class intervals where the test holds
			prev := 0
			add := func(a, z int) { // classes a..z-1
				if a < z {
					events[a] = append(events[a], event{int32(r), 1})
					events[z] = append(events[z], event{int32(r), -1})
				}
			}
			for _, rg := range t.ranges {
				a, z := classOf(b, rg[0]), classOf(b, rg[1])+1
				if t.invert {
					add(prev, a)
				} else {
					add(a, z)
				}
				prev = z
			}
			if t.invert {
				add(prev, n)
			}
		}
		if need[r] == 0 {
			cur[r/64] |= 1 << (r % 64)
		}
	}
	for c := 0; c < n; c++ {
		for _, e := range events[c] {
			have[e.rule] += e.delta
			if have[e.rule] == need[e.rule] {
				cur[e.rule/64] |= 1 << (e.rule % 64)
			} else {
				cur[e.rule/64] &^= 1 << (e.rule % 64)
			}
		}
		copy(out[c*words:], cur)
	}
	return out
}

// numTables computes a numeric key's bitmaps for every class: the AND of
// its fields' bitmaps; for the hot key, the hot-drop fields' classes are
// judged per rule.
func (c *BVChunk) numTables(bv *BVSearch, ki int, low []*bvRule, local bool) {
	k := bv.Keys[ki]
	w := c.Words
	// factors: per field, or the hot fields together, a bitmap per class
	// (with several chunks, per class of the chunk's own bounds: the
	// segment's classes map to them)
	type factor struct {
		n      int
		m, p   []uint64
		stride int
		to     []int // the key's class digit -> the factor's class
	}
	var factors []factor
	start := 0
	if ki == bv.Hot {
		m, fire, fires := hotTables(k, low, w)
		for h, f := range fires {
			bv.HotFire[h] = bv.HotFire[h] || f
		}
		n, _ := k.HotClasses()
		factors = append(factors, factor{n: n, m: m, p: fire})
		start = k.HotFields
	}
	for i := start; i < len(k.Fields); i++ {
		b := k.Bounds[i]
		f := factor{}
		if local {
			var lb []uint32
			max := uint32(1)<<(8*k.Fields[i].Size(translator.IPv4)) - 1
			for _, br := range low {
				for j := range br.tests {
					if t := &br.tests[j]; t.field == k.Fields[i] {
						lb = appendBounds(lb, t.ranges, max)
					}
				}
			}
			lb = sortBounds(lb)
			f.to = make([]int, len(b))
			for d, x := range b {
				f.to[d] = classOf(lb, x)
			}
			b = lb
		}
		f.n = len(b)
		f.m = fieldTables(k.Fields[i], b, low, w, false)
		if ki == bv.Hot || k.Pre == PreOwn {
			f.p = fieldTables(k.Fields[i], b, low, w, true)
		}
		factors = append(factors, f)
	}
	stride := 1
	for i := len(factors) - 1; i >= 0; i-- {
		factors[i].stride = stride
		stride *= factors[i].n
	}
	rows := stride
	if local {
		// the key's class -> the chunk's: its digits, each mapped
		c.Local[ki] = make([]uint32, k.Classes)
		for g := range c.Local[ki] {
			l, rest := 0, g
			for i := len(factors) - 1; i >= 0; i-- {
				f := factors[i]
				digits := f.n
				if f.to != nil {
					digits = len(f.to)
				}
				d := rest % digits
				rest /= digits
				if f.to != nil {
					d = f.to[d]
				}
				l += d * f.stride
			}
			c.Local[ki][g] = uint32(l)
		}
	}
	m := BVTable{Words: w, Bits: make([]uint64, rows*w)}
	var p BVTable
	wantP := ki == bv.Hot || k.Pre == PreOwn
	if wantP {
		p = BVTable{Words: w, Bits: make([]uint64, rows*w)}
	}
	// row g is the AND of each factor's table at g's digit for it
	and := func(row []uint64, g int, table func(factor) []uint64) {
		for i, f := range factors {
			d := g / f.stride % f.n
			src := table(f)[d*w : (d+1)*w]
			if i == 0 {
				copy(row, src)
				continue
			}
			for j := range row {
				row[j] &= src[j]
			}
		}
	}
	for g := 0; g < rows; g++ {
		and(m.Row(g), g, func(f factor) []uint64 { return f.m })
		if wantP {
			and(p.Row(g), g, func(f factor) []uint64 { return f.p })
		}
	}
	c.Match[ki] = m
	if ki == bv.Hot {
		c.Fire = p
	} else {
		c.Pre[ki] = p
	}
}

// hotTables judges the rules for each class of the hot-drop fields: the
// match bitmap has the rules whose tests on them hold and that do not
// hot-drop; the fire bitmap those that hot-drop when their tests on other
// fields before the hot-drop test hold.
func hotTables(k *BVKey, low []*bvRule, w int) (m, fire []uint64, fires []bool) {
	n, _ := k.HotClasses()
	m = make([]uint64, n*w)
	fire = make([]uint64, n*w)
	fires = make([]bool, n)
	vals := make([]uint32, k.HotFields)
	for h := 0; h < n; h++ {
		rest := h
		for i := k.HotFields - 1; i >= 0; i-- {
			b := k.Bounds[i]
			vals[i] = b[rest%len(b)]
			rest /= len(b)
		}
		value := func(f Field) uint32 {
			for i := 0; i < k.HotFields; i++ {
				if k.Fields[i] == f {
					return vals[i]
				}
			}
			return 0 // not tested: no test reads it
		}
		fo, l4 := value(FieldFragOff), value(FieldL4Avail)
		for r, br := range low {
			hit := firstFiring(br.hot, fo, l4)
			ok, okBefore := true, true
			for i := range br.tests {
				t := &br.tests[i]
				if !hotField(t.field) {
					continue
				}
				if !t.holds(value(t.field)) {
					ok = false
					if hit >= 0 && t.pos < br.hot[hit].pos {
						okBefore = false
					}
				}
			}
			if hit < 0 && ok {
				m[h*w+r/64] |= 1 << (r % 64)
			}
			if hit >= 0 && okBefore {
				fire[h*w+r/64] |= 1 << (r % 64)
				fires[h] = true
			}
		}
	}
	return m, fire, fires
}

// Class returns the packet's class for the key.
func (k *BVKey) Class(v Values) int {
	if k.IsAddr() {
		addr := v[k.Fields[0]]
		best := -1
		for i, p := range k.Prefixes {
			if (best < 0 || p.Len > k.Prefixes[best].Len) && contains(p.Addr, p.Len, addr) {
				best = i
			}
		}
		return best + 1
	}
	c := 0
	for i, f := range k.Fields {
		c = c*len(k.Bounds[i]) + classOf(k.Bounds[i], uint32(uintBE(v[f])))
	}
	return c
}

// Scan returns the position of the first rule at or after start whose
// bit is set in the match or the hot-drop vector of the packet, and
// whether it is a hot drop; -1 when there is none.
func (bv *BVSearch) Scan(v Values, start int) (pos int, hot bool) {
	classes := make([]int, len(bv.Keys))
	for i, k := range bv.Keys {
		classes[i] = k.Class(v)
	}
	checkHot := false
	if bv.Hot >= 0 {
		_, stride := bv.Keys[bv.Hot].HotClasses()
		checkHot = bv.HotFire[classes[bv.Hot]/stride]
	}
	for _, c := range bv.Chunks {
		if start >= c.First+c.Count {
			continue
		}
		local := func(ki int) int {
			if c.Local[ki] != nil {
				return int(c.Local[ki][classes[ki]])
			}
			return classes[ki]
		}
		rows := func(t []BVTable, ki int) []uint64 { return t[ki].Row(local(ki)) }
		for w := 0; w < c.Words; w++ {
			x := ^uint64(0)
			for ki := range bv.Keys {
				x &= rows(c.Match, ki)[w]
			}
			var d uint64
			if checkHot {
				d = c.Fire.Row(local(bv.Hot))[w]
				for ki, k := range bv.Keys {
					switch {
					case ki == bv.Hot:
					case k.Pre == PreSame:
						d &= rows(c.Match, ki)[w]
					case k.Pre == PreOwn:
						d &= rows(c.Pre, ki)[w]
					}
				}
			}
			x |= d
			base := c.First + 64*w
			if start > base {
				if start-base >= 64 {
					continue
				}
				x &^= 1<<(start-base) - 1
			}
			if x == 0 {
				continue
			}
			b := bits.TrailingZeros64(x)
			return base + b, d&(1<<b) != 0
		}
	}
	return -1, false
}

// Bytes returns the size of the segment's bitmaps.
func (bv *BVSearch) Bytes() int {
	n := 0
	for _, c := range bv.Chunks {
		n += c.Bytes()
	}
	return n
}

// describeClass prints a key's class.
func (k *BVKey) describeClass(g int) string {
	if k.IsAddr() {
		if g == 0 {
			return "none"
		}
		p := k.Prefixes[g-1]
		return Test{Field: k.Fields[0]}.value(p.Addr) + fmt.Sprintf("/%d", p.Len)
	}
	var parts []string
	for i := len(k.Fields) - 1; i >= 0; i-- {
		b := k.Bounds[i]
		c := g % len(b)
		g /= len(b)
		hi := fmt.Sprint(uint32(1)<<(8*k.Fields[i].Size(translator.IPv4)) - 1)
		if c+1 < len(b) {
			hi = fmt.Sprint(b[c+1] - 1)
		}
		parts = append([]string{fmt.Sprintf("%s %d..%s", k.Fields[i], b[c], hi)}, parts...)
	}
	return strings.Join(parts, " ")
}

// bvRuns finds the runs of rules a bit-vector segment can take. Rules are
// lowered for it only as far as a run is asked for: a chain that hash or
// LPM segments take whole needs none.
type bvRuns struct {
	rules []*Rule
	fam   translator.Family
	low   []*bvRule
	// lowered[i]: low[i] is computed (nil: the bit-vector cannot take
	// rule i)
	lowered []bool
	// yield[i] is the first rule at or after i that starts a run of one
	// hash or LPM shape that is long, or that jumps: a lookup selects one
	// jump, where each jump of a bit-vector counts against the tail-call
	// limit (see checkTailCalls).
	yield []int
	// goOn[i] counts the rules before i that go on after matching.
	goOn []int
}

func newBVRuns(rules []*Rule, fam translator.Family, minRun int, sh shapes) *bvRuns {
	n := len(rules)
	b := &bvRuns{rules: rules, fam: fam, low: make([]*bvRule, n), lowered: make([]bool, n), yield: make([]int, n+1), goOn: make([]int, n+1)}
	jumps := make([]int, n+1)
	for i, r := range rules {
		b.goOn[i+1] = b.goOn[i]
		if !r.Kind.Terminal() {
			b.goOn[i+1]++
		}
		jumps[i+1] = jumps[i]
		if r.Kind == ActJump || r.Kind == ActGoto {
			jumps[i+1]++
		}
	}
	b.yield[n] = n
	hashLen, lpmLen := 0, 0
	for i := n - 1; i >= 0; i-- {
		if i+1 < n && sh.hash[i] == sh.hash[i+1] {
			hashLen++
		} else {
			hashLen = 1
		}
		if i+1 < n && sh.lpm[i] != 0 && sh.lpm[i] == sh.lpm[i+1] {
			lpmLen++
		} else {
			lpmLen = 1
		}
		b.yield[i] = b.yield[i+1]
		long := func(l int) bool { return l >= BVYield || l >= minRun && jumps[i+l] > jumps[i] }
		startsHash := (i == 0 || sh.hash[i-1] != sh.hash[i]) && long(hashLen)
		startsLPM := sh.lpm[i] != 0 && (i == 0 || sh.lpm[i-1] != sh.lpm[i]) && long(lpmLen)
		if startsHash || startsLPM {
			b.yield[i] = i
		}
	}
	return b
}

// lowAt returns rule i lowered for a bit-vector, nil if it cannot take it.
func (b *bvRuns) lowAt(i int) *bvRule {
	if !b.lowered[i] {
		if b.rules[i].Kind != ActReject { // REJECT runs as linear code only
			b.low[i] = bvLower(b.rules[i], b.fam)
		}
		b.lowered[i] = true
	}
	return b.low[i]
}

// lows returns rules i to j-1 lowered, all of which a bit-vector takes.
func (b *bvRuns) lows(i, j int) []*bvRule {
	for k := i; k < j; k++ {
		b.lowAt(k)
	}
	return b.low[i:j]
}

// endAt returns the first rule from i on, before limit, the bit-vector
// cannot take, or limit. Segmenting asks from where the last run ended,
// and each rule is lowered once: the scans add up to about the chain.
func (b *bvRuns) endAt(i, limit int) int {
	for j := i; j < limit; j++ {
		if b.lowAt(j) == nil {
			return j
		}
	}
	return limit
}

// length returns how many rules from i one bit-vector segment takes.
func (b *bvRuns) length(i int) int {
	if b.lowAt(i) == nil {
		return 0
	}
	end := min(b.yield[i+1], i+BVMaxRun, len(b.rules))
	end = b.endAt(i, end)
	// at most BVMaxGoOn rules that go on
	if b.goOn[end]-b.goOn[i] > BVMaxGoOn {
		end = i + sort.Search(end-i, func(k int) bool { return b.goOn[i+k+1]-b.goOn[i] > BVMaxGoOn })
	}
	return end - i
}

// bvPrintRows is how many classes of a key Print lists with their rules.
const bvPrintRows = 48

// print writes the keys, their classes and, for small segments, each
// class's bitmaps as the rules they hold (their indexes in the chain).
func (bv *BVSearch) print(w io.Writer, rules []*Rule) {
	list := func(row []uint64, first int) string {
		var parts []string
		for i, x := range row {
			for x != 0 {
				b := bits.TrailingZeros64(x)
				x &^= 1 << b
				parts = append(parts, fmt.Sprint(rules[first+64*i+b].Index))
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	for ki, k := range bv.Keys {
		var names []string
		for _, f := range k.Fields {
			names = append(names, f.String())
		}
		extra := ""
		if ki == bv.Hot {
			var fire []string
			for h, f := range bv.HotFire {
				if f {
					fire = append(fire, fmt.Sprint(h))
				}
			}
			extra = fmt.Sprintf(", hot drops in hot classes {%s}", strings.Join(fire, ","))
		} else if bv.Hot >= 0 {
			extra = ", hot-drop vector: " + k.Pre.String()
		}
		fmt.Fprintf(w, "    key %s: %d classes%s\n", strings.Join(names, ","), k.Classes, extra)
		for ci, c := range bv.Chunks {
			rows := c.Match[ki].Rows()
			fmt.Fprintf(w, "      chunk %d: rules %d..%d, %d bitmaps\n", ci+1, rules[c.First].Index, rules[c.First+c.Count-1].Index, rows)
			if len(bv.Chunks) > 1 {
				continue
			}
			if k.Classes > bvPrintRows {
				// the fields' classes, and the distinct bitmaps
				for i, f := range k.Fields {
					if k.IsAddr() {
						fmt.Fprintf(w, "        %s classes from %d prefixes\n", f, len(k.Prefixes))
						continue
					}
					var b []string
					for _, x := range k.Bounds[i] {
						b = append(b, fmt.Sprint(x))
					}
					fmt.Fprintf(w, "        %s classes from %s\n", f, strings.Join(b, "|"))
				}
				seen := map[string]bool{}
				for g := 0; g < k.Classes; g++ {
					l := list(c.Match[ki].Row(g), c.First)
					if !seen[l] {
						seen[l] = true
						fmt.Fprintf(w, "        bitmap %s first at %s\n", l, k.describeClass(g))
					}
				}
				continue
			}
			for g := 0; g < k.Classes; g++ {
				line := fmt.Sprintf("        %s: %s", k.describeClass(g), list(c.Match[ki].Row(g), c.First))
				if ki == bv.Hot && c.Fire.Rows() > 0 {
					if f := c.Fire.Row(g); !allZero(f) {
						line += " hot-drop " + list(f, c.First)
					}
				} else if k.Pre == PreOwn {
					line += " before hot drops " + list(c.Pre[ki].Row(g), c.First)
				}
				fmt.Fprintln(w, line)
			}
		}
	}
}

func allZero(ws []uint64) bool {
	for _, x := range ws {
		if x != 0 {
			return false
		}
	}
	return true
}
