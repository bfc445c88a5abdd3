package live

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/bpf/attach"
	"github.com/bpftables/bpftables/bpf/state"
	"github.com/bpftables/bpftables/translator"
)

// Options are how a namespace's datapath is opened.
type Options struct {
	// Wait is how long Open waits for the lock held by another writer:
	// 0 not at all, state.WaitForever until it is free, else that long.
	Wait time.Duration
	// XDP runs the ingress hooks at XDP instead of tc ingress.
	XDP bool
	// Clsact attaches with clsact and cls_bpf even where TCX exists.
	Clsact bool
	// Layout is where state lives; the zero value is the system's.
	Layout state.Layout
	// ConntrackSize is the number of entries of the connection table
	// when the datapath is created (0: the default, 65536); a datapath
	// already in place keeps its table.
	ConntrackSize int
	// LogBufferSize is the size in bytes of the LOG and NFLOG ring
	// buffer when the datapath is created (0: bpf.DefaultLogBufferSize);
	// a datapath already in place keeps its ring and the events in it.
	LogBufferSize int
	// LogRate is the most LOG and NFLOG events a second, set at every
	// Open for writing (0: bpf.DefaultLogRate; negative: no limit).
	LogRate int
	// Grace, when set, is how long a replaced generation may still be
	// counting packets that entered it before the switch; its counters
	// are read a last time after it. Zero waits for exactly those packets
	// (see waitForPackets).
	Grace time.Duration
}

// fallbackGrace is the wait where the kernel cannot say when the packets
// are out. A packet runs through the programs in microseconds.
const fallbackGrace = 20 * time.Millisecond

// Names of the datapath's pins in the namespace directory.
const (
	pinABI    = "abi"
	pinPkt    = "pkt"
	pinConfig = "config"
	pinCT     = bpf.MapConntrack
	// the LOG and NFLOG ring buffer and its counters, pinned with the
	// datapath so that events and the reader's ring survive restores
	pinLogRing  = bpf.MapLogRing
	pinLogDrops = bpf.MapLogDrops
	pinLogRate  = bpf.MapLogRate
	pinCurrent  = "current"
	pinLinks    = "links"
)

// Names of a generation's pins.
const (
	pinCounters = bpf.MapCounters
	pinIfaces   = bpf.MapIfaces
	pinBase     = "base"
	pinSrc      = "src"
)

// ErrABI is returned when the namespace's datapath was loaded by a
// bpftables build whose hook programs differ from this one's.
var ErrABI = errors.New("the datapath in this network namespace was loaded by a different bpftables build; `bpftables reset` removes it")

// kinds every datapath has hook programs and a root array for.
var kinds = []bpf.Kind{bpf.TC, bpf.XDP}

// NS is the datapath of the calling thread's network namespace, opened
// for writing (Open) or reading (OpenReader).
type NS struct {
	opts    Options
	dir     *state.Dir
	lock    *state.Lock   // nil for a reader
	dp      *bpf.Datapath // nil when nothing was ever loaded (reader)
	current *ebpf.Map     // generation in force per family slot
	att     *attach.NS    // writers only
}

// Open opens the namespace's datapath for writing: it takes the writer
// lock (a *state.LockError if it cannot), creates the datapath if the
// namespace has none, and removes generations a failed writer left.
func Open(opts Options) (*NS, error) {
	dir, err := opts.Layout.Open()
	if err != nil {
		return nil, err
	}
	lock, err := dir.Lock(opts.Wait)
	if err != nil {
		dir.Close()
		return nil, err
	}
	n := &NS{opts: opts, dir: dir, lock: lock}
	if err := n.loadDatapath(true); err != nil {
		n.Close()
		return nil, err
	}
	rate := opts.LogRate
	if rate == 0 {
		rate = bpf.DefaultLogRate
	}
	if err := bpf.SetLogRate(n.dp.LogRate, max(rate, 0)); err != nil {
		n.Close()
		return nil, err
	}
	if n.att, err = attach.OpenNS("", n.dir.Path()+"/"+pinLinks); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.collect(); err != nil {
		n.Close()
		return nil, err
	}
	// The directories of namespaces that are gone: best effort, a writer
	// of another namespace may hold their locks.
	_, _ = dir.Root().Collect()
	return n, nil
}

