package attach

import (
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// TestAttachAll attaches a set of programs to every interface of a
// namespace, lo included, then again (replacing them in place), then with
// tc ingress instead of XDP, and finally detaches everything.
func TestAttachAll(t *testing.T) {
	top := newTopo(t)
	// A second veth pair inside b: three interfaces with lo.
	ip(t, top.nsB, "link", "add", "vc", "type", "veth", "peer", "name", "vd")
	counts := newCounts(t)
	progs := Programs{
		Ingress: udpProgram(t, ebpf.SchedCLS, "bpftables_in", counts, 0, tcOK),
		Egress:  udpProgram(t, ebpf.SchedCLS, "bpftables_out", counts, 1, tcOK),
		XDP:     udpProgram(t, ebpf.XDP, "bpftables_xdp", counts, 2, xdpPass),
	}
	rs, err := top.b.AttachAll(Same(progs), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Failed(rs); err != nil {
		t.Fatal(err)
	}
	links := map[string]link.ID{}
	var names []string
	for _, r := range rs {
		names = append(names, r.Interface.Name)
		if r.XDPErr != nil {
			t.Errorf("%s: XDP not used: %v", r.Interface, r.XDPErr)
		}
		wantXDP := XDPNative
		if r.Interface.Name == "lo" {
			wantXDP = XDPGeneric
			if r.Interface.LinkLayer != "loopback" {
				t.Errorf("lo's link layer is %q", r.Interface.LinkLayer)
			}
		}
		var got []string
		for _, a := range r.Attached {
			got = append(got, a.Hook.String()+" "+a.Mode.String())
			links[r.Interface.Name+" "+a.Hook.String()] = a.Link
		}
		if want := "xdp " + wantXDP.String() + ", egress tcx"; strings.Join(got, ", ") != want {
			t.Errorf("%s (%s): attached %q, want %q", r.Interface, r.Interface.Kind, strings.Join(got, ", "), want)
		}
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != "lo vb vc vd" {
		t.Errorf("interfaces %q, want lo vb vc vd", got)
	}
	f := top.flowAB(t)
	if got := f.exchange(t, 20, 20); got != 20 {
		t.Errorf("%d of 20 datagrams arrived", got)
	}
	if n := waitCount(t, counts, 2, 20); n != 20 {
		t.Errorf("XDP counted %d packets, want 20", n)
	}
	if n := count(t, counts, 0); n != 0 {
		t.Errorf("tc ingress counted %d packets where XDP stands in for it", n)
	}

	// Again, with new programs: replaced in place, same links.
	progs.XDP = udpProgram(t, ebpf.XDP, "bpftables_xdp2", counts, 2, xdpPass)
	progs.Egress = udpProgram(t, ebpf.SchedCLS, "bpftables_out2", counts, 1, tcOK)
	rs, err = top.b.AttachAll(Same(progs), Options{})
	if err != nil || Failed(rs) != nil {
		t.Fatalf("again: %v, %v", err, Failed(rs))
	}
	for _, r := range rs {
		for _, a := range r.Attached {
			if was := links[r.Interface.Name+" "+a.Hook.String()]; a.Link != was || !strings.HasSuffix(a.Name, "2") {
				t.Errorf("again: %s, want link %d running the new program", a, was)
			}
		}
	}

	// tc ingress instead of XDP: XDP goes.
	progs.XDP = nil
	rs, err = top.b.AttachAll(Same(progs), Options{})
	if err != nil || Failed(rs) != nil {
		t.Fatalf("without XDP: %v, %v", err, Failed(rs))
	}
	listed, err := top.b.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range listed {
		got = append(got, ifname(t, top.b, a.Ifindex)+" "+a.Hook.String())
	}
	slices.Sort(got)
	if want := "lo egress, lo ingress, vb egress, vb ingress, vc egress, vc ingress, vd egress, vd ingress"; strings.Join(got, ", ") != want {
		t.Errorf("without XDP: %s, want %s", strings.Join(got, ", "), want)
	}
	if got := f.exchange(t, 20, 20); got != 20 {
		t.Errorf("without XDP: %d of 20 datagrams arrived", got)
	}
	if n := waitCount(t, counts, 0, 20); n != 20 {
		t.Errorf("tc ingress counted %d packets, want 20", n)
	}

	if err := top.b.DetachAll(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		assertClean(t, top, top.b, r.Interface.Index)
	}
}

// TestAttachAllReportsFailures puts another tool's XDP program on one
// interface: AttachAll says why it cannot use XDP there, and uses tc
// ingress in its place where it has that program.
func TestAttachAllReportsFailures(t *testing.T) {
	top := newTopo(t)
	counts := newCounts(t)
	var other link.Link
	err := top.b.do(func() (err error) {
		other, err = link.AttachXDP(link.XDPOptions{Program: udpProgram(t, ebpf.XDP, "other_tool", counts, 3, xdpPass), Interface: top.vb})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	xdp := udpProgram(t, ebpf.XDP, "bpftables_xdp", counts, 2, xdpPass)
	rs, err := top.b.AttachAll(Same(Programs{XDP: xdp}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		switch r.Interface.Name {
		case "vb":
			if r.Err == nil || !strings.Contains(r.Err.Error(), `another tool's program`) || !strings.Contains(r.Err.Error(), "other_tool") {
				t.Errorf("vb: error %v, want one naming the other tool's program", r.Err)
			}
		default:
			if r.Err != nil {
				t.Errorf("%s: %v", r.Interface, r.Err)
			}
		}
	}
	if err := Failed(rs); err == nil || !strings.HasPrefix(err.Error(), "vb (") {
		t.Errorf("Failed = %v, want vb's error", err)
	}

	rs, err = top.b.AttachAll(Same(Programs{XDP: xdp, Ingress: udpProgram(t, ebpf.SchedCLS, "bpftables_in", counts, 0, tcOK)}), Options{})
	if err != nil || Failed(rs) != nil {
		t.Fatalf("with tc ingress: %v, %v", err, Failed(rs))
	}
	for _, r := range rs {
		if (r.XDPErr != nil) != (r.Interface.Name == "vb") {
			t.Errorf("%s: XDPErr %v", r.Interface, r.XDPErr)
		}
		if r.Interface.Name == "vb" && (len(r.Attached) != 1 || r.Attached[0].Hook != Ingress) {
			t.Errorf("vb: attached %v, want tc ingress", r.Attached)
		}
	}
	if err := top.b.DetachAll(); err != nil {
		t.Fatal(err)
	}
	if x := iface(t, top.b, top.vb).Attrs().Xdp; x == nil || !x.Attached {
		t.Errorf("DetachAll removed the other tool's XDP program")
	}
}

// TestAttachInterfaceOneProgramPerHook gives a hook two bpftables programs
// (a TCX link and a cls_bpf filter, as two racing processes might leave):
// AttachInterface replaces one and removes the other, which would judge
// packets a second time.
func TestAttachInterfaceOneProgramPerHook(t *testing.T) {
	top := newTopo(t)
	counts := newCounts(t)
	first := udpProgram(t, ebpf.SchedCLS, "bpftables_a", counts, 0, tcOK)
	if _, err := top.b.Attach(top.vb, Ingress, first, Options{}); err != nil {
		t.Fatal(err)
	}
	// Attach refuses a second one; add it as Attach would.
	second := udpProgram(t, ebpf.SchedCLS, "bpftables_b", counts, 1, tcOK)
	id, name, err := checkProgram(Ingress, second)
	if err != nil {
		t.Fatal(err)
	}
	a := Attachment{Ifindex: top.vb, Hook: Ingress, Program: id, Name: name}
	if err := top.b.attachClsact(&a, second); err != nil {
		t.Fatal(err)
	}
	if listed, _ := top.b.List(); len(listed) != 2 {
		t.Fatalf("List = %v, want two programs at ingress", listed)
	}
	r := top.b.AttachInterface(top.vb, Programs{Ingress: udpProgram(t, ebpf.SchedCLS, "bpftables_c", counts, 2, tcOK)}, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	listed, err := top.b.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Name != "bpftables_c" || listed[0].Mode != TCX {
		t.Errorf("List = %v, want the new program alone, in the TCX link", listed)
	}
	if out := tc(t, top.nsB, "qdisc", "show", "dev", "vb"); strings.Contains(out, "clsact") {
		t.Errorf("the removed filter's clsact qdisc stayed: %s", out)
	}
	if err := top.b.DetachAll(); err != nil {
		t.Fatal(err)
	}
}
