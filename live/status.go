package live

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/cilium/ebpf"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/bpf/attach"
	"github.com/bpftables/bpftables/bpf/state"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/conntrack"
)

// Status describes a namespace's datapath.
type Status struct {
	Cookie state.Cookie
	// Dir is the namespace's state directory.
	Dir string
	// Loaded is false when no datapath was ever loaded here.
	Loaded     bool
	Families   []FamilyStatus
	Interfaces []attach.Interface
	// Attachments are bpftables' programs at the interfaces' hooks, as the
	// kernel reports them.
	Attachments []attach.Attachment
	// Conntrack is the fill level of the connection table.
	Conntrack bpf.ConntrackFill
	// LogDroppedFull and LogDroppedRate count the LOG and NFLOG events
	// dropped because the ring buffer was full and because of the rate
	// limit.
	LogDroppedFull, LogDroppedRate uint64
}

// FamilyStatus describes the generation in force of one family.
type FamilyStatus struct {
	Family     translator.Family
	Generation uint64 // 0: no ruleset loaded
	Rules      int    // rules of the filter table
	Chains     int    // chains of the filter table
	// Kinds are the hooks kinds whose root array runs the generation.
	Kinds []bpf.Kind
	// Programs and Maps are the generation's, as the kernel reports them.
	Programs, Maps int
	// Failed counts packets dropped because a tail call failed (should be
	// zero).
	Failed uint64
	// Tracks is set when the ruleset tests connection states: the
	// family's connections are tracked.
	Tracks bool
}

// Status reports the namespace's datapath.
func (n *NS) Status() (*Status, error) {
	st := &Status{Cookie: n.dir.Cookie(), Dir: n.dir.Path(), Loaded: n.dp != nil}
	att, err := attach.OpenNS("", n.dir.Path()+"/"+pinLinks)
	if err != nil {
		return nil, err
	}
	defer att.Close()
	if st.Interfaces, err = att.Interfaces(); err != nil {
		return nil, err
	}
	if st.Attachments, err = att.List(); err != nil {
		return nil, err
	}
	if n.dp == nil {
		return st, nil
	}
	if n.dp.CT != nil {
		if st.Conntrack, err = bpf.ReadConntrackFill(n.dp.CT); err != nil {
			return nil, err
		}
	}
	if n.dp.LogDrops != nil {
		if st.LogDroppedFull, st.LogDroppedRate, err = bpf.LogDrops(n.dp.LogDrops); err != nil {
			return nil, err
		}
	}
	for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
		fst, err := n.familyStatus(f)
		if err != nil {
			return nil, err
		}
		st.Families = append(st.Families, fst)
	}
	return st, nil
}

func (n *NS) familyStatus(f translator.Family) (FamilyStatus, error) {
	for attempt := 0; ; attempt++ {
		st := FamilyStatus{Family: f}
		err := n.fillFamilyStatus(&st)
		if errors.Is(err, fs.ErrNotExist) && attempt < 10 {
			continue // replaced while reading it: read the new one
		}
		return st, err
	}
}

func (n *NS) fillFamilyStatus(st *FamilyStatus) error {
	g, err := n.generation(st.Family)
	if err != nil || g == nil {
		return err
	}
	defer g.close()
	st.Generation = g.seq
	text, err := readText(g.src)
	if err != nil {
		return err
	}
	rs, err := parseStored(st.Family, text)
	if err != nil {
		return err
	}
	if t := rs.Table("filter"); t != nil {
		st.Rules, st.Chains = t.RuleCount(), len(t.Chains)
		st.Tracks = conntrack.Uses(t)
	}
	counts, err := bpf.ReadCounters(g.counters)
	if err != nil {
		return err
	}
	if len(counts) > 0 {
		st.Failed = counts[len(counts)-1].Packets
	}
	slot := bpf.FamilySlot(st.Family)
	for _, k := range kinds {
		var id ebpf.ProgramID
		if err := n.dp.Root[k].Lookup(slot, &id); err != nil {
			continue // empty slot
		}
		st.Kinds = append(st.Kinds, k)
		if k != bpf.TC {
			continue
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			return fmt.Errorf("the %s entry program: %w", k, err)
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			return err
		}
		ids, _ := info.MapIDs()
		st.Maps = len(ids)
	}
	d, err := n.dir.Sub(g.name)
	if err != nil {
		return err
	}
	for _, k := range st.Kinds {
		arr, err := d.Map(bpf.ProgramArrayName(k))
		if err != nil {
			return err
		}
		st.Programs++ // the entry program
		for i := uint32(0); i < arr.MaxEntries(); i++ {
			var id ebpf.ProgramID
			if arr.Lookup(i, &id) == nil {
				st.Programs++
			}
		}
		arr.Close()
	}
	return nil
}

// Reset detaches bpftables' programs from every interface of the
// namespace and removes everything it pinned there: the namespace is as
// if bpftables had never run in it. It takes the writer lock.
func Reset(opts Options) error {
	dir, err := opts.Layout.Open()
	if err != nil {
		return err
	}
	defer dir.Close()
	lock, err := dir.Lock(opts.Wait)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	att, err := attach.OpenNS("", dir.Path()+"/"+pinLinks)
	if err != nil {
		return err
	}
	defer att.Close()
	if err := att.DetachAll(); err != nil {
		return fmt.Errorf("detaching the hook programs: %w", err)
	}
	return dir.Root().Remove(dir.Cookie())
}