// OpenReader opens the namespace's datapath for reading, without the
// lock. A namespace where nothing was loaded reads as empty.
func OpenReader(opts Options) (*NS, error) {
	dir, err := opts.Layout.Open()
	if err != nil {
		return nil, err
	}
	n := &NS{opts: opts, dir: dir}
	if err := n.loadDatapath(false); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close releases the namespace: file descriptors and the lock. What is
// pinned stays in force.
func (n *NS) Close() {
	if n.att != nil {
		n.att.Close()
	}
	if n.current != nil {
		n.current.Close()
	}
	if n.dp != nil {
		n.dp.Close()
	}
	if n.lock != nil {
		n.lock.Unlock()
	}
	n.dir.Close()
}

// Dir returns the namespace's state directory.
func (n *NS) Dir() *state.Dir { return n.dir }

// loadDatapath loads the pinned datapath, or creates and pins it if there
// is none and create is set. The ABI pin is made last: a datapath without
// it is incomplete (its creator died) and is made again.
func (n *NS) loadDatapath(create bool) error {
	abi := bpf.ABI()
	m, err := n.dir.Map(pinABI)
	switch {
	case err == nil:
		defer m.Close()
		var got [32]byte
		if err := m.Lookup(uint32(0), &got); err != nil {
			return fmt.Errorf("reading the datapath's ABI: %w", err)
		}
		if got != abi {
			return ErrABI
		}
		return n.loadPinned()
	case !errors.Is(err, fs.ErrNotExist):
		return err
	case !create:
		return nil
	}
	// Remove what an interrupted creation left, then create.
	names, err := n.dir.Names()
	if err != nil {
		return err
	}
	for _, name := range names {
		if name != pinLinks && !isGeneration(name) {
			if err := n.dir.Remove(name); err != nil {
				return err
			}
		}
	}
	dp, err := bpf.NewDatapathWith(bpf.DatapathOptions{ConntrackSize: n.opts.ConntrackSize, LogBufferSize: n.opts.LogBufferSize, LogRate: n.opts.LogRate}, kinds...)
	if err != nil {
		return fmt.Errorf("loading the hook programs: %w", err)
	}
	current, err := ebpf.NewMap(&ebpf.MapSpec{Name: pinCurrent, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		dp.Close()
		return fmt.Errorf("creating the generation map: %w", err)
	}
	n.dp, n.current = dp, current
	pins := map[string]state.Pinner{pinPkt: dp.Pkt, pinConfig: dp.Config, pinCT: dp.CT, pinCurrent: current,
		pinLogRing: dp.LogRing, pinLogDrops: dp.LogDrops, pinLogRate: dp.LogRate}
	for _, k := range kinds {
		pins[bpf.RootMapName(k)] = dp.Root[k]
	}
	for h, p := range dp.Hooks {
		pins[h.Name()] = p
	}
	for name, obj := range pins {
		if err := n.dir.Pin(name, obj); err != nil {
			return err
		}
	}
	abiMap, err := ebpf.NewMap(&ebpf.MapSpec{Name: pinABI, Type: ebpf.Array, KeySize: 4, ValueSize: 32, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("creating the ABI map: %w", err)
	}
	defer abiMap.Close()
	if err := abiMap.Put(uint32(0), abi); err != nil {
		return err
	}
	return n.dir.Pin(pinABI, abiMap)
}

// loadPinned loads the datapath's pinned objects.
func (n *NS) loadPinned() error {
	dp := &bpf.Datapath{Root: map[bpf.Kind]*ebpf.Map{}, Hooks: map[bpf.HookSpec]*ebpf.Program{}}
	n.dp = dp
	var err error
	if dp.Pkt, err = n.dir.Map(pinPkt); err != nil {
		return err
	}
	if dp.Config, err = n.dir.Map(pinConfig); err != nil {
		return err
	}
	if dp.CT, err = n.dir.Map(pinCT); err != nil {
		return err
	}
	if dp.LogRing, err = n.dir.Map(pinLogRing); err != nil {
		return err
	}
	if dp.LogDrops, err = n.dir.Map(pinLogDrops); err != nil {
		return err
	}
	if dp.LogRate, err = n.dir.Map(pinLogRate); err != nil {
		return err
	}
	if n.current, err = n.dir.Map(pinCurrent); err != nil {
		return err
	}
	for _, k := range kinds {
		if dp.Root[k], err = n.dir.Map(bpf.RootMapName(k)); err != nil {
			return err
		}
	}
	for _, h := range bpf.HookSpecs(kinds...) {
		if dp.Hooks[h], err = n.dir.Program(h.Name()); err != nil {
			return err
		}
	}
	return nil
}

// familyDigit is 4 or 6, as generation names spell the family.
func familyDigit(f translator.Family) int {
	if f == translator.IPv6 {
		return 6
	}
	return 4
}

// generationName names generation seq of a family.
func generationName(f translator.Family, seq uint64) string {
	return fmt.Sprintf("g%d-%d", familyDigit(f), seq)
}

// isGeneration reports whether a name in the namespace directory is a
// generation's.
func isGeneration(name string) bool {
	_, _, ok := parseGeneration(name)
	return ok
}

func parseGeneration(name string) (translator.Family, uint64, bool) {
	var f translator.Family
	switch {
	case strings.HasPrefix(name, "g4-"):
		f = translator.IPv4
	case strings.HasPrefix(name, "g6-"):
		f = translator.IPv6
	default:
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(name[3:], 10, 64)
	return f, seq, err == nil && seq > 0
}

// currentSeq returns the generation in force for the family, 0 for none.
func (n *NS) currentSeq(f translator.Family) (uint64, error) {
	if n.current == nil {
		return 0, nil
	}
	var seq uint64
	if err := n.current.Lookup(bpf.FamilySlot(f), &seq); err != nil {
		return 0, fmt.Errorf("reading the generation in force: %w", err)
	}
	return seq, nil
}

// collect removes the generations that are not in force: a writer that
// failed or died before its switch left them.
func (n *NS) collect() error {
	names, err := n.dir.Names()
	if err != nil {
		return err
	}
	for _, name := range names {
		f, seq, ok := parseGeneration(name)
		if !ok {
			continue
		}
		cur, err := n.currentSeq(f)
		if err != nil {
			return err
		}
		if seq != cur {
			if err := n.dir.Remove(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// stored is a generation as pinned.
type stored struct {
	name                        string
	seq                         uint64
	counters, base, src, ifaces *ebpf.Map
}

func (s *stored) close() {
	for _, m := range []*ebpf.Map{s.counters, s.base, s.src, s.ifaces} {
		if m != nil {
			m.Close()
		}
	}
}

// generation opens the family's generation in force; nil if there is
// none. An error wrapping fs.ErrNotExist means it was replaced while it
// was being opened.
func (n *NS) generation(f translator.Family) (*stored, error) {
	seq, err := n.currentSeq(f)
	if err != nil || seq == 0 {
		return nil, err
	}
	s := &stored{name: generationName(f, seq), seq: seq}
	d, err := n.dir.Sub(s.name)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		m    **ebpf.Map
	}{{pinCounters, &s.counters}, {pinBase, &s.base}, {pinSrc, &s.src}, {pinIfaces, &s.ifaces}} {
		if *p.m, err = d.Map(p.name); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// counts returns the generation's counts: base plus the per-CPU counters
// summed.
func (s *stored) counts() ([]bpf.Counter, error) {
	c, err := bpf.ReadCounters(s.counters)
	if err != nil {
		return nil, err
	}
	base, err := readBase(s.base)
	if err != nil {
		return nil, err
	}
	for i := range c {
		if i < len(base) {
			c[i].Packets += base[i].Packets
			c[i].Bytes += base[i].Bytes
		}
	}
	return c, nil
}

// srcChunk is the value size of the src map: the text in chunks, the
// first eight bytes of chunk 0 its length.
const srcChunk = 4096

// textMap stores text in a new array map.
func textMap(text string) (*ebpf.Map, error) {
	data := binary.NativeEndian.AppendUint64(make([]byte, 0, 8+len(text)), uint64(len(text)))
	data = append(data, text...)
	n := (len(data) + srcChunk - 1) / srcChunk
	data = append(data, make([]byte, n*srcChunk-len(data))...)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: pinSrc, Type: ebpf.Array, KeySize: 4, ValueSize: srcChunk, MaxEntries: uint32(n)})
	if err != nil {
		return nil, fmt.Errorf("creating the map for the ruleset's text (%d bytes): %w", len(text), err)
	}
	if err := bpf.WriteArray(m, bpf.Rows(data, srcChunk, n), n); err != nil {
		m.Close()
		return nil, fmt.Errorf("storing the ruleset's text: %w", err)
	}
	return m, nil
}

// readText reads text stored by textMap.
func readText(m *ebpf.Map) (string, error) {
	rows := make([][srcChunk]byte, m.MaxEntries())
	if err := bpf.ReadArray(m, rows, 1); err != nil {
		return "", fmt.Errorf("reading the ruleset's text: %w", err)
	}
	data := unsafe.Slice(&rows[0][0], len(rows)*srcChunk)
	size := binary.NativeEndian.Uint64(data)
	if size > uint64(len(data)-8) {
		return "", fmt.Errorf("the stored ruleset's text is damaged: %d bytes of %d", len(data)-8, size)
	}
	return string(data[8 : 8+size]), nil
}

// baseMap makes the map of carried-over counts.
func baseMap(counts []bpf.Counter) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: pinBase, Type: ebpf.Array, KeySize: 4, ValueSize: 16, MaxEntries: uint32(max(1, len(counts)))})
	if err != nil {
		return nil, fmt.Errorf("creating the counter base map: %w", err)
	}
	if err := bpf.WriteArray(m, counts, len(counts)); err != nil {
		m.Close()
		return nil, fmt.Errorf("writing carried-over counters: %w", err)
	}
	return m, nil
}

func readBase(m *ebpf.Map) ([]bpf.Counter, error) {
	out := make([]bpf.Counter, m.MaxEntries())
	if err := bpf.ReadArray(m, out, 1); err != nil {
		return nil, fmt.Errorf("reading carried-over counters: %w", err)
	}
	return out, nil
}
