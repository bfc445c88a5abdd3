package attach

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// WatchOptions say what a Watcher reports besides new interfaces. The zero
// WatchOptions reports only interfaces that appear after Watch returns.
type WatchOptions struct {
	// Existing reports the interfaces present when Watch starts, too.
	Existing bool
	// Removed, if set, is called for interfaces that leave the namespace
	// (deleted or moved out).
	Removed func(Interface)
}

// Watcher calls back for interfaces that appear in a namespace (created or
// moved in), so that bpftables' programs can be attached to them. The zero
// Watcher is not usable; get one from NS.Watch.
type Watcher struct {
	ns      *NS
	added   func(Interface)
	removed func(Interface)
	known   map[int]bool
	stop    chan struct{}
	once    sync.Once
	done    chan struct{}
	err     error
	renewed int // subscriptions renewed, for tests
}

// Watch subscribes to the namespace's link notifications (rtnetlink) and
// calls added for each interface that appears, one call at a time on a
// goroutine of the Watcher's. If the kernel drops notifications (the
// callbacks were too slow), it subscribes again and compares the
// interfaces with those it knew, so none is missed. The NS must stay open
// until the Watcher is closed.
func (ns *NS) Watch(added func(Interface), opts WatchOptions) (*Watcher, error) {
	w := &Watcher{
		ns:      ns,
		added:   added,
		removed: opts.Removed,
		known:   map[int]bool{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	sub, err := ns.subscribe()
	if err != nil {
		return nil, fmt.Errorf("watch interfaces: %w", err)
	}
	// Listed after subscribing: an interface that appears in between is
	// both listed and notified, never neither.
	ifaces, err := ns.interfaces(0)
	if err != nil {
		sub.close()
		return nil, fmt.Errorf("watch interfaces: %w", err)
	}
	var report []Interface
	for _, l := range ifaces {
		w.known[l.Attrs().Index] = true
		if opts.Existing {
			report = append(report, interfaceOf(l))
		}
	}
	go w.run(sub, report)
	return w, nil
}

// Close stops the watcher; no callback runs after it returns, so it must
// not be called from one. It returns what ended the watch early, if
// anything did.
func (w *Watcher) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return w.err
}

func (w *Watcher) run(sub *subscription, report []Interface) {
	defer close(w.done)
	for _, iface := range report {
		w.added(iface)
	}
	for {
		select {
		case <-w.stop:
			sub.close()
			return
		case u, ok := <-sub.updates:
			if ok {
				w.update(u)
				continue
			}
			ended := sub
			ended.close()
			w.renewed++
			var err error
			if sub, err = w.ns.subscribe(); err == nil {
				if err = w.resync(); err != nil {
					sub.close()
				}
			}
			if err != nil {
				w.err = fmt.Errorf("watch interfaces: subscription ended (%v), renewing it: %w", ended.lastErr(), err)
				return
			}
		}
	}
}

func (w *Watcher) update(u netlink.LinkUpdate) {
	i := int(u.Index)
	switch u.Header.Type {
	case unix.RTM_NEWLINK:
		if !w.known[i] {
			w.known[i] = true
			w.added(interfaceOf(u.Link))
		}
	case unix.RTM_DELLINK:
		if w.known[i] {
			delete(w.known, i)
			if w.removed != nil {
				w.removed(interfaceOf(u.Link))
			}
		}
	}
}

// resync reports the changes missed while no subscription was listening.
func (w *Watcher) resync() error {
	ifaces, err := w.ns.interfaces(0)
	if err != nil {
		return err
	}
	now := map[int]netlink.Link{}
	for _, l := range ifaces {
		now[l.Attrs().Index] = l
	}
	for i := range w.known {
		if _, ok := now[i]; !ok {
			delete(w.known, i)
			if w.removed != nil {
				w.removed(Interface{Index: i})
			}
		}
	}
	for i, l := range now {
		if !w.known[i] {
			w.known[i] = true
			w.added(interfaceOf(l))
		}
	}
	return nil
}

// subscription is one rtnetlink link subscription in the namespace.
type subscription struct {
	updates chan netlink.LinkUpdate
	stop    chan struct{}
	mu      sync.Mutex
	err     error
}

// subscribeBuffer sizes a subscription's socket buffer; 0 keeps the
// system's. Tests shrink it to make the kernel drop notifications.
var subscribeBuffer = 0

func (ns *NS) subscribe() (*subscription, error) {
	s := &subscription{updates: make(chan netlink.LinkUpdate, 64), stop: make(chan struct{})}
	h := ns.handle
	err := netlink.LinkSubscribeWithOptions(s.updates, s.stop, netlink.LinkSubscribeOptions{
		Namespace:         &h,
		ReceiveBufferSize: subscribeBuffer,
		ErrorCallback: func(err error) {
			if errors.Is(err, netlink.ErrDumpInterrupted) {
				return
			}
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *subscription) lastErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// close ends the subscription and waits until its goroutine is done.
func (s *subscription) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	for range s.updates {
	}
}
