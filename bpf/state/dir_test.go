package state

import (
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/bpftables/bpftables/internal/nettest"
)

// openIn opens the namespace's directory from the test process, on a
// thread inside the namespace.
func openIn(tb testing.TB, ns *nettest.NS, l Layout) *Dir {
	tb.Helper()
	var d *Dir
	ns.Do(tb, func() {
		var err error
		if d, err = l.Open(); err != nil {
			tb.Fatal(err)
		}
	})
	tb.Cleanup(func() { d.Close() })
	return d
}

func pinArray(tb testing.TB, d *Dir, name string, v uint32) {
	tb.Helper()
	m, err := newArray(v)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	if err := d.Pin(name, m); err != nil {
		tb.Fatal(err)
	}
}

// value reads element 0 of the array pinned as "m" in the subdirectory.
func value(tb testing.TB, d *Dir, sub string) uint32 {
	tb.Helper()
	s, err := d.Sub(sub)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := readArray(s)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestGenerations(t *testing.T) {
	l := testLayout(t)
	d := openIn(t, nettest.NewNS(t), l)

	for _, name := range []string{"gen", "next"} {
		g, err := d.Mkdir(name)
		if err != nil {
			t.Fatal(err)
		}
		pinArray(t, g, "m", map[string]uint32{"gen": 1, "next": 2}[name])
	}
	if _, err := d.Mkdir("gen"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Mkdir of an existing name: %v, want fs.ErrExist", err)
	}
	if err := d.Rename("next", "gen"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Rename onto an existing name: %v, want fs.ErrExist", err)
	}

	// The new generation takes the name; the old one is gone.
	if err := d.Replace("next", "gen"); err != nil {
		t.Fatal(err)
	}
	if v := value(t, d, "gen"); v != 2 {
		t.Errorf("after Replace gen holds %d, want 2", v)
	}
	if _, err := d.Sub("next"); !errors.Is(err, ErrNotExist) {
		t.Errorf("after Replace: Sub(next): %v, want ErrNotExist", err)
	}
	// Replace onto a free name renames.
	g, err := d.Mkdir("next")
	if err != nil {
		t.Fatal(err)
	}
	pinArray(t, g, "m", 3)
	if err := d.Replace("next", "other"); err != nil {
		t.Fatal(err)
	}
	if v := value(t, d, "other"); v != 3 {
		t.Errorf("after Replace onto a free name other holds %d, want 3", v)
	}
	if err := d.Exchange("gen", "other"); err != nil {
		t.Fatal(err)
	}
	if a, b := value(t, d, "gen"), value(t, d, "other"); a != 3 || b != 2 {
		t.Errorf("after Exchange gen, other hold %d, %d; want 3, 2", a, b)
	}
	if err := d.Replace("missing", "gen"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Replace of a missing name: %v, want ErrNotExist", err)
	}
	if v := value(t, d, "gen"); v != 3 {
		t.Errorf("a failed Replace changed gen to %d", v)
	}

	names, err := d.Names()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gen", "other"}; !slices.Equal(names, want) {
		t.Errorf("Names() = %v, want %v (the marker hidden)", names, want)
	}
	if err := d.Remove("other"); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove("other"); !errors.Is(err, ErrNotExist) {
		t.Errorf("second Remove: %v, want ErrNotExist", err)
	}
}

