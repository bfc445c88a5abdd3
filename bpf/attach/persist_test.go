package attach

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// TestSurvivesProcess has a child process attach a dropping program and
// exit, then checks from this one that the program still judges packets,
// that List finds it, that this process can replace it (an upgrade), and
// what keeps it: for a link, its pin (removing the pin detaches it); for a
// clsact filter, nothing (it stays until DetachAll).
func TestSurvivesProcess(t *testing.T) {
	for _, tt := range []struct {
		hook Hook
		opts Options
		mode Mode
	}{
		{Ingress, Options{}, TCX},
		{Ingress, Options{Clsact: true}, Clsact},
		{XDP, Options{}, XDPNative},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			top := newTopo(t)
			counts := newCounts(t)
			countsPin := filepath.Join(top.bpffs, "counts")
			if err := counts.Pin(countsPin); err != nil {
				t.Fatal(err)
			}
			inChild(t, childJob{NetNS: nsPath(top.nsB), Pins: top.pinB, Counts: countsPin, Ifindex: top.vb, Hook: tt.hook, Opts: tt.opts})

			f := top.flowAB(t)
			if got := f.exchange(t, 20, 0); got != 0 {
				t.Errorf("%d of 20 datagrams arrived through the exited child's dropping program", got)
			}
			if n := waitCount(t, counts, 0, 20); n != 20 {
				t.Errorf("the child's program counted %d packets, want 20", n)
			}
			listed, err := top.b.List()
			if err != nil {
				t.Fatal(err)
			}
			if len(listed) != 1 || listed[0].Name != "bpftables_child" {
				t.Fatalf("List = %v, want the child's attachment", listed)
			}
			a := listed[0]
			requireMode(t, a, tt.mode)
			if tt.mode != Clsact && (a.Link == 0 || a.Pin != filepath.Join(top.pinB, pinName(tt.hook, top.vb))) {
				t.Errorf("found %s, want a link pinned in %s", a, top.pinB)
			}

			typ, drop := ebpf.SchedCLS, int32(tcShot)
			if tt.hook == XDP {
				typ, drop = ebpf.XDP, xdpDrop
			}
			if err := top.b.Replace(&a, udpProgram(t, typ, "bpftables_upgr", counts, 1, drop)); err != nil {
				t.Fatal(err)
			}
			if got := f.exchange(t, 20, 0); got != 0 {
				t.Errorf("%d of 20 datagrams arrived through the replaced program", got)
			}
			if n := waitCount(t, counts, 1, 20); n != 20 {
				t.Errorf("the replacing program counted %d packets, want 20", n)
			}

			if tt.mode != Clsact {
				// No process holds the link: its pin is its last reference.
				if err := os.Remove(a.Pin); err != nil {
					t.Fatal(err)
				}
				// The kernel frees the pin's inode after an RCU grace
				// period, and the link in a work item after that.
				deadline := time.Now().Add(5 * time.Second)
				for {
					listed, err := top.b.List()
					if err != nil {
						t.Fatal(err)
					}
					if len(listed) == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("List with the pin removed = %v, want none", listed)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if got := f.exchange(t, 5, 5); got != 5 {
					t.Errorf("with the pin removed %d of 5 datagrams arrived", got)
				}
			}
			if err := top.b.DetachAll(); err != nil {
				t.Fatal(err)
			}
			assertClean(t, top, top.b, top.vb)
			if got := f.exchange(t, 5, 5); got != 5 {
				t.Errorf("after DetachAll %d of 5 datagrams arrived", got)
			}
		})
	}
}
