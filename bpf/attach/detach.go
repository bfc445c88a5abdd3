package attach

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Detach removes bpftables' attachments from interface ifindex: detaches
// its links and removes their pins, deletes its cls_bpf filters and the
// clsact qdisc if bpftables created it and nothing else uses it. Other
// tools' programs stay. An interface without attachments is no error.
func (ns *NS) Detach(ifindex int) error {
	if err := ns.detach(ifindex); err != nil {
		return fmt.Errorf("detach from interface %d: %w", ifindex, err)
	}
	return nil
}

// DetachAll is Detach for every interface of the namespace, and removes
// every link pin bpftables made in the pin directory, those of interfaces
// that are gone included: `bpftables reset`.
func (ns *NS) DetachAll() error {
	if err := ns.detach(0); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	return nil
}

func (ns *NS) detach(ifindex int) error {
	as, err := ns.list(ifindex)
	if err != nil {
		return err
	}
	errs := ns.remove(as)
	if err := ns.unpin(ifindex); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// detachOne detaches one attachment; remove does the rest.
func (ns *NS) detachOne(a Attachment) error {
	switch {
	case a.Link != 0:
		l, err := link.NewFromID(a.Link)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return err
		}
		defer l.Close()
		return l.Detach()
	case a.Mode == Clsact:
		return ns.detachClsact(a)
	case a.Mode == TCX:
		return ns.detachTCXProgram(a)
	default:
		return ns.detachXDPProgram(a)
	}
}

// remove detaches the attachments, removes their pins, and the clsact
// qdiscs bpftables created that nothing uses any more.
func (ns *NS) remove(as []Attachment) []error {
	var errs []error
	ownQdisc := map[int]bool{}
	for _, a := range as {
		if err := ns.detachOne(a); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		if a.Pin != "" {
			if err := os.Remove(a.Pin); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if a.ownQdisc {
			ownQdisc[a.Ifindex] = true
		}
	}
	for i := range ownQdisc {
		iface, err := ns.nl.LinkByIndex(i)
		if err == nil {
			err = ns.removeClsactIfUnused(iface)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("interface %d: %w", i, err))
		}
	}
	return errs
}
