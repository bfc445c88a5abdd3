package bpf

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/bpftables/bpftables/translator"
)

// Datapath is the part of the datapath in the kernel that outlives
// generations: the packet context, the config, the root program arrays
// and the hook programs. Its zero value is not usable; see NewDatapath.
type Datapath struct {
	Pkt    *ebpf.Map
	Config *ebpf.Map
	// CT is the connection table (ConntrackMapSpec), shared by the
	// generations of both families.
	CT *ebpf.Map
	// LogRing, LogDrops and LogRate are the LOG and NFLOG targets' ring
	// buffer, drop counters and rate limiter (log.go).
	LogRing, LogDrops, LogRate *ebpf.Map
	Root                       map[Kind]*ebpf.Map
	// Hooks are the hook programs by variant.
	Hooks map[HookSpec]*ebpf.Program
}

// HookSpecs lists the hook program variants of the kinds.
func HookSpecs(kinds ...Kind) []HookSpec {
	var hs []HookSpec
	for _, k := range kinds {
		points := []HookPoint{Ingress, Egress}
		if k == XDP {
			points = []HookPoint{XDPIngress}
		}
		for _, p := range points {
			hs = append(hs, HookSpec{Point: p, L2: 14}, HookSpec{Point: p, L2: 0})
		}
	}
	return hs
}

// DatapathOptions are how a datapath is made. The zero value is the
// default.
type DatapathOptions struct {
	// ConntrackSize is the number of entries of the connection table
	// (0: conntrack.DefaultTableSize).
	ConntrackSize int
	// LogBufferSize is the size in bytes of the LOG and NFLOG ring buffer
	// (0: DefaultLogBufferSize).
	LogBufferSize int
	// LogRate is the most LOG and NFLOG events a second (0:
	// DefaultLogRate; negative: no limit).
	LogRate int
}

// NewDatapath creates the stable maps and loads the hook programs of the
// kinds, with the default options. Close releases what was created.
func NewDatapath(kinds ...Kind) (*Datapath, error) {
	return NewDatapathWith(DatapathOptions{}, kinds...)
}

// NewDatapathWith is NewDatapath with options.
func NewDatapathWith(opts DatapathOptions, kinds ...Kind) (*Datapath, error) {
	d := &Datapath{Root: map[Kind]*ebpf.Map{}, Hooks: map[HookSpec]*ebpf.Program{}}
	var err error
	if d.Pkt, err = ebpf.NewMap(PacketMapSpec()); err != nil {
		return nil, fmt.Errorf("packet context map: %w", err)
	}
	if d.CT, err = ebpf.NewMap(ConntrackMapSpec(opts.ConntrackSize)); err != nil {
		d.Close()
		return nil, fmt.Errorf("connection table: %w", err)
	}
	if err := d.newLogMaps(opts); err != nil {
		d.Close()
		return nil, err
	}
	if d.Config, err = ebpf.NewMap(ConfigMapSpec()); err != nil {
		d.Close()
		return nil, fmt.Errorf("config map: %w", err)
	}
	for _, k := range kinds {
		if d.Root[k], err = ebpf.NewMap(RootMapSpec(k)); err != nil {
			d.Close()
			return nil, fmt.Errorf("root program array: %w", err)
		}
	}
	for _, h := range HookSpecs(kinds...) {
		spec := &ebpf.CollectionSpec{
			Maps: map[string]*ebpf.MapSpec{
				mapPkt: PacketMapSpec(), mapConfig: ConfigMapSpec(), rootMap(h.Point.kind()): RootMapSpec(h.Point.kind()),
			},
			Programs: map[string]*ebpf.ProgramSpec{h.Name(): HookProgram(h)},
		}
		coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{
			mapPkt: d.Pkt, mapConfig: d.Config, rootMap(h.Point.kind()): d.Root[h.Point.kind()],
		}})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("hook program %s: %w", h.Name(), explain(spec, err, func(string) []string { return nil }, nil))
		}
		d.Hooks[h] = coll.DetachProgram(h.Name())
		coll.Close()
	}
	return d, nil
}

// Close releases the datapath's maps and programs held by this process.
func (d *Datapath) Close() {
	for _, p := range d.Hooks {
		p.Close()
	}
	for _, m := range d.Root {
		m.Close()
	}
	if d.Config != nil {
		d.Config.Close()
	}
	if d.Pkt != nil {
		d.Pkt.Close()
	}
	if d.CT != nil {
		d.CT.Close()
	}
	for _, m := range []*ebpf.Map{d.LogRing, d.LogDrops, d.LogRate} {
		if m != nil {
			m.Close()
		}
	}
}

