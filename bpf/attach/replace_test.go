package attach

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// TestReplace swaps one dropping program for another while datagrams
// flow: none may arrive (a gap would let some through), each program must
// have judged some, and together all.
func TestReplace(t *testing.T) {
	for _, tt := range []struct {
		hook Hook
		opts Options
		mode Mode
	}{
		{Ingress, Options{}, TCX},
		{Ingress, Options{Clsact: true}, Clsact},
		{XDP, Options{}, XDPNative},
		{XDP, Options{XDPGeneric: true}, XDPGeneric},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			top := newTopo(t)
			counts := newCounts(t)
			typ, drop := ebpf.SchedCLS, int32(tcShot)
			if tt.hook == XDP {
				typ, drop = ebpf.XDP, xdpDrop
			}
			oldProg := udpProgram(t, typ, "bpftables_old", counts, 0, drop)
			newProg := udpProgram(t, typ, "bpftables_new", counts, 1, drop)
			a, err := top.b.Attach(top.vb, tt.hook, oldProg, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			requireMode(t, a, tt.mode)
			old := a

			f := top.flowAB(t)
			stop, sent := make(chan struct{}), make(chan int)
			go func() {
				n := 0
				defer func() { sent <- n }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := f.tx.Write([]byte("bpftables")); err == nil {
						n++
					}
					if n%16 == 0 {
						// Paced so that no queue overflows before the hook.
						time.Sleep(100 * time.Microsecond)
					}
				}
			}()
			waitCount(t, counts, 0, 300)
			err = top.b.Replace(&a, newProg)
			waitCount(t, counts, 1, 300)
			close(stop)
			n := <-sent
			if err != nil {
				t.Fatal(err)
			}

			if got := received(t, f.rx, 0); got != 0 {
				t.Errorf("%d datagrams arrived during the replacement", got)
			}
			before, after := count(t, counts, 0), waitCount(t, counts, 1, uint64(n)-count(t, counts, 0))
			if before == 0 || after == 0 || before+after != uint64(n) {
				t.Errorf("old program judged %d, new one %d of %d datagrams", before, after, n)
			}
			t.Logf("%d datagrams: %d judged by the old program, %d by the new", n, before, after)

			if listed, err := top.b.List(); err != nil || len(listed) != 1 || listed[0] != a || a.Name != "bpftables_new" {
				t.Errorf("List = %v, %v; want [%s] running bpftables_new", listed, err, a)
			}
			// The old description no longer matches: Replace refuses it.
			if err := top.b.Replace(&old, oldProg); err == nil {
				t.Errorf("Replace of a stale attachment succeeded")
			}
			if err := top.b.DetachAll(); err != nil {
				t.Fatal(err)
			}
			assertClean(t, top, top.b, top.vb)
		})
	}
}
