package live

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/bpf/attach"
	"github.com/bpftables/bpftables/bpf/state"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/plan"
	_ "github.com/bpftables/bpftables/translator/xt" // the extensions the stored text uses
)

// Ruleset returns the family's ruleset in force, every rule and built-in
// chain carrying its live counters (the per-CPU counters summed, plus the
// counts carried over from earlier generations). A family with nothing
// loaded has an empty ruleset.
func (n *NS) Ruleset(f translator.Family) (*translator.Ruleset, error) {
	for attempt := 0; ; attempt++ {
		rs, err := n.ruleset(f)
		if errors.Is(err, fs.ErrNotExist) && attempt < 10 {
			continue // replaced while opening it: read the new one
		}
		return rs, err
	}
}

func (n *NS) ruleset(f translator.Family) (*translator.Ruleset, error) {
	g, err := n.generation(f)
	if err != nil || g == nil {
		return translator.NewRuleset(f), err
	}
	defer g.close()
	text, err := readText(g.src)
	if err != nil {
		return nil, err
	}
	counts, err := g.counts()
	if err != nil {
		return nil, err
	}
	rs, err := parseStored(f, text)
	if err != nil {
		return nil, err
	}
	if t := rs.Table("filter"); t != nil {
		plan.EachSlot(t, func(slot int, c *translator.Chain, r *translator.Rule) {
			if slot >= len(counts) {
				return
			}
			cnt := translator.Counters{Packets: counts[slot].Packets, Bytes: counts[slot].Bytes}
			if r != nil {
				r.Counters = cnt
			} else {
				c.Counters = cnt
			}
		})
	}
	return rs, nil
}

// parseStored parses a generation's stored text.
func parseStored(f translator.Family, text string) (*translator.Ruleset, error) {
	rs, err := iptables.Restore(translator.NewRuleset(f), strings.NewReader(text), iptables.RestoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("the stored ruleset does not parse (was it stored by another bpftables build?): %w", err)
	}
	return rs, nil
}

// mangle, set only by tests, changes a generation before it is loaded:
// how they make the kernel refuse one (a program the verifier rejects, a
// map it cannot create) to see that nothing in force changes.
var mangle func(*bpf.GenerationSpec)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Counters sets every rule's and built-in chain's counters to those in
	// the ruleset (iptables-restore -c) instead of carrying them over.
	Counters bool
}

// Applied reports what Apply did.
type Applied struct {
	Generation uint64
	Rules      int
	// Attached are the interfaces whose hooks were attached or checked.
	Attached []attach.Result
	// Timings of the stages.
	Plan, Generate, Load, Switch time.Duration
}

