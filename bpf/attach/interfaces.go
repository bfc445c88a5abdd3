package attach

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// Interface is a network interface as AttachAll and Watch report it. The
// zero Interface names none.
type Interface struct {
	Index int
	Name  string
	// Kind is the interface's netlink kind: "veth", "bridge", "dummy",
	// ..., "device" for hardware and lo.
	Kind string
	// LinkLayer is its link-layer type as ip-link names it: "ether",
	// "loopback" (a zeroed Ethernet header), "none" (tun, wireguard: no
	// link-layer header), "ipip", ... See the package documentation.
	LinkLayer string
}

func interfaceOf(l netlink.Link) Interface {
	a := l.Attrs()
	return Interface{Index: a.Index, Name: a.Name, Kind: l.Type(), LinkLayer: a.EncapType}
}

func (i Interface) String() string { return fmt.Sprintf("%s (%d)", i.Name, i.Index) }

// Programs are the hook programs AttachAll puts on interfaces; a nil
// program is not attached (and a bpftables program already at its hook
// stays). XDP stands in for Ingress where it attaches; where it cannot,
// Ingress does, if set.
type Programs struct {
	Ingress, Egress, XDP *ebpf.Program
}

// Result is what AttachAll did on one interface.
type Result struct {
	Interface Interface
	// Attached are the interface's attachments of the programs, new or
	// replaced, by hook.
	Attached []Attachment
	// XDPErr says why XDP could not be used where Ingress stands in for
	// it; nil otherwise.
	XDPErr error
	// Err says why the interface is not (fully) attached; nil if it is.
	Err error
}

// AttachAll attaches to every interface of the namespace, lo included,
// the programs progs chooses for it (programs differ by link layer), and
// returns one Result per interface in index order; see AttachInterface.
// The error is for the namespace as a whole (its interfaces could not be
// listed); an interface that could not be attached has its reason in
// Result.Err, and Failed collects them.
func (ns *NS) AttachAll(progs func(Interface) Programs, opts Options) ([]Result, error) {
	ifaces, err := ns.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, iface := range ifaces {
		out = append(out, ns.attachInterface(iface, progs(iface), opts))
	}
	return out, nil
}

// Same chooses the same programs for every interface.
func Same(p Programs) func(Interface) Programs { return func(Interface) Programs { return p } }

// Interfaces lists the namespace's interfaces in index order.
func (ns *NS) Interfaces() ([]Interface, error) {
	ls, err := ns.interfaces(0)
	if err != nil {
		return nil, err
	}
	out := make([]Interface, len(ls))
	for i, l := range ls {
		out[i] = interfaceOf(l)
	}
	return out, nil
}

// Failed returns the error of every result that has one, joined.
func Failed(rs []Result) error {
	var errs []error
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Interface, r.Err))
		}
	}
	return errors.Join(errs...)
}

// AttachInterface makes the programs run at the hooks of interface
// ifindex: a hook that already has a bpftables program gets the new one by
// Replace, keeping its mode (further bpftables programs there are
// removed); another is attached with Attach. When XDP takes the place of
// Ingress, bpftables' tc ingress program is then removed, and the other
// way round: for a moment both judge packets, and none go unjudged. This
// is what a Watch callback calls for a new interface.
func (ns *NS) AttachInterface(ifindex int, progs Programs, opts Options) Result {
	l, err := ns.nl.LinkByIndex(ifindex)
	if err != nil {
		return Result{Interface: Interface{Index: ifindex}, Err: fmt.Errorf("interface %d: %w", ifindex, err)}
	}
	return ns.attachInterface(interfaceOf(l), progs, opts)
}

func (ns *NS) attachInterface(iface Interface, progs Programs, opts Options) Result {
	r := Result{Interface: iface}
	found, err := ns.list(iface.Index)
	if err != nil {
		r.Err = err
		return r
	}
	// One bpftables program per hook; more (left by processes that raced,
	// or by different paths) would judge packets twice: they go.
	existing := map[Hook]Attachment{}
	var extra []Attachment
	for _, a := range found {
		if _, dup := existing[a.Hook]; dup {
			extra = append(extra, a)
		} else {
			existing[a.Hook] = a
		}
	}
	var errs []error
	for _, err := range ns.remove(extra) {
		errs = append(errs, fmt.Errorf("remove a second bpftables program: %w", err))
	}
	ensure := func(h Hook, prog *ebpf.Program) error {
		a, ok := existing[h]
		var err error
		if ok {
			err = ns.Replace(&a, prog)
		} else {
			a, err = ns.Attach(iface.Index, h, prog, opts)
		}
		if err == nil {
			r.Attached = append(r.Attached, a)
		}
		return err
	}
	// drop removes bpftables' program from the hook the other one took.
	drop := func(h Hook) {
		if a, ok := existing[h]; ok {
			if err := errors.Join(ns.remove([]Attachment{a})...); err != nil {
				errs = append(errs, fmt.Errorf("remove %s, replaced by %s: %w", a, other(h), err))
			}
		}
	}

	switch {
	case progs.XDP != nil:
		err := ensure(XDP, progs.XDP)
		switch {
		case err == nil:
			drop(Ingress)
		case progs.Ingress != nil:
			r.XDPErr = err
			if err := ensure(Ingress, progs.Ingress); err != nil {
				errs = append(errs, err)
			} else {
				drop(XDP)
			}
		default:
			errs = append(errs, err)
		}
	case progs.Ingress != nil:
		if err := ensure(Ingress, progs.Ingress); err != nil {
			errs = append(errs, err)
		} else {
			drop(XDP)
		}
	}
	if progs.Egress != nil {
		if err := ensure(Egress, progs.Egress); err != nil {
			errs = append(errs, err)
		}
	}
	r.Err = errors.Join(errs...)
	return r
}

// other names the hook that takes h's place.
func other(h Hook) Hook {
	if h == XDP {
		return Ingress
	}
	return XDP
}
