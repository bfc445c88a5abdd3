package attach

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// TestClsactQdisc checks that Detach removes a clsact qdisc exactly when
// bpftables created it and nothing else uses it.
func TestClsactQdisc(t *testing.T) {
	for _, tt := range []struct {
		name string
		// qdisc: the qdisc exists before bpftables attaches.
		qdisc bool
		// filterBefore, filterAfter: another tool adds a filter before
		// bpftables attaches, or after (on the qdisc bpftables created).
		filterBefore, filterAfter bool
		keep                      bool
	}{
		{name: "created", keep: false},
		{name: "pre-existing", qdisc: true, keep: true},
		{name: "pre-existing with filter", qdisc: true, filterBefore: true, keep: true},
		{name: "created then shared", filterAfter: true, keep: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			top := newTopo(t)
			if tt.qdisc {
				tc(t, top.nsB, "qdisc", "add", "dev", "vb", "clsact")
			}
			if tt.filterBefore {
				otherFilter(t, top.b, top.vb, Ingress)
			}
			counts := newCounts(t)
			for _, h := range []Hook{Ingress, Egress} {
				if _, err := top.b.Attach(top.vb, h, udpProgram(t, ebpf.SchedCLS, "bpftables_"+h.String(), counts, uint32(h), tcOK), Options{Clsact: true}); err != nil {
					t.Fatal(err)
				}
			}
			// Both filters carry the mark, the second copying the first's,
			// or neither does.
			listed, err := top.b.List()
			if err != nil {
				t.Fatal(err)
			}
			if len(listed) != 2 {
				t.Errorf("List = %v, want bpftables' two filters only", listed)
			}
			created := !tt.qdisc
			for _, a := range listed {
				if a.ownQdisc != created {
					t.Errorf("%s: marked as owning the qdisc: %v, want %v", a, a.ownQdisc, created)
				}
			}
			if tt.filterAfter {
				otherFilter(t, top.b, top.vb, Egress)
			}
			if err := top.b.Detach(top.vb); err != nil {
				t.Fatal(err)
			}
			if as, err := top.b.List(); err != nil || len(as) != 0 {
				t.Errorf("List after Detach = %v, %v", as, err)
			}
			out := tc(t, top.nsB, "qdisc", "show", "dev", "vb")
			if kept := strings.Contains(out, "clsact"); kept != tt.keep {
				t.Errorf("clsact qdisc kept: %v, want %v: %s", kept, tt.keep, out)
			}
			other := tc(t, top.nsB, "filter", "show", "dev", "vb", "ingress") + tc(t, top.nsB, "filter", "show", "dev", "vb", "egress")
			if strings.Contains(other, NamePrefix) {
				t.Errorf("bpftables' filter left: %s", other)
			}
			if want := tt.filterBefore || tt.filterAfter; strings.Contains(other, "other_tool") != want {
				t.Errorf("another tool's filter: want it there %v, have %s", want, other)
			}
		})
	}
}

// otherFilter adds another tool's cls_bpf filter at the hook, behind
// bpftables' priority: a program not named bpftables that passes packets.
func otherFilter(tb testing.TB, ns *NS, ifindex int, h Hook) {
	tb.Helper()
	prog := udpProgram(tb, ebpf.SchedCLS, "other_tool", newCounts(tb), 0, tcOK)
	f := clsactFilter(Attachment{Ifindex: ifindex, Hook: h, Priority: 7, Handle: 1}, prog.FD(), "other_tool")
	if err := ns.nl.FilterAdd(f); err != nil {
		tb.Fatalf("add another tool's filter: %v", err)
	}
}