// Apply makes rs the family's ruleset in force. It builds and loads a
// complete generation, attaches the hook programs to every interface, and
// only then switches the family's slot of the root program arrays: every
// packet is judged by the old ruleset or by the new one, entirely. Until
// the switch nothing in force changes, so an error (a rule the datapath
// cannot run, the tail-call limit, the verifier, a map limit) leaves the
// old ruleset in force. Counters are carried over from the rules of the
// old generation with the same identity: chain, rule text and occurrence.
func (n *NS) Apply(rs *translator.Ruleset, opts ApplyOptions) (*Applied, error) {
	if n.lock == nil {
		return nil, errors.New("live: Apply needs a namespace opened for writing")
	}
	f := rs.Family
	res := &Applied{}
	if err := plan.CheckTables(rs); err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := plan.Build(rs, "filter", plan.Options{})
	if err != nil {
		return nil, err
	}
	res.Rules = len(p.Rules)
	ks := []bpf.Kind{bpf.TC}
	if n.opts.XDP {
		ks = append(ks, bpf.XDP)
	}
	t1 := time.Now()
	res.Plan = t1.Sub(start)
	spec, err := bpf.Generate(p, ks...)
	if err != nil {
		return nil, err
	}
	if mangle != nil {
		mangle(spec)
	}
	t2 := time.Now()
	res.Generate = t2.Sub(t1)
	gen, err := n.dp.Load(spec)
	if err != nil {
		return nil, fmt.Errorf("loading the programs into the kernel: %w", err)
	}
	defer gen.Close()
	var text strings.Builder
	if err := iptables.Save(&text, rs, iptables.SaveOptions{}); err != nil {
		return nil, err
	}
	newKeys := slotKeys(text.String())
	if rs.Table("filter") == nil {
		for _, c := range p.Chains {
			if c.Builtin {
				newKeys = append(newKeys, "policy :"+c.Name)
			}
		}
	}
	if len(newKeys) != p.Counters() {
		return nil, fmt.Errorf("live: %d counter slots in the plan, %d in the saved text", p.Counters(), len(newKeys))
	}

	// Counters: explicit (-c), or carried over from the generation in
	// force, by identity.
	old, err := n.generation(f)
	if err != nil {
		return nil, err
	}
	if old != nil {
		defer old.close()
	}
	base := make([]bpf.Counter, p.Counters()+1) // and the failed-tail-call slot
	var carry []int                             // new slot -> old slot, -1
	var oldCounts []bpf.Counter
	if t := rs.Table("filter"); opts.Counters && t != nil {
		plan.EachSlot(t, func(slot int, c *translator.Chain, r *translator.Rule) {
			cnt := c.Counters
			if r != nil {
				cnt = r.Counters
			}
			base[slot] = bpf.Counter{Packets: cnt.Packets, Bytes: cnt.Bytes}
		})
	} else if old != nil {
		oldText, err := readText(old.src)
		if err != nil {
			return nil, err
		}
		if oldCounts, err = old.counts(); err != nil {
			return nil, err
		}
		carry = carryOver(slotKeys(oldText), newKeys)
		for i, o := range carry {
			if o >= 0 && o < len(oldCounts) {
				base[i] = oldCounts[o]
			}
		}
	}
	if err := n.setIfaces(gen); err != nil {
		return nil, err
	}

	// Pin the generation under a fresh name.
	seq := uint64(1)
	if old != nil {
		seq = old.seq + 1
	}
	name := generationName(f, seq)
	if err := n.dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	gdir, err := n.dir.Mkdir(name)
	if err != nil {
		return nil, err
	}
	baseM, err := baseMap(base)
	if err != nil {
		n.dir.Remove(name)
		return nil, err
	}
	defer baseM.Close()
	srcM, err := textMap(text.String())
	if err != nil {
		n.dir.Remove(name)
		return nil, err
	}
	defer srcM.Close()
	pins := map[string]state.Pinner{pinBase: baseM, pinSrc: srcM, pinCounters: gen.Coll.Maps[pinCounters], pinIfaces: gen.Coll.Maps[pinIfaces]}
	for _, pa := range gen.ProgramArrays() {
		pins[pa] = gen.Coll.Maps[pa]
	}
	for pn, obj := range pins {
		if err := gdir.Pin(pn, obj); err != nil {
			n.dir.Remove(name)
			return nil, err
		}
	}
	t3 := time.Now()
	res.Load = t3.Sub(t2)

	// Hooks on every interface (they run the generation in force, or
	// pass while there is none), then the switch.
	if res.Attached, err = n.attachAll(); err != nil {
		n.dir.Remove(name)
		return nil, err
	}
	if err := n.switchTo(f, gen, seq); err != nil {
		n.dir.Remove(name)
		return nil, err
	}
	res.Generation = seq
	res.Switch = time.Since(t3)

	if old != nil {
		if err := n.release(old, carry, oldCounts, base, baseM); err != nil {
			return res, err
		}
	}
	return res, nil
}

// release retires the generation a switch replaced: it lets the packets
// inside it finish, adds what it counted since its counters were carried
// over to the new generation's base, and unpins it, which frees it.
func (n *NS) release(old *stored, carry []int, before, base []bpf.Counter, baseM *ebpf.Map) error {
	grace := n.opts.Grace
	if grace > 0 {
		time.Sleep(grace)
	} else {
		waitForPackets()
	}
	var errs []error
	if carry != nil {
		final, err := old.counts()
		if err == nil {
			for i, o := range carry {
				if o >= 0 && o < len(final) && o < len(before) {
					base[i].Packets += final[o].Packets - before[o].Packets
					base[i].Bytes += final[o].Bytes - before[o].Bytes
				}
			}
			err = bpf.WriteArray(baseM, base, len(base))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("carrying over the counts after the switch: %w", err))
		}
	}
	if err := n.dir.Remove(old.name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("releasing generation %d: %w", old.seq, err))
	}
	return errors.Join(errs...)
}

// waitForPackets returns once every packet that was inside the programs
// when it was called has left them. The hooks run inside RCU read-side
// sections (softirq, NAPI) and membarrier(MEMBARRIER_CMD_GLOBAL) waits
// for an RCU grace period (synchronize_rcu), some 8-16 ms; where the
// kernel refuses it (nohz_full), a fixed wait stands in.
func waitForPackets() {
	const membarrierCmdGlobal = 1 // linux/membarrier.h; x/sys/unix has no name for it
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); errno != 0 {
		time.Sleep(fallbackGrace)
	}
}

// switchTo makes gen the family's generation in force: one update of the
// family's slot in each root array the generation has a program for; a
// root array it has none for is emptied (the hooks of that kind pass).
// If a later update fails, the earlier ones are undone.
func (n *NS) switchTo(f translator.Family, gen *bpf.Generation, seq uint64) error {
	slot := bpf.FamilySlot(f)
	type undo struct {
		root *ebpf.Map
		prev ebpf.ProgramID
		had  bool
	}
	var done []undo
	rollback := func() {
		for _, u := range done {
			if !u.had {
				u.root.Delete(slot)
				continue
			}
			if p, err := ebpf.NewProgramFromID(u.prev); err == nil {
				u.root.Put(slot, p)
				p.Close()
			}
		}
	}
	has := map[bpf.Kind]bool{}
	for _, k := range gen.Spec.Kinds {
		has[k] = true
	}
	for _, k := range kinds {
		root := n.dp.Root[k]
		u := undo{root: root}
		var id ebpf.ProgramID
		if err := root.Lookup(slot, &id); err == nil {
			u.prev, u.had = id, true
		}
		var err error
		if has[k] {
			err = root.Put(slot, gen.Coll.Programs[bpf.EntryProgram(k)])
		} else if u.had {
			err = root.Delete(slot)
		}
		if err != nil {
			rollback()
			return fmt.Errorf("switching the %s root to the new generation: %w", k, err)
		}
		done = append(done, u)
	}
	if err := n.current.Put(slot, seq); err != nil {
		rollback()
		return fmt.Errorf("recording the generation in force: %w", err)
	}
	return nil
}

