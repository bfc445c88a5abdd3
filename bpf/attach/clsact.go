package attach

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The cls_bpf filters bpftables adds carry one of these names (TCA_BPF_NAME,
// shown by `tc filter show`). filterNameOwnQdisc records, in the kernel and
// next to what it describes, that bpftables created the interface's clsact
// qdisc: Detach removes the qdisc only then, and only once no filter of
// any kind is left on it. Each of bpftables' filters on a qdisc it created
// carries the mark (a later Attach copies it from the first), so it
// survives detaching any one of them.
const (
	filterName         = NamePrefix
	filterNameOwnQdisc = NamePrefix + ":own-clsact"
)

// clsactPriority puts bpftables' filter first among the hook's filters.
const clsactPriority = 1

func clsactParent(h Hook) uint32 {
	if h == Egress {
		return netlink.HANDLE_MIN_EGRESS
	}
	return netlink.HANDLE_MIN_INGRESS
}

// attachClsact adds prog as a direct-action cls_bpf filter on the
// interface's clsact qdisc, creating the qdisc if it is missing.
func (ns *NS) attachClsact(a *Attachment, prog *ebpf.Program) error {
	iface, err := ns.nl.LinkByIndex(a.Ifindex)
	if err != nil {
		return fmt.Errorf("interface: %w", err)
	}
	has, err := ns.hasClsact(iface)
	if err != nil {
		return err
	}
	name := filterName
	if !has {
		q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: a.Ifindex,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		}}
		if err := ns.nl.QdiscAdd(q); err != nil {
			return fmt.Errorf("add clsact qdisc: %w", err)
		}
		name = filterNameOwnQdisc
	} else {
		ours, err := ns.clsactAttachments(iface)
		if err != nil {
			return err
		}
		for _, o := range ours {
			if o.ownQdisc {
				name = filterNameOwnQdisc
			}
		}
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: a.Ifindex,
			Parent:    clsactParent(a.Hook),
			Priority:  clsactPriority,
			Protocol:  unix.ETH_P_ALL,
			// Handle 0: the kernel picks one that is free at this priority.
		},
		Fd:           prog.FD(),
		Name:         name,
		DirectAction: true,
	}
	if err := ns.nl.FilterAdd(f); err != nil {
		err = fmt.Errorf("add cls_bpf filter: %w", err)
		if !has {
			if qerr := ns.removeClsactIfUnused(iface); qerr != nil {
				err = errors.Join(err, qerr)
			}
		}
		return err
	}
	ours, err := ns.clsactAttachments(iface)
	if err != nil {
		return err
	}
	for _, o := range ours {
		if o.Hook == a.Hook && o.Program == a.Program {
			*a = o
			return nil
		}
	}
	return errors.New("cls_bpf filter added but not found again")
}

// hasClsact reports whether the interface has a clsact qdisc. An ingress
// qdisc (which takes the same place but has no egress) is an error.
func (ns *NS) hasClsact(iface netlink.Link) (bool, error) {
	qs, err := retryDump(func() ([]netlink.Qdisc, error) { return ns.nl.QdiscList(iface) })
	if err != nil {
		return false, fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qs {
		if q.Attrs().Parent != netlink.HANDLE_CLSACT {
			continue
		}
		if q.Type() == "clsact" {
			return true, nil
		}
		return false, fmt.Errorf("interface has a %s qdisc where clsact goes", q.Type())
	}
	return false, nil
}

// clsactFilters lists the cls_bpf filters at the hook, whoever added them.
func (ns *NS) clsactFilters(iface netlink.Link, h Hook) ([]netlink.Filter, error) {
	fs, err := retryDump(func() ([]netlink.Filter, error) { return ns.nl.FilterList(iface, clsactParent(h)) })
	if err != nil {
		return nil, fmt.Errorf("list %s filters: %w", h, err)
	}
	return fs, nil
}

// clsactAttachments lists bpftables' cls_bpf filters on the interface.
func (ns *NS) clsactAttachments(iface netlink.Link) ([]Attachment, error) {
	var out []Attachment
	for _, h := range []Hook{Ingress, Egress} {
		fs, err := ns.clsactFilters(iface, h)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			bf, ok := f.(*netlink.BpfFilter)
			if !ok || bf.Id == 0 {
				continue
			}
			name, ok := bpftablesProgram(ebpf.ProgramID(bf.Id))
			if !ok {
				continue
			}
			attrs := bf.Attrs()
			out = append(out, Attachment{
				Ifindex:  iface.Attrs().Index,
				Hook:     h,
				Mode:     Clsact,
				Program:  ebpf.ProgramID(bf.Id),
				Name:     name,
				Priority: attrs.Priority,
				Handle:   attrs.Handle,
				ownQdisc: bf.Name == filterNameOwnQdisc,
			})
		}
	}
	return out, nil
}

// clsactFilter is the filter of a Clsact attachment with program fd.
func clsactFilter(a Attachment, fd int, name string) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: a.Ifindex,
			Parent:    clsactParent(a.Hook),
			Priority:  a.Priority,
			Protocol:  unix.ETH_P_ALL,
			Handle:    a.Handle,
		},
		Fd:           fd,
		Name:         name,
		DirectAction: true,
	}
}

// replaceClsact replaces the program of a bpftables filter in place: the
// kernel swaps it under RCU, so no packet goes unjudged.
func (ns *NS) replaceClsact(a Attachment, prog *ebpf.Program) error {
	iface, err := ns.nl.LinkByIndex(a.Ifindex)
	if err != nil {
		return fmt.Errorf("interface: %w", err)
	}
	ours, err := ns.clsactAttachments(iface)
	if err != nil {
		return err
	}
	for _, o := range ours {
		if o.Hook == a.Hook && o.Priority == a.Priority && o.Handle == a.Handle {
			if o.Program != a.Program {
				return fmt.Errorf("filter runs program %d now", o.Program)
			}
			name := filterName
			if o.ownQdisc {
				name = filterNameOwnQdisc
			}
			if err := ns.nl.FilterReplace(clsactFilter(a, prog.FD(), name)); err != nil {
				return fmt.Errorf("replace cls_bpf filter: %w", err)
			}
			return nil
		}
	}
	return errors.New("filter is gone")
}

// detachClsact deletes a bpftables filter.
func (ns *NS) detachClsact(a Attachment) error {
	err := ns.nl.FilterDel(clsactFilter(a, -1, ""))
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// removeClsactIfUnused deletes the interface's clsact qdisc if no filter
// is left on it.
func (ns *NS) removeClsactIfUnused(iface netlink.Link) error {
	for _, h := range []Hook{Ingress, Egress} {
		fs, err := ns.clsactFilters(iface, h)
		if err != nil {
			return err
		}
		if len(fs) > 0 {
			return nil
		}
	}
	q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: iface.Attrs().Index,
		Handle:    netlink.MakeHandle(0xffff, 0),
		Parent:    netlink.HANDLE_CLSACT,
	}}
	if err := ns.nl.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("remove clsact qdisc: %w", err)
	}
	return nil
}