// newLogMaps creates the ring buffer, drop counters and rate limiter.
func (d *Datapath) newLogMaps(opts DatapathOptions) error {
	var err error
	if d.LogRing, err = ebpf.NewMap(LogRingSpec(opts.LogBufferSize)); err != nil {
		return fmt.Errorf("log ring buffer: %w", err)
	}
	if d.LogDrops, err = ebpf.NewMap(LogDropsSpec()); err != nil {
		return fmt.Errorf("log drop counters: %w", err)
	}
	if d.LogRate, err = ebpf.NewMap(LogRateSpec()); err != nil {
		return fmt.Errorf("log rate limiter: %w", err)
	}
	rate := opts.LogRate
	if rate == 0 {
		rate = DefaultLogRate
	}
	return SetLogRate(d.LogRate, max(rate, 0))
}

// Generation is a loaded generation.
type Generation struct {
	Spec *GenerationSpec
	Coll *ebpf.Collection
}

// Close releases the generation's programs and maps held by this process.
func (g *Generation) Close() { g.Coll.Close() }

// Load loads a generation: every map created and filled, every program
// verified, the program arrays filled. Nothing in force changes.
func (d *Datapath) Load(spec *GenerationSpec) (*Generation, error) {
	replace := map[string]*ebpf.Map{mapPkt: d.Pkt}
	if ms, ok := spec.Collection.Maps[MapConntrack]; ok {
		if d.CT == nil {
			return nil, fmt.Errorf("the datapath has no connection table")
		}
		// the table's size is the datapath's
		ms.MaxEntries = d.CT.MaxEntries()
		replace[MapConntrack] = d.CT
	}
	if ms, ok := spec.Collection.Maps[MapLogRing]; ok {
		if d.LogRing == nil || d.LogDrops == nil || d.LogRate == nil {
			return nil, fmt.Errorf("the datapath has no log ring buffer")
		}
		ms.MaxEntries = d.LogRing.MaxEntries()
		replace[MapLogRing], replace[MapLogDrops], replace[MapLogRate] = d.LogRing, d.LogDrops, d.LogRate
	}
	coll, err := ebpf.NewCollectionWithOptions(spec.Collection, ebpf.CollectionOptions{MapReplacements: replace})
	if err != nil {
		return nil, explain(spec.Collection, err, spec.chainsOf, replace)
	}
	for name, b := range spec.Fill {
		if b.Count == 0 {
			continue
		}
		m := coll.Maps[name]
		keys := rows(b.Keys, int(m.KeySize()), b.Count)
		values := rows(b.Values, int(m.ValueSize()), b.Count)
		if _, err := m.BatchUpdate(keys, values, nil); err != nil {
			coll.Close()
			return nil, fmt.Errorf("filling map %s with %d entries: %w", name, b.Count, err)
		}
	}
	return &Generation{Spec: spec, Coll: coll}, nil
}

// familySlot is a family's slot in the root program arrays.
func familySlot(f translator.Family) uint32 {
	if f == translator.IPv6 {
		return 1
	}
	return 0
}

// Swap makes the generation the one in force for its family: one update
// of the root program array slot per kind.
func (d *Datapath) Swap(g *Generation) error {
	for _, k := range g.Spec.Kinds {
		root, ok := d.Root[k]
		if !ok {
			return fmt.Errorf("the datapath has no %s root", k)
		}
		if err := root.Put(familySlot(g.Spec.Family), g.Coll.Programs[EntryProgram(k)]); err != nil {
			return fmt.Errorf("switching the %s root to the new generation: %w", k, err)
		}
	}
	return nil
}

// SetIfaces fills the generation's interface map: for each interface
// index, the bits of the plan's patterns its name matches; index 0 (no
// interface) matches the patterns that match an empty name.
func (g *Generation) SetIfaces(names map[uint32]string) error {
	m, pats := g.Coll.Maps[MapIfaces], g.Spec.Plan.Ifaces
	if err := PutIface(m, pats, 0, ""); err != nil {
		return err
	}
	for idx, name := range names {
		if err := PutIface(m, pats, idx, name); err != nil {
			return err
		}
	}
	return nil
}

// PutIface sets one interface's entry in a generation's interface map:
// the bits of the patterns (Plan.Ifaces) its name matches.
func PutIface(m *ebpf.Map, patterns []string, idx uint32, name string) error {
	var bits uint64
	for i, p := range patterns {
		if translator.IfaceMatch(p, name) {
			bits |= 1 << i
		}
	}
	return m.Put(idx, bits)
}

// Counter is a packet and byte count.
type Counter struct{ Packets, Bytes uint64 }

