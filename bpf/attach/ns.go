package attach

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is one network namespace's hooks: where bpftables attaches, finds and
// detaches its programs, and the bpffs directory where it pins the links
// that keep its attachments alive. The zero NS is not usable; get one from
// OpenNS or NSFromHandle, and Close it when done. An NS may be used from
// several goroutines.
type NS struct {
	handle netns.NsHandle
	nl     *netlink.Handle
	pins   string
}

// OpenNS opens the network namespace at path (/run/netns/NAME,
// /proc/PID/ns/net; "" for the calling thread's) with pins as the bpffs
// directory for its links ("" leaves Attach able to use Clsact only).
func OpenNS(path, pins string) (*NS, error) {
	var h netns.NsHandle
	var err error
	if path == "" {
		h, err = netns.Get()
	} else {
		h, err = netns.GetFromPath(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %q: %w", path, err)
	}
	ns, err := newNS(h, pins)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open network namespace %q: %w", path, err)
	}
	return ns, nil
}

// NSFromHandle is OpenNS for a namespace the caller holds open; the NS
// keeps a duplicate of h, so h may be closed afterwards.
func NSFromHandle(h netns.NsHandle, pins string) (*NS, error) {
	fd, err := unix.FcntlInt(uintptr(h), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("network namespace handle %d: %w", h, err)
	}
	dup := netns.NsHandle(fd)
	ns, err := newNS(dup, pins)
	if err != nil {
		dup.Close()
		return nil, fmt.Errorf("network namespace handle %d: %w", h, err)
	}
	return ns, nil
}

func newNS(h netns.NsHandle, pins string) (*NS, error) {
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &NS{handle: h, nl: nl, pins: pins}, nil
}

// Close releases the namespace; attachments stay as they are.
func (ns *NS) Close() error {
	ns.nl.Close()
	return ns.handle.Close()
}

// Pins returns the bpffs directory where the namespace's links are pinned.
func (ns *NS) Pins() string { return ns.pins }

// do runs f on a locked OS thread inside the namespace, for the calls that
// name interfaces by index in the calling thread's namespace (TCX and XDP
// links, BPF_PROG_QUERY, netlink calls without a handle). It runs on a
// goroutine of its own so that a thread that cannot be moved back is left
// locked and ends with that goroutine instead of serving other code in the
// wrong namespace.
func (ns *NS) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.handle); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked: the runtime ends it with us.
			errc <- errors.Join(ferr, fmt.Errorf("leave network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
