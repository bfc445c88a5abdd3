package benchmarks

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/rulesets"
	"github.com/bpftables/bpftables/translator/plan"
)

// The rows of MeasureMemory that are not a generated ruleset.
const (
	// MemoryDatapath is the datapath a namespace has once, whatever its
	// ruleset: the hook programs of tc and XDP, the root program arrays,
	// the packet context and the config map.
	MemoryDatapath = "datapath"
	// MemoryEmpty is the generation of an empty filter table, the floor
	// each generated ruleset's bytes per rule are counted from.
	MemoryEmpty = "empty"
)

// emptyRuleset is the filter table with no rules, as the generated
// rulesets' headers have it.
const emptyRuleset = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"

// MeasureMemory loads each family's ruleset of each size
// (rulesets.GenerateIn(family, n, 1, 1, "FORWARD")) in-process with
// LoadRules and reports the kernel's own accounting of the generation's
// programs and maps: memlock, instructions after the kernel's rewriting,
// instructions verified. The first two rows are not rulesets: the
// datapath's shared programs and maps (MemoryDatapath, counted in no
// other row) and the generation of an empty ruleset (MemoryEmpty, the
// floor of every row's PerRule). A generation is the tc programs only,
// as bpftables-tc loads it; bpftables-xdp's adds the XDP programs. The
// maps bpftables iptables-restore pins beside a generation to serve
// iptables-save (the ruleset's text, carried-over counters) are not
// counted. Needs root.
func MeasureMemory(families []rulesets.Family, sizes []int) ([]MemoryResult, error) {
	d, err := bpf.NewDatapath(bpf.TC, bpf.XDP)
	if err != nil {
		return nil, err
	}
	dp := MemoryResult{Family: MemoryDatapath}
	for _, m := range datapathMaps(d) {
		if err := dp.addMap(m); err != nil {
			d.Close()
			return nil, fmt.Errorf("datapath: %w", err)
		}
	}
	for _, p := range d.Hooks {
		if err := dp.addProgram(p); err != nil {
			d.Close()
			return nil, fmt.Errorf("datapath: %w", err)
		}
	}
	d.Close()

	empty, err := generationMemory(MemoryEmpty, 0, emptyRuleset)
	if err != nil {
		return nil, err
	}
	out := []MemoryResult{dp, empty}
	for _, f := range families {
		for _, n := range sizes {
			g := rulesets.GenerateIn(f, n, 1, 1, "FORWARD")
			r, err := generationMemory(f.String(), n, g.Rules)
			if err != nil {
				return nil, err
			}
			r.PerRule = float64(r.ProgBytes+r.MapBytes-empty.ProgBytes-empty.MapBytes) / float64(n)
			out = append(out, r)
		}
	}
	return out, nil
}

// generationMemory loads the ruleset and sums its generation's programs
// and maps, those of the datapath (the packet context the generation
// shares) left out.
func generationMemory(family string, n int, rules string) (MemoryResult, error) {
	r := MemoryResult{Family: family, N: n}
	l, err := LoadRules(rules, plan.Options{})
	if err != nil {
		return r, fmt.Errorf("%s %d: %w", family, n, err)
	}
	defer l.Close()
	shared := map[ebpf.MapID]bool{}
	for _, m := range datapathMaps(l.D) {
		id, err := mapID(m)
		if err != nil {
			return r, err
		}
		shared[id] = true
	}
	for name, m := range l.Gen.Coll.Maps {
		id, err := mapID(m)
		if err != nil {
			return r, fmt.Errorf("%s %d: map %s: %w", family, n, name, err)
		}
		if shared[id] {
			continue
		}
		if err := r.addMap(m); err != nil {
			return r, fmt.Errorf("%s %d: map %s: %w", family, n, name, err)
		}
	}
	for name, p := range l.Gen.Coll.Programs {
		if err := r.addProgram(p); err != nil {
			return r, fmt.Errorf("%s %d: program %s: %w", family, n, name, err)
		}
	}
	return r, nil
}

// datapathMaps returns the datapath's maps.
func datapathMaps(d *bpf.Datapath) []*ebpf.Map {
	ms := []*ebpf.Map{d.Pkt, d.Config}
	for _, m := range d.Root {
		ms = append(ms, m)
	}
	return ms
}

func mapID(m *ebpf.Map) (ebpf.MapID, error) {
	info, err := m.Info()
	if err != nil {
		return 0, err
	}
	id, ok := info.ID()
	if !ok {
		return 0, fmt.Errorf("the kernel reports no map ID: %w", ebpf.ErrNotSupported)
	}
	return id, nil
}

// addMap adds the map's memlock, as the kernel reports it (Linux 4.10;
// since 6.6 the map type's own estimate of its memory). Memlock's false
// is not told apart from a figure of 0: an empty LPM trie takes none.
func (r *MemoryResult) addMap(m *ebpf.Map) error {
	info, err := m.Info()
	if err != nil {
		return err
	}
	b, _ := info.Memlock()
	r.Maps++
	r.MapBytes += int64(b)
	return nil
}

// addProgram adds the program's memlock (the pages its instructions take,
// Linux 4.10), its JIT image, its instructions after the kernel's
// rewriting (4.13) and those the verifier processed (5.16).
func (r *MemoryResult) addProgram(p *ebpf.Program) error {
	info, err := p.Info()
	if err != nil {
		return err
	}
	b, ok := info.Memlock()
	if !ok {
		return fmt.Errorf("the kernel reports no memlock: %w", ebpf.ErrNotSupported)
	}
	size, err := info.TranslatedSize()
	if err != nil {
		return err
	}
	jited, err := info.JitedSize()
	if err != nil {
		return err
	}
	verified, ok := info.VerifiedInstructions()
	if !ok {
		return fmt.Errorf("the kernel reports no verified instructions: %w", ebpf.ErrNotSupported)
	}
	r.Programs++
	r.ProgBytes += int64(b)
	r.JitedBytes += int64(jited)
	r.Insns += int64(size / 8)
	r.Verified += int64(verified)
	return nil
}