// Counters reads the generation's counters, summed over the CPUs: one per
// plan counter slot, then the failed-tail-call slot.
func (g *Generation) Counters() ([]Counter, error) { return ReadCounters(g.Coll.Maps[MapCounters]) }

// ReadCounters reads a per-CPU counter array in one batch and sums each
// slot over the CPUs.
func ReadCounters(m *ebpf.Map) ([]Counter, error) {
	n := int(m.MaxEntries())
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	per := make([]Counter, n*ncpu)
	if err := ReadArray(m, per, ncpu); err != nil {
		return nil, fmt.Errorf("reading counters: %w", err)
	}
	out := make([]Counter, n)
	for i := range out {
		for _, c := range per[i*ncpu : (i+1)*ncpu] {
			out[i].Packets += c.Packets
			out[i].Bytes += c.Bytes
		}
	}
	return out, nil
}

// ReadArray reads every element of an array map into values, in batches:
// values holds MaxEntries elements, times perElem (the number of possible
// CPUs for a per-CPU map, else 1).
func ReadArray[T any](m *ebpf.Map, values []T, perElem int) error {
	n := int(m.MaxEntries())
	if len(values) != n*perElem {
		return fmt.Errorf("reading %d elements into %d values", n, len(values))
	}
	keys := make([]uint32, n)
	var cursor ebpf.MapBatchCursor
	for done := 0; done < n; {
		got, err := m.BatchLookup(&cursor, keys[done:], values[done*perElem:], nil)
		done += got
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if got == 0 {
			return fmt.Errorf("read %d of %d elements", done, n)
		}
	}
	return nil
}

// WriteArray writes values to elements 0, 1, ... of an array map in one
// batch.
func WriteArray(m *ebpf.Map, values any, count int) error {
	if count == 0 {
		return nil
	}
	keys := make([]uint32, count)
	for i := range keys {
		keys[i] = uint32(i)
	}
	_, err := m.BatchUpdate(keys, values, nil)
	return err
}

// Rows views packed bytes as a slice of count arrays of size bytes, the
// shape BatchUpdate takes keys and values in.
func Rows(b []byte, size, count int) any { return rows(b, size, count) }

// rows views packed bytes as a slice of count arrays of size bytes, the
// shape BatchUpdate takes keys and values in.
func rows(b []byte, size, count int) any {
	t := reflect.SliceOf(reflect.ArrayOf(size, reflect.TypeOf(byte(0))))
	s := reflect.MakeSlice(t, count, count)
	copy(unsafe.Slice((*byte)(s.UnsafePointer()), size*count), b)
	return s.Interface()
}

// ABI identifies the contract between the hook programs and the
// generations they tail-call: the hook programs themselves (and with them
// the packet context layout they write and the maps they use). A datapath
// loaded by a build with another ABI cannot take this build's
// generations.
func ABI() [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "pkt %d\n", pktSize)
	for _, m := range []*ebpf.MapSpec{PacketMapSpec(), ConfigMapSpec(), RootMapSpec(TC), RootMapSpec(XDP)} {
		fmt.Fprintf(h, "%s %v %d %d %d\n", m.Name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries)
	}
	// the connection table's layout (its size may differ)
	ct := ConntrackMapSpec(0)
	fmt.Fprintf(h, "%s %v %d %d\n", ct.Name, ct.Type, ct.KeySize, ct.ValueSize)
	// the log maps and the event's layout (the ring's size may differ)
	for _, m := range []*ebpf.MapSpec{LogRingSpec(0), LogDropsSpec(), LogRateSpec()} {
		fmt.Fprintf(h, "%s %v %d %d\n", m.Name, m.Type, m.KeySize, m.ValueSize)
	}
	fmt.Fprintf(h, "log event %d\n", logEvent)
	for _, hs := range HookSpecs(TC, XDP) {
		fmt.Fprintf(h, "%s\n%v\n", hs.Name(), HookProgram(hs).Instructions)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// RootMapName names the root program array of a kind.
func RootMapName(k Kind) string { return rootMap(k) }

// FamilySlot is a family's slot in the root program arrays.
func FamilySlot(f translator.Family) uint32 { return familySlot(f) }

// ProgramArrayName names a generation's program array for a kind.
func ProgramArrayName(k Kind) string { return progsMap(k) }

// ProgramArrays names the generation's program arrays. They must stay
// pinned while the generation is in force: the kernel empties a program
// array when the last file descriptor or pin of it goes.
func (g *Generation) ProgramArrays() []string {
	var names []string
	for _, k := range g.Spec.Kinds {
		names = append(names, progsMap(k))
	}
	return names
}
