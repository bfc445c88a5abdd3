package attach

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// NamePrefix starts the name of every bpftables hook program: it is how
// List tells bpftables' attachments from other tools' (the kernel keeps
// the first 15 bytes of a program's name).
const NamePrefix = "bpftables"

// ErrAttached is returned (wrapped) by Attach when a bpftables program is
// already attached at the hook; Replace it instead.
var ErrAttached = errors.New("a bpftables program is already attached")

// Options choose among the attach paths. The zero Options takes the best
// the kernel offers: TCX for tc hooks (Clsact where TCX is missing, before
// Linux 6.6), native XDP where the driver has it and generic XDP elsewhere.
type Options struct {
	// Clsact attaches tc programs through a clsact qdisc and a cls_bpf
	// filter even where TCX works.
	Clsact bool
	// XDPGeneric attaches XDP programs in generic mode even where the
	// driver has native XDP.
	XDPGeneric bool
}

// Attachment is one bpftables program at one hook of one interface, as
// Attach made it or List found it. The zero Attachment describes nothing.
type Attachment struct {
	Ifindex int
	Hook    Hook
	Mode    Mode
	// Program is the attached program and Name its name, as the kernel
	// reports them.
	Program ebpf.ProgramID
	Name    string
	// Link is the link that holds a TCX or XDP attachment; 0 for Clsact
	// and for programs attached without a link (by other tools).
	Link link.ID
	// Pin is the link's pin in the namespace's pin directory; "" if it has
	// none there.
	Pin string
	// Priority and Handle identify a Clsact attachment's filter.
	Priority uint16
	Handle   uint32
	// ownQdisc: a Clsact filter whose name says bpftables created the qdisc.
	ownQdisc bool
}

func (a Attachment) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ifindex %d %s %s program %d %q", a.Ifindex, a.Hook, a.Mode, a.Program, a.Name)
	if a.Link != 0 {
		fmt.Fprintf(&b, " link %d", a.Link)
	}
	if a.Pin != "" {
		fmt.Fprintf(&b, " pinned %s", a.Pin)
	}
	if a.Mode == Clsact {
		fmt.Fprintf(&b, " pref %d handle %#x", a.Priority, a.Handle)
	}
	return b.String()
}

// Attach attaches prog at hook of interface ifindex: a TCX link or, with
// opts.Clsact or before Linux 6.6, a cls_bpf filter for Ingress and Egress
// (program type SchedCLS); an XDP link for XDP (native or generic, see
// Options; Linux 5.9). Links are pinned in the NS's pin directory so that
// the attachment outlives this process; filters outlive it by themselves.
// bpftables' program goes first among the hook's programs. The program's
// name must start with NamePrefix; a bpftables program already at the hook
// is an error (ErrAttached).
func (ns *NS) Attach(ifindex int, hook Hook, prog *ebpf.Program, opts Options) (Attachment, error) {
	a, err := ns.attach(ifindex, hook, prog, opts)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %s of interface %d: %w", hook, ifindex, err)
	}
	return a, nil
}

func (ns *NS) attach(ifindex int, hook Hook, prog *ebpf.Program, opts Options) (Attachment, error) {
	a := Attachment{Ifindex: ifindex, Hook: hook}
	var err error
	if a.Program, a.Name, err = checkProgram(hook, prog); err != nil {
		return a, err
	}
	found, err := ns.list(ifindex)
	if err != nil {
		return a, err
	}
	for _, f := range found {
		if f.Hook == hook {
			return a, fmt.Errorf("%w: %s", ErrAttached, f)
		}
	}
	switch hook {
	case Ingress, Egress:
		if !opts.Clsact {
			err = ns.attachTCX(&a, prog)
			if !errors.Is(err, ebpf.ErrNotSupported) {
				return a, err
			}
		}
		err = ns.attachClsact(&a, prog)
	case XDP:
		err = ns.attachXDP(&a, prog, opts.XDPGeneric)
	default:
		err = fmt.Errorf("unknown hook %s", hook)
	}
	return a, err
}

// checkProgram checks that prog suits hook and is a bpftables program, and
// returns its ID and name.
func checkProgram(hook Hook, prog *ebpf.Program) (ebpf.ProgramID, string, error) {
	if prog == nil {
		return 0, "", errors.New("no program")
	}
	want := ebpf.SchedCLS
	if hook == XDP {
		want = ebpf.XDP
	}
	if prog.Type() != want {
		return 0, "", fmt.Errorf("program type %s cannot run at %s (wants %s)", prog.Type(), hook, want)
	}
	info, err := prog.Info()
	if err != nil {
		return 0, "", fmt.Errorf("program info: %w", err)
	}
	id, _ := info.ID()
	if !strings.HasPrefix(info.Name, NamePrefix) {
		return 0, "", fmt.Errorf("program %d %q: name does not start with %q, so bpftables could not find it again", id, info.Name, NamePrefix)
	}
	return id, info.Name, nil
}

// Replace swaps the program of an attachment found by List or made by
// Attach for prog, atomically: every packet runs either the old program or
// the new one. It fails if the attachment's program changed meanwhile
// (TCX and XDP links compare and swap; Linux 5.7) or its filter is gone.
// Programs attached without a link by other tools cannot be replaced. On
// success the attachment's Program and Name describe prog.
func (ns *NS) Replace(a *Attachment, prog *ebpf.Program) error {
	id, name, err := checkProgram(a.Hook, prog)
	if err == nil {
		switch {
		case a.Link != 0:
			err = replaceLink(a.Link, a.Program, prog)
		case a.Mode == Clsact:
			err = ns.replaceClsact(*a, prog)
		default:
			err = errors.New("attached without a link by another tool")
		}
	}
	if err != nil {
		return fmt.Errorf("replace program %d at %s of interface %d: %w", a.Program, a.Hook, a.Ifindex, err)
	}
	a.Program, a.Name = id, name
	return nil
}

// replaceLink updates a TCX or XDP link from program old to prog, failing
// if old is no longer the link's program.
func replaceLink(id link.ID, old ebpf.ProgramID, prog *ebpf.Program) error {
	l, err := link.NewFromID(id)
	if err != nil {
		return err
	}
	defer l.Close()
	raw, ok := l.(interface {
		UpdateArgs(link.RawLinkUpdateOptions) error
	})
	if !ok {
		return fmt.Errorf("link %d of type %T cannot be updated", id, l)
	}
	oldProg, err := ebpf.NewProgramFromID(old)
	if err != nil {
		return fmt.Errorf("current program: %w", err)
	}
	defer oldProg.Close()
	return raw.UpdateArgs(link.RawLinkUpdateOptions{New: prog, Old: oldProg, Flags: unix.BPF_F_REPLACE})
}
