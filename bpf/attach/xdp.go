package attach

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// attachXDP attaches prog to the interface's XDP hook with a link (Linux
// 5.9), natively if the driver can and generic mode is not asked for,
// generically otherwise, and pins the link.
func (ns *NS) attachXDP(a *Attachment, prog *ebpf.Program, generic bool) error {
	if ns.pins == "" {
		return ErrNoPins
	}
	// The kernel refuses a second XDP program (and native and generic ones
	// side by side): say whose it is.
	iface, err := ns.nl.LinkByIndex(a.Ifindex)
	if err != nil {
		return fmt.Errorf("interface: %w", err)
	}
	if x := iface.Attrs().Xdp; x != nil && x.Attached {
		name := "?"
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err == nil {
			if info, err := p.Info(); err == nil {
				name = info.Name
			}
			p.Close()
		}
		return fmt.Errorf("XDP hook holds another tool's program %d %q", x.ProgId, name)
	}

	var l link.Link
	err = ns.do(func() error {
		var nativeErr error
		if !generic {
			l, nativeErr = link.AttachXDP(link.XDPOptions{Program: prog, Interface: a.Ifindex, Flags: link.XDPDriverMode})
			if nativeErr == nil {
				a.Mode = XDPNative
				return nil
			}
		}
		var err error
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: a.Ifindex, Flags: link.XDPGenericMode})
		if err != nil {
			if nativeErr != nil {
				return fmt.Errorf("native: %v; generic: %w", nativeErr, err)
			}
			return err
		}
		a.Mode = XDPGeneric
		return nil
	})
	if err != nil {
		return err
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return err
	}
	pin, err := ns.pin(l, XDP, a.Ifindex)
	if err != nil {
		return err
	}
	a.Link, a.Pin = info.ID, pin
	return nil
}

// xdpMode translates IFLA_XDP_ATTACHED.
func xdpMode(attached uint32) Mode {
	switch attached {
	case nl.XDP_ATTACHED_DRV:
		return XDPNative
	case nl.XDP_ATTACHED_SKB:
		return XDPGeneric
	case nl.XDP_ATTACHED_HW:
		return XDPOffload
	}
	return 0
}

// xdpFlags is the XDP_FLAGS_* value of a mode.
func xdpFlags(m Mode) int {
	switch m {
	case XDPNative:
		return unix.XDP_FLAGS_DRV_MODE
	case XDPGeneric:
		return unix.XDP_FLAGS_SKB_MODE
	case XDPOffload:
		return unix.XDP_FLAGS_HW_MODE
	}
	return 0
}

// xdpLinks finds the XDP links of the machine by program, for programs
// that netlink reports: it knows no link IDs. An XDP link's information
// has the interface's index but not its namespace, so a program attached
// with links to equal indexes in two namespaces is ambiguous; bpftables
// loads its hook programs per namespace, which keeps them apart.
type xdpLinkKey struct {
	prog    ebpf.ProgramID
	ifindex int
}

func xdpLinks() (map[xdpLinkKey][]link.ID, error) {
	out := map[xdpLinkKey][]link.ID{}
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			continue
		}
		if x := info.XDP(); x != nil && x.Ifindex != 0 {
			k := xdpLinkKey{info.Program, int(x.Ifindex)}
			out[k] = append(out[k], info.ID)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	return out, nil
}

// detachXDPProgram detaches an XDP program attached without a link.
func (ns *NS) detachXDPProgram(a Attachment) error {
	return ns.do(func() error {
		err := netlink.LinkSetXdpFdWithFlags(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: a.Ifindex}}, -1, xdpFlags(a.Mode))
		if errors.Is(err, unix.ENODEV) {
			return nil
		}
		return err
	})
}
