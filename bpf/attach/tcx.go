package attach

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

func tcxAttachType(h Hook) ebpf.AttachType {
	if h == Egress {
		return ebpf.AttachTCXEgress
	}
	return ebpf.AttachTCXIngress
}

// attachTCX attaches prog at the head of the interface's TCX hook with a
// link (Linux 6.6; an error wrapping ebpf.ErrNotSupported before) and pins
// the link. The interface index is resolved in the thread's namespace,
// hence ns.do.
func (ns *NS) attachTCX(a *Attachment, prog *ebpf.Program) error {
	if ns.pins == "" {
		return ErrNoPins
	}
	var l link.Link
	err := ns.do(func() (err error) {
		l, err = link.AttachTCX(link.TCXOptions{
			Interface: a.Ifindex,
			Program:   prog,
			Attach:    tcxAttachType(a.Hook),
			Anchor:    link.Head(),
		})
		return err
	})
	if err != nil {
		return err
	}
	// Closing the fd detaches the link unless the pin below holds it.
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return err
	}
	pin, err := ns.pin(l, a.Hook, a.Ifindex)
	if err != nil {
		return err
	}
	a.Mode, a.Link, a.Pin = TCX, info.ID, pin
	return nil
}

// queryTCX lists the programs at the interface's TCX hooks. It must run
// inside the namespace. A kernel without TCX has none.
func queryTCX(ifindex int, h Hook) ([]link.AttachedProgram, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: tcxAttachType(h)})
	if err != nil {
		if isNotSupported(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("query tcx %s: %w", h, err)
	}
	return res.Programs, nil
}

// detachTCXProgram detaches a program attached to TCX without a link
// (BPF_PROG_ATTACH, as other tools may do).
func (ns *NS) detachTCXProgram(a Attachment) error {
	prog, err := ebpf.NewProgramFromID(a.Program)
	if err != nil {
		return err
	}
	defer prog.Close()
	return ns.do(func() error {
		return link.RawDetachProgram(link.RawDetachProgramOptions{
			Target:  a.Ifindex,
			Program: prog,
			Attach:  tcxAttachType(a.Hook),
		})
	})
}