// slotKeys returns the identity of each counter slot of the filter table
// in iptables-save text: for slot k, the k-th rule line, numbered by
// occurrence among equal lines; then the built-in chains' policies. The
// order is EachSlot's, since iptables-save prints chains in the order
// their slots are numbered.
func slotKeys(text string) []string {
	var rules, policies []string
	seen := map[string]int{}
	in := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			in = line == "*filter"
		case !in:
		case strings.HasPrefix(line, "-A "):
			seen[line]++
			rules = append(rules, fmt.Sprintf("%s\x00%d", line, seen[line]))
		case strings.HasPrefix(line, ":"):
			if fs := strings.Fields(line); len(fs) >= 2 && fs[1] != "-" {
				policies = append(policies, "policy "+fs[0])
			}
		}
	}
	return append(rules, policies...)
}

// carryOver maps each new slot to the old slot with the same key, or -1.
func carryOver(oldKeys, newKeys []string) []int {
	idx := make(map[string]int, len(oldKeys))
	for i, k := range oldKeys {
		idx[k] = i
	}
	out := make([]int, len(newKeys))
	for i, k := range newKeys {
		o, ok := idx[k]
		if !ok {
			o = -1
		}
		out[i] = o
	}
	return out
}

// setIfaces fills the generation's interface map from the namespace's
// interfaces.
func (n *NS) setIfaces(gen *bpf.Generation) error {
	ifaces, err := n.att.Interfaces()
	if err != nil {
		return err
	}
	names := make(map[uint32]string, len(ifaces))
	for _, i := range ifaces {
		names[uint32(i.Index)] = i.Name
	}
	return gen.SetIfaces(names)
}

// hookPrograms chooses the hook programs for an interface by its link
// layer: with an Ethernet header (lo has a zeroed one) or starting at
// the IP header.
func (n *NS) hookPrograms(i attach.Interface) attach.Programs {
	l2 := 0
	if i.LinkLayer == "ether" || i.LinkLayer == "loopback" {
		l2 = 14
	}
	p := attach.Programs{
		Ingress: n.dp.Hooks[bpf.HookSpec{Point: bpf.Ingress, L2: l2}],
		Egress:  n.dp.Hooks[bpf.HookSpec{Point: bpf.Egress, L2: l2}],
	}
	if n.opts.XDP {
		p.XDP = n.dp.Hooks[bpf.HookSpec{Point: bpf.XDPIngress, L2: l2}]
	}
	return p
}

// attachAll puts the hook programs on every interface.
func (n *NS) attachAll() ([]attach.Result, error) {
	rs, err := n.att.AttachAll(n.hookPrograms, attach.Options{Clsact: n.opts.Clsact})
	if err != nil {
		return nil, err
	}
	if err := attach.Failed(rs); err != nil {
		return rs, fmt.Errorf("attaching the hook programs: %w", err)
	}
	return rs, nil
}

// AttachInterface puts the hook programs on one interface, one that
// appeared after the last Apply, and enters it in the interface map of
// each family's generation in force, so that rules naming interfaces see
// it. A watcher calls it for each new interface.
func (n *NS) AttachInterface(i attach.Interface) error {
	if n.lock == nil {
		return errors.New("live: AttachInterface needs a namespace opened for writing")
	}
	if r := n.att.AttachInterface(i.Index, n.hookPrograms(i), attach.Options{Clsact: n.opts.Clsact}); r.Err != nil {
		return fmt.Errorf("attaching to %s: %w", i, r.Err)
	}
	for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
		g, err := n.generation(f)
		if err != nil {
			return err
		}
		if g == nil {
			continue
		}
		err = func() error {
			defer g.close()
			text, err := readText(g.src)
			if err != nil {
				return err
			}
			rs, err := parseStored(f, text)
			if err != nil {
				return err
			}
			// The plan numbers the interface patterns as the generation
			// was built with them.
			p, err := plan.Build(rs, "filter", plan.Options{})
			if err != nil {
				return err
			}
			return bpf.PutIface(g.ifaces, p.Ifaces, uint32(i.Index), i.Name)
		}()
		if err != nil {
			return fmt.Errorf("entering %s in the %s generation: %w", i, f, err)
		}
	}
	return nil
}