func TestPins(t *testing.T) {
	l := testLayout(t)
	ns := nettest.NewNS(t)
	d := openIn(t, ns, l)

	m, err := newArray(9)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, name := range []string{"netns", "gen.next", "a/b", "", ".."} {
		if err := d.Pin(name, m); err == nil {
			t.Errorf("Pin(%q) succeeded", name)
		}
	}
	if err := d.Pin("m", m); err != nil {
		t.Fatal(err)
	}
	c, err := m.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := d.Pin("m", c); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Pin onto an existing pin: %v, want fs.ErrExist", err)
	}

	for name, load := range map[string]func(string) error{
		"Map":     func(n string) error { _, err := d.Map(n); return err },
		"Program": func(n string) error { _, err := d.Program(n); return err },
		"Link":    func(n string) error { _, err := d.Link(n); return err },
	} {
		err := load("missing")
		if !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s(missing): %v, want ErrNotExist", name, err)
		}
		if name != "Map" {
			if err := load("m"); err == nil || errors.Is(err, ErrNotExist) {
				t.Errorf("%s of a pinned map: %v, want a type error", name, err)
			}
		}
	}

	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()}, // TCX_NEXT
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	if err := d.Pin("prog", prog); err != nil {
		t.Fatal(err)
	}
	got, err := d.Program("prog")
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if id1, id2 := progID(t, prog), progID(t, got); id1 != id2 {
		t.Errorf("loaded program %d, pinned %d", id2, id1)
	}

	// A link pinned in the directory stays attached after its file
	// descriptors close, and detaches when Remove unpins it.
	var lnk link.Link
	ns.Do(t, func() {
		if lnk, err = link.AttachTCX(link.TCXOptions{Interface: loopbackIndex, Program: prog, Attach: ebpf.AttachTCXIngress}); err != nil {
			nettest.Skip(t, "attach tcx (Linux 6.6): %v", err)
		}
	})
	if err := d.Pin("lo-ingress", lnk); err != nil {
		t.Fatal(err)
	}
	lnk.Close()
	loaded, err := d.Link("lo-ingress")
	if err != nil {
		t.Fatal(err)
	}
	info, err := loaded.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.TCX() == nil || info.TCX().Ifindex != loopbackIndex {
		t.Errorf("loaded link %+v, want TCX on ifindex %d", info, loopbackIndex)
	}
	loaded.Close()
	if n := tcxPrograms(t, ns); n != 1 {
		t.Fatalf("%d programs on lo ingress with the link pinned, want 1", n)
	}
	if err := d.Remove("lo-ingress"); err != nil {
		t.Fatal(err)
	}
	// The kernel releases an unpinned object after an RCU grace period
	// and from a work queue.
	for deadline := time.Now().Add(10 * time.Second); tcxPrograms(t, ns) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("link still attached 10s after Remove")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func progID(tb testing.TB, p *ebpf.Program) ebpf.ProgramID {
	tb.Helper()
	info, err := p.Info()
	if err != nil {
		tb.Fatal(err)
	}
	id, ok := info.ID()
	if !ok {
		tb.Fatal("no program ID")
	}
	return id
}

func tcxPrograms(tb testing.TB, ns *nettest.NS) int {
	tb.Helper()
	var n int
	ns.Do(tb, func() {
		res, err := link.QueryPrograms(link.QueryOptions{Target: loopbackIndex, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			tb.Fatal(err)
		}
		n = len(res.Programs)
	})
	return n
}

func TestLookupAndRemove(t *testing.T) {
	l := testLayout(t)
	d := openIn(t, nettest.NewNS(t), l)
	pinArray(t, d, "m", 5)
	r := d.Root()

	got, err := r.Lookup(d.Cookie())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := readArray(got); err != nil || v != 5 {
		t.Fatalf("Lookup found %d, %v; want 5", v, err)
	}
	if cs, err := r.Namespaces(); err != nil || !slices.Contains(cs, d.Cookie()) {
		t.Fatalf("Namespaces() = %v, %v; want it to hold %s", cs, err, d.Cookie())
	}
	if err := r.Remove(d.Cookie()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(d.Cookie()); !errors.Is(err, ErrNotExist) {
		t.Errorf("Lookup after Remove: %v, want ErrNotExist", err)
	}
	if _, err := readArray(d); !errors.Is(err, ErrNotExist) {
		t.Errorf("load after Remove: %v, want ErrNotExist", err)
	}
	if cs, err := r.Namespaces(); err != nil || slices.Contains(cs, d.Cookie()) {
		t.Errorf("Namespaces() after Remove = %v, %v", cs, err)
	}
	if err := r.Remove(d.Cookie()); !errors.Is(err, ErrNotExist) {
		t.Errorf("second Remove: %v, want ErrNotExist", err)
	}
}
