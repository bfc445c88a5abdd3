package attach

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// TestWatch starts a watcher, then creates a veth pair, moves an interface
// in and deletes one: the watcher reports each appearance once (not the
// later changes of an interface it knows) and each departure, and nothing
// after Close.
func TestWatch(t *testing.T) {
	for _, existing := range []bool{false, true} {
		name := "new"
		if existing {
			name = "existing"
		}
		t.Run(name, func(t *testing.T) {
			top := newTopo(t)
			added, removed := make(chan Interface, 16), make(chan Interface, 16)
			w, err := top.b.Watch(func(i Interface) { added <- i }, WatchOptions{
				Existing: existing,
				Removed:  func(i Interface) { removed <- i },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()

			want := []string{}
			if existing {
				want = []string{"lo", "vb"}
			}
			if got := names(t, added, len(want)); !slices.Equal(got, want) {
				t.Errorf("present at the start: %v, want %v", got, want)
			}

			ip(t, top.nsB, "link", "add", "vw", "type", "veth", "peer", "name", "vx")
			ip(t, top.nsA, "link", "add", "vy", "type", "veth", "peer", "name", "vz", "netns", top.nsB.Name)
			ip(t, top.nsB, "link", "set", "vw", "up") // a change, not an appearance
			if got := names(t, added, 3); !slices.Equal(got, []string{"vw", "vx", "vz"}) {
				t.Errorf("appeared: %v, want vw vx vz", got)
			}
			ip(t, top.nsB, "link", "del", "vz") // takes vy in a along
			if got := names(t, removed, 1); !slices.Equal(got, []string{"vz"}) {
				t.Errorf("left: %v, want vz", got)
			}

			if err := w.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			ip(t, top.nsB, "link", "add", "late", "type", "veth", "peer", "name", "later")
			select {
			case i := <-added:
				t.Errorf("%s reported after Close", i)
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}

// TestWatchOverflow makes the kernel drop notifications (a tiny socket
// buffer, a callback that blocks while interfaces come): the watcher must
// subscribe again and still report every interface exactly once.
func TestWatchOverflow(t *testing.T) {
	top := newTopo(t)
	defer func(n int) { subscribeBuffer = n }(subscribeBuffer)
	subscribeBuffer = 1 // the kernel's minimum
	added, unblock := make(chan Interface, 64), make(chan struct{})
	w, err := top.b.Watch(func(i Interface) {
		<-unblock
		added <- i
	}, WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const pairs = 40
	var batch strings.Builder
	want := []string{}
	for i := range pairs {
		fmt.Fprintf(&batch, "link add o%d type veth peer name p%d\n", i, i)
		want = append(want, fmt.Sprintf("o%d", i), fmt.Sprintf("p%d", i))
	}
	r := top.nsB.Run(t, batch.String(), "ip", "-batch", "-")
	if r.Status != 0 {
		t.Fatalf("ip -batch: %s", r.Stderr)
	}
	close(unblock)
	slices.Sort(want)
	if got := names(t, added, len(want)); !slices.Equal(got, want) {
		t.Errorf("reported %v, want %v", got, want)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if w.renewed == 0 {
		t.Errorf("the kernel dropped no notification: the test tested nothing")
	}
}

// TestWatchAttaches is the long-running mode in small: a watcher's callback
// attaches bpftables' programs to each interface that appears.
func TestWatchAttaches(t *testing.T) {
	top := newTopo(t)
	counts := newCounts(t)
	progs := Programs{
		Ingress: udpProgram(t, ebpf.SchedCLS, "bpftables_in", counts, 0, tcOK),
		Egress:  udpProgram(t, ebpf.SchedCLS, "bpftables_out", counts, 1, tcOK),
	}
	results := make(chan Result, 4)
	w, err := top.b.Watch(func(i Interface) { results <- top.b.AttachInterface(i.Index, progs, Options{}) }, WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ip(t, top.nsB, "link", "add", "vw", "type", "veth", "peer", "name", "vx")
	for range 2 {
		select {
		case r := <-results:
			if r.Err != nil || len(r.Attached) != 2 {
				t.Errorf("%s: attached %v, error %v", r.Interface, r.Attached, r.Err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no callback for the new veth pair")
		}
	}
	listed, err := top.b.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 4 {
		t.Errorf("List = %v, want ingress and egress of vw and vx", listed)
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	if err := top.b.DetachAll(); err != nil {
		t.Fatal(err)
	}
}

// names collects n reports, sorted by name, and checks that no more come.
func names(tb testing.TB, ch <-chan Interface, n int) []string {
	tb.Helper()
	got := []string{}
	timeout := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case i := <-ch:
			if i.Index == 0 || i.Name == "" {
				tb.Errorf("report without index or name: %+v", i)
			}
			got = append(got, i.Name)
		case <-timeout:
			tb.Errorf("only %d of %d reports: %v", len(got), n, got)
			return got
		}
	}
	select {
	case i := <-ch:
		tb.Errorf("one report too many: %s", i)
	case <-time.After(100 * time.Millisecond):
	}
	slices.Sort(got)
	return got
}
