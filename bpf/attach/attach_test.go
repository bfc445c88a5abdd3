package attach

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// requireMode fails the test unless a was attached as want; where TCX was
// wanted and Clsact stood in, the kernel lacks TCX (before Linux 6.6) and
// the test skips (or fails, see nettest.Skip).
func requireMode(tb testing.TB, a Attachment, want Mode) {
	tb.Helper()
	if a.Mode == want {
		return
	}
	if want == TCX && a.Mode == Clsact {
		nettest.Skip(tb, "kernel lacks TCX (Linux 6.6)")
	}
	tb.Fatalf("attached as %s, want %s: %s", a.Mode, want, a)
}

// TestAttachJudges attaches a counting program at each tc hook through
// each path, with each verdict, and checks with real traffic that it
// judges the packets, that List finds it as made, and that Detach leaves
// the interface as it was.
func TestAttachJudges(t *testing.T) {
	for _, path := range []struct {
		mode Mode
		opts Options
	}{{TCX, Options{}}, {Clsact, Options{Clsact: true}}} {
		for _, tt := range []struct {
			hook    Hook
			verdict int32
			arrive  bool
		}{
			{Ingress, tcOK, true},
			{Ingress, tcShot, false},
			{Egress, tcOK, true},
			{Egress, tcShot, false},
		} {
			t.Run(path.mode.String()+"/"+tt.hook.String()+"/"+verdictName(tt.verdict), func(t *testing.T) {
				top := newTopo(t)
				// Ingress is judged where the packets arrive, egress where they leave.
				ns, ifindex := top.b, top.vb
				if tt.hook == Egress {
					ns, ifindex = top.a, top.va
				}
				counts := newCounts(t)
				prog := udpProgram(t, ebpf.SchedCLS, "bpftables_test", counts, 0, tt.verdict)
				a, err := ns.Attach(ifindex, tt.hook, prog, path.opts)
				if err != nil {
					t.Fatal(err)
				}
				requireMode(t, a, path.mode)
				t.Logf("attached: %s", a)

				f := top.flowAB(t)
				want := map[bool]int{true: 20, false: 0}[tt.arrive]
				if got := f.exchange(t, 20, want); got != want {
					t.Errorf("%d of 20 datagrams arrived, want %d", got, want)
				}
				if n := waitCount(t, counts, 0, 20); n != 20 {
					t.Errorf("program counted %d packets, want 20", n)
				}

				listed, err := ns.List()
				if err != nil {
					t.Fatal(err)
				}
				if len(listed) != 1 || listed[0] != a {
					t.Errorf("List = %v, want [%s]", listed, a)
				}
				if path.mode == TCX {
					if a.Pin == "" || a.Link == 0 {
						t.Errorf("TCX attachment without link or pin: %s", a)
					}
				} else if !strings.Contains(tc(t, nsOf(top, ns), "qdisc", "show", "dev", ifname(t, ns, ifindex)), "clsact") {
					t.Errorf("no clsact qdisc after a Clsact attach")
				}

				if err := ns.Detach(ifindex); err != nil {
					t.Fatal(err)
				}
				assertClean(t, top, ns, ifindex)
				if got := f.exchange(t, 5, 5); got != 5 {
					t.Errorf("after Detach %d of 5 datagrams arrived", got)
				}
				if n := count(t, counts, 0); n != 20 {
					t.Errorf("after Detach the program counted %d packets, want 20 still", n)
				}
			})
		}
	}
}

func verdictName(v int32) string {
	if v == tcOK {
		return "ok"
	}
	return "shot"
}

// assertClean checks that the interface has no program at any hook, no
// qdisc bpftables made, and that the pin directory holds no link of it.
func assertClean(tb testing.TB, top *topo, ns *NS, ifindex int) {
	tb.Helper()
	if as, err := ns.List(); err != nil || len(as) != 0 {
		tb.Errorf("List after detach = %v, %v; want none", as, err)
	}
	err := ns.do(func() error {
		for _, h := range []Hook{Ingress, Egress} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: tcxAttachType(h)})
			if err != nil {
				return err
			}
			if len(res.Programs) != 0 {
				return errors.New("tcx " + h.String() + " still has programs")
			}
		}
		return nil
	})
	if err != nil {
		tb.Error(err)
	}
	if x := iface(tb, ns, ifindex).Attrs().Xdp; x != nil && x.Attached {
		tb.Errorf("XDP program %d still attached", x.ProgId)
	}
	if out := tc(tb, nsOf(top, ns), "qdisc", "show", "dev", ifname(tb, ns, ifindex)); strings.Contains(out, "clsact") {
		tb.Errorf("clsact qdisc left: %s", out)
	}
	if names := ns.pinNames(); len(names) != 0 {
		tb.Errorf("pins left: %v", names)
	}
	if _, err := os.Stat(ns.pins); err == nil {
		entries, _ := os.ReadDir(ns.pins)
		for _, e := range entries {
			tb.Errorf("left in the pin directory: %s", e.Name())
		}
	}
}
