package attach

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// List returns bpftables' attachments in the namespace, ordered by
// interface, hook and mode: every program whose name starts with
// NamePrefix that the kernel reports at a TCX hook (BPF_PROG_QUERY), in a
// clsact qdisc's filters (a tc filter dump) or at XDP (the interface's
// netlink attributes), whoever attached it. TCX hooks are queried from
// Linux 6.6 on; before, they do not exist.
func (ns *NS) List() ([]Attachment, error) {
	return ns.list(0)
}

// list is List for one interface (every one when ifindex is 0).
func (ns *NS) list(ifindex int) ([]Attachment, error) {
	ifaces, err := ns.interfaces(ifindex)
	if err != nil {
		return nil, err
	}
	var out []Attachment

	// TCX: BPF_PROG_QUERY names the interface by index, in the thread's
	// namespace.
	err = ns.do(func() error {
		for _, iface := range ifaces {
			for _, h := range []Hook{Ingress, Egress} {
				progs, err := queryTCX(iface.Attrs().Index, h)
				if err != nil && !gone(err) {
					return fmt.Errorf("interface %s: %w", iface.Attrs().Name, err)
				}
				for _, p := range progs {
					name, ok := bpftablesProgram(p.ID)
					if !ok {
						continue
					}
					id, _ := p.LinkID()
					out = append(out, Attachment{Ifindex: iface.Attrs().Index, Hook: h, Mode: TCX, Program: p.ID, Name: name, Link: id})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	pins := ns.pinnedLinks()
	var xdpByProg map[xdpLinkKey][]link.ID
	for _, iface := range ifaces {
		cls, err := ns.clsactAttachments(iface)
		if err != nil && !gone(err) {
			return nil, fmt.Errorf("interface %s: %w", iface.Attrs().Name, err)
		}
		out = append(out, cls...)

		x := iface.Attrs().Xdp
		if x == nil || !x.Attached || x.ProgId == 0 {
			// ProgId is 0 also when native and generic programs are both
			// attached (XDP_ATTACHED_MULTI), which bpftables never does.
			continue
		}
		id := ebpf.ProgramID(x.ProgId)
		name, ok := bpftablesProgram(id)
		if !ok {
			continue
		}
		a := Attachment{Ifindex: iface.Attrs().Index, Hook: XDP, Mode: xdpMode(x.AttachMode), Program: id, Name: name}
		if xdpByProg == nil {
			if xdpByProg, err = xdpLinks(); err != nil {
				return nil, err
			}
		}
		ids := xdpByProg[xdpLinkKey{id, a.Ifindex}]
		if len(ids) > 1 {
			// Several namespaces, one program: the link pinned here is ours.
			ids = slices.DeleteFunc(ids, func(l link.ID) bool { return pins[l] == "" })
		}
		switch len(ids) {
		case 0: // attached without a link
		case 1:
			a.Link = ids[0]
		default:
			return nil, fmt.Errorf("interface %s: program %d is attached at XDP of interfaces %d in several namespaces, by links %v none of which is pinned in %s", iface.Attrs().Name, id, a.Ifindex, ids, ns.pins)
		}
		out = append(out, a)
	}

	for i := range out {
		if out[i].Link != 0 {
			out[i].Pin = pins[out[i].Link]
		}
	}
	slices.SortFunc(out, func(a, b Attachment) int {
		return cmp.Or(cmp.Compare(a.Ifindex, b.Ifindex), cmp.Compare(a.Hook, b.Hook), cmp.Compare(a.Mode, b.Mode),
			cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Handle, b.Handle))
	})
	return out, nil
}

// interfaces lists the namespace's interfaces, or the one with ifindex.
func (ns *NS) interfaces(ifindex int) ([]netlink.Link, error) {
	if ifindex != 0 {
		l, err := ns.nl.LinkByIndex(ifindex)
		if err != nil {
			return nil, fmt.Errorf("interface %d: %w", ifindex, err)
		}
		return []netlink.Link{l}, nil
	}
	ls, err := retryDump(ns.nl.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	return ls, nil
}

// bpftablesProgram returns the name of the program with id and whether it
// is bpftables'.
func bpftablesProgram(id ebpf.ProgramID) (string, bool) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return "", false // gone meanwhile
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return "", false
	}
	return info.Name, strings.HasPrefix(info.Name, NamePrefix)
}

// retryDump repeats a netlink dump that the kernel interrupted because
// what it dumped changed meanwhile (netlink.ErrDumpInterrupted, which
// comes with partial results).
func retryDump[T any](dump func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i == 9 {
			return v, err
		}
	}
}

// gone reports whether err says the interface went away meanwhile.
func gone(err error) bool {
	return errors.Is(err, unix.ENODEV)
}

func isNotSupported(err error) bool {
	// Before TCX (Linux 6.6) the kernel calls its attach types invalid.
	return errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL)
}
