package plan

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/bpftables/bpftables/translator"
)

// Lowerer is implemented by the matches the datapath can run: Lower
// appends the match's tests in the order the kernel's match function
// evaluates them, hot drops included.
type Lowerer interface {
	Lower(b *Builder) error
}

// Builder collects the tests of one rule.
type Builder struct {
	Family translator.Family
	match  string
	tests  []Test
	ifaces *[]string
	// nth numbers the plan's nth counters.
	nth, limits *int
	// chunk is where the bytes of the tests' values come from: many
	// rules' worth at a time instead of an allocation per value.
	chunk []byte
}

// chunkSize is how many bytes of test values are allocated at once.
const chunkSize = 4096

// bytes returns n zero bytes for a test's value. The slice's capacity
// ends with it, so an append to it cannot reach its neighbours; nothing
// writes a test's bytes once it is made.
func (b *Builder) bytes(n int) []byte {
	if len(b.chunk)+n > cap(b.chunk) {
		b.chunk = make([]byte, 0, max(chunkSize, n))
	}
	i := len(b.chunk)
	b.chunk = b.chunk[:i+n]
	return b.chunk[i : i+n : i+n]
}

// be returns v as n big-endian bytes.
func (b *Builder) be(v uint64, n int) []byte {
	out := b.bytes(n)
	for i := n - 1; i >= 0; i-- {
		out[i] = byte(v)
		v >>= 8
	}
	return out
}

func (b *Builder) add(t Test) {
	t.Match = b.match
	b.tests = append(b.tests, t)
}

// Eq adds (field & mask) == value, or its negation. value and mask are
// big-endian of the field's size.
func (b *Builder) Eq(f Field, value, mask []byte, inv bool) {
	b.add(Test{Field: f, Op: OpEq, Value: value, Mask: mask, Invert: inv})
}

// EqUint is Eq for a numeric field.
func (b *Builder) EqUint(f Field, value, mask uint64, inv bool) {
	n := f.Size(b.Family)
	b.Eq(f, b.be(value, n), b.be(mask, n), inv)
}

// RangeUint adds lo <= field <= hi, or its negation, for a numeric field.
// A single value becomes an exact test; the full range of a field adds no
// test (inverted, a test that never holds).
func (b *Builder) RangeUint(f Field, lo, hi uint64, inv bool) {
	n := f.Size(b.Family)
	max := uint64(1)<<(8*n) - 1
	switch {
	case lo == 0 && hi == max && !inv:
		return
	case lo == hi:
		b.EqUint(f, lo, max, inv)
		return
	}
	b.add(Test{Field: f, Op: OpRange, Lo: b.be(lo, n), Hi: b.be(hi, n), Invert: inv})
}

// Range adds lo <= field <= hi for a field compared as bytes (addresses).
func (b *Builder) Range(f Field, lo, hi []byte, inv bool) {
	b.add(Test{Field: f, Op: OpRange, Lo: lo, Hi: hi, Invert: inv})
}

// Set adds "field is in one of the ranges" for a port field.
func (b *Builder) Set(f Field, ranges [][2]uint16, inv bool) {
	b.add(Test{Field: f, Op: OpSet, Ranges: ranges, Invert: inv})
}

// SetEither adds "the source or the destination port is in one of the
// ranges".
func (b *Builder) SetEither(ranges [][2]uint16, inv bool) {
	b.add(Test{Field: FieldSport, Op: OpSetEither, Ranges: ranges, Invert: inv})
}

// HotDropIf drops the packet when lo <= field <= hi.
func (b *Builder) HotDropIf(f Field, lo, hi uint64) {
	n := f.Size(b.Family)
	b.add(Test{Field: f, Op: OpRange, Lo: b.be(lo, n), Hi: b.be(hi, n), HotDrop: true})
}

// NeedL4 drops the packet when fewer than n bytes of layer 4 header are
// there to read, as a match whose skb_header_pointer fails does.
func (b *Builder) NeedL4(n int) { b.HotDropIf(FieldL4Avail, 0, uint64(n-1)) }

