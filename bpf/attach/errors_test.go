package attach

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// TestAttachRefuses checks what Attach will not do, and that it says why.
func TestAttachRefuses(t *testing.T) {
	top := newTopo(t)
	counts := newCounts(t)
	tcProg := udpProgram(t, ebpf.SchedCLS, "bpftables_in", counts, 0, tcOK)
	xdpProg := udpProgram(t, ebpf.XDP, "bpftables_xdp", counts, 0, xdpPass)
	noPins, err := OpenNS(nsPath(top.nsB), "")
	if err != nil {
		t.Fatal(err)
	}
	defer noPins.Close()

	for _, tt := range []struct {
		name string
		do   func() error
		want string
	}{
		{"wrong type", func() error { _, err := top.b.Attach(top.vb, Ingress, xdpProg, Options{}); return err }, "cannot run at ingress"},
		{"wrong name", func() error {
			_, err := top.b.Attach(top.vb, Egress, udpProgram(t, ebpf.SchedCLS, "other_tool", counts, 0, tcOK), Options{})
			return err
		}, `does not start with "bpftables"`},
		{"no pins", func() error { _, err := noPins.Attach(top.vb, Ingress, tcProg, Options{}); return err }, ErrNoPins.Error()},
		{"no pins xdp", func() error { _, err := noPins.Attach(top.vb, XDP, xdpProg, Options{}); return err }, ErrNoPins.Error()},
		{"no interface", func() error { _, err := top.b.Attach(999, Ingress, tcProg, Options{}); return err }, "interface 999"},
	} {
		err := tt.do()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	if as, err := top.b.List(); err != nil || len(as) != 0 {
		t.Errorf("refused attaches left %v, %v", as, err)
	}

	// Twice at one hook, whatever the path.
	if _, err := top.b.Attach(top.vb, Ingress, tcProg, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := top.b.Attach(top.vb, Ingress, tcProg, Options{Clsact: true}); !errors.Is(err, ErrAttached) {
		t.Errorf("second attach: %v, want ErrAttached", err)
	}
	// Clsact needs no pins.
	if _, err := noPins.Attach(top.vb, Egress, tcProg, Options{Clsact: true}); err != nil {
		t.Errorf("clsact without pins: %v", err)
	}
	if err := top.b.DetachAll(); err != nil {
		t.Fatal(err)
	}

	// An ingress qdisc takes clsact's place.
	tc(t, top.nsB, "qdisc", "add", "dev", "vb", "ingress")
	if _, err := top.b.Attach(top.vb, Ingress, tcProg, Options{Clsact: true}); err == nil || !strings.Contains(err.Error(), "ingress qdisc") {
		t.Errorf("clsact over an ingress qdisc: %v", err)
	}
}

// TestStalePins deletes an interface with a pinned link, which detaches
// the link but leaves the pin: List ignores it, an interface that comes
// with the same index gets its own pin in its place, and DetachAll
// removes the pins of interfaces that are gone.
func TestStalePins(t *testing.T) {
	top := newTopo(t)
	ip(t, top.nsB, "link", "add", "vc", "type", "veth", "peer", "name", "vd")
	vc, vd := indexOf(t, top.b, "vc"), indexOf(t, top.b, "vd")
	prog := udpProgram(t, ebpf.SchedCLS, "bpftables_in", newCounts(t), 0, tcOK)
	for _, i := range []int{vc, vd} {
		if _, err := top.b.Attach(i, Ingress, prog, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	ip(t, top.nsB, "link", "del", "vc") // and vd with it
	if as, err := top.b.List(); err != nil || len(as) != 0 {
		t.Errorf("List after the veth went = %v, %v", as, err)
	}
	stale := filepath.Join(top.pinB, pinName(Ingress, vc))
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("the deleted interface's pin: %v", err)
	}

	ip(t, top.nsB, "link", "add", "ve", "index", strconv.Itoa(vc), "type", "veth", "peer", "name", "vf")
	a, err := top.b.Attach(vc, Ingress, prog, Options{})
	if err != nil {
		t.Fatalf("attach over a stale pin: %v", err)
	}
	if a.Pin != stale {
		t.Errorf("pinned at %s, want %s", a.Pin, stale)
	}
	if as, err := top.b.List(); err != nil || len(as) != 1 || as[0].Pin != stale {
		t.Errorf("List = %v, %v; want the new attachment pinned at %s", as, err, stale)
	}

	if err := top.b.DetachAll(); err != nil {
		t.Fatal(err)
	}
	if names := top.b.pinNames(); len(names) != 0 {
		t.Errorf("pins left after DetachAll: %v", names)
	}
}