// NotFragment fails the rule for a fragment that is not the first.
func (b *Builder) NotFragment() { b.EqUint(FieldFragOff, 0, 0xffff, false) }

// Never adds a test no packet passes (an inverted test of the whole
// range of a field), for matches that can never match.
func (b *Builder) Never() {
	b.add(Test{Field: FieldProto, Op: OpRange, Lo: []byte{0}, Hi: []byte{0xff}, Invert: true})
}

// Iface adds an interface pattern test on FieldInIface or FieldOutIface.
func (b *Builder) Iface(f Field, pattern string, inv bool) {
	idx := -1
	for i, p := range *b.ifaces {
		if p == pattern {
			idx = i
		}
	}
	if idx < 0 {
		idx = len(*b.ifaces)
		*b.ifaces = append(*b.ifaces, pattern)
	}
	b.add(Test{Field: f, Op: OpIface, Pattern: idx, Invert: inv})
}

func be(v uint64, n int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return append([]byte(nil), b[8-n:]...)
}

// builders keeps Builders between rules (and plans), with their scratch
// test list and the rest of their chunk.
var builders = sync.Pool{New: func() any { return &Builder{tests: make([]Test, 0, 16)} }}

// lowerRule lowers the header and matches of a rule, in the order
// ip_packet_match and the match loop of ipt_do_table evaluate them.
func lowerRule(r *translator.Rule, fam translator.Family, ifaces *[]string, nth, limits *int, slab *testSlab) ([]Test, error) {
	b := builders.Get().(*Builder)
	b.Family, b.match, b.ifaces, b.nth, b.limits = fam, "", ifaces, nth, limits
	defer func() {
		clear(b.tests)
		b.tests, b.ifaces, b.nth, b.limits = b.tests[:0], nil, nil, nil
		builders.Put(b)
	}()
	addr := func(f Field, a translator.AddrMask, inv bool) {
		if a.IsAny() && !inv {
			return
		}
		n := f.Size(fam)
		value, mask := b.bytes(n), b.bytes(n)
		if a.Addr.IsValid() {
			copy(value, a.Addr.AsSlice())
		}
		if a.Mask.IsValid() {
			copy(mask, a.Mask.AsSlice())
		}
		b.Eq(f, value, mask, inv)
	}
	addr(FieldSrc, r.Src, r.InvSrc)
	addr(FieldDst, r.Dst, r.InvDst)
	if r.InIface != "" {
		b.Iface(FieldInIface, r.InIface, r.InvIn)
	}
	if r.OutIface != "" {
		b.Iface(FieldOutIface, r.OutIface, r.InvOut)
	}
	if r.Proto != 0 {
		b.EqUint(FieldProto, uint64(r.Proto), 0xff, r.InvProto)
	}
	if r.Fragment {
		b.RangeUint(FieldFragOff, 1, 0x1fff, r.InvFragment)
	}
	for _, m := range r.Matches {
		l, ok := m.(Lowerer)
		if !ok {
			return nil, fmt.Errorf("match `%s' is %w", m.Name(), ErrNotInDatapath)
		}
		b.match = m.Name()
		if err := l.Lower(b); err != nil {
			return nil, fmt.Errorf("match `%s': %w", m.Name(), err)
		}
	}
	// the scratch list goes back to the pool: the rule gets a copy of
	// its exact size
	tests := slab.take(len(b.tests))
	copy(tests, b.tests)
	return tests, nil
}

// testSlab hands out the tests of rules from allocations of many rules'
// worth: a test is some 150 bytes, and a rule's own allocation was most
// of lowering's time.
type testSlab []Test

// take returns n tests; appending to them cannot reach their neighbours.
func (s *testSlab) take(n int) []Test {
	if len(*s)+n > cap(*s) {
		*s = make([]Test, 0, max(512, n))
	}
	i := len(*s)
	*s = (*s)[:i+n]
	return (*s)[i : i+n : i+n]
}
