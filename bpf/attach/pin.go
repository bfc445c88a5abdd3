package attach

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/link"
)

// ErrNoPins is returned (wrapped) by Attach when a link would be made but
// the NS has no pin directory: unpinned, it would detach when this process
// exits.
var ErrNoPins = errors.New("no pin directory for links")

// pinName is the name of the pin of the link at hook of interface ifindex.
// Interface indexes are stable for an interface's life and not reused soon
// (Linux allocates them cyclically), unlike names, which can change.
func pinName(h Hook, ifindex int) string {
	return "link-" + h.String() + "-" + strconv.Itoa(ifindex)
}

// parsePinName reverses pinName.
func parsePinName(name string) (Hook, int, bool) {
	rest, ok := strings.CutPrefix(name, "link-")
	if !ok {
		return 0, 0, false
	}
	hs, is, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	ifindex, err := strconv.Atoi(is)
	if err != nil || ifindex <= 0 || strconv.Itoa(ifindex) != is {
		return 0, 0, false
	}
	for h := range hookNames {
		if hookNames[h] == hs {
			return Hook(h), ifindex, true
		}
	}
	return 0, 0, false
}

// pin pins l as the link of hook on ifindex. A pin already there is
// replaced when its link is defunct (its interface went away, which
// detaches the link but keeps the pin); a live one is refused, because the
// caller checked that no bpftables program is attached at the hook in this
// namespace, so the live link belongs to another namespace that shares
// the directory by mistake.
func (ns *NS) pin(l link.Link, h Hook, ifindex int) (string, error) {
	if ns.pins == "" {
		return "", ErrNoPins
	}
	if err := os.MkdirAll(ns.pins, 0o700); err != nil {
		return "", fmt.Errorf("pin directory: %w", err)
	}
	path := filepath.Join(ns.pins, pinName(h, ifindex))
	if old, err := link.LoadPinnedLink(path, nil); err == nil {
		live := linkIfindex(old) != 0
		old.Close()
		if live {
			return "", fmt.Errorf("pin %s holds a live link of another interface or namespace", path)
		}
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("remove stale pin: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read pin: %w", err)
	}
	if err := l.Pin(path); err != nil {
		return "", fmt.Errorf("pin link: %w", err)
	}
	return path, nil
}

// linkIfindex returns the interface a TCX or XDP link is attached to, 0
// when it is defunct or of another kind.
func linkIfindex(l link.Link) int {
	info, err := l.Info()
	if err != nil {
		return 0
	}
	if t := info.TCX(); t != nil {
		return int(t.Ifindex)
	}
	if x := info.XDP(); x != nil {
		return int(x.Ifindex)
	}
	return 0
}

// pinnedLinks maps the links pinned in the pin directory to their pins.
func (ns *NS) pinnedLinks() map[link.ID]string {
	pins := map[link.ID]string{}
	for _, name := range ns.pinNames() {
		path := filepath.Join(ns.pins, name)
		l, err := link.LoadPinnedLink(path, nil)
		if err != nil {
			continue // removed meanwhile, or not a link: not ours
		}
		if info, err := l.Info(); err == nil {
			pins[info.ID] = path
		}
		l.Close()
	}
	return pins
}

// pinNames lists the names in the pin directory that pinName makes.
func (ns *NS) pinNames() []string {
	if ns.pins == "" {
		return nil
	}
	entries, err := os.ReadDir(ns.pins)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if _, _, ok := parsePinName(e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	return names
}

// unpin removes the pins of the interface's hooks (every interface when
// ifindex is 0), live or defunct: called after their links were detached.
func (ns *NS) unpin(ifindex int) error {
	var errs []error
	for _, name := range ns.pinNames() {
		if _, i, _ := parsePinName(name); ifindex == 0 || i == ifindex {
			if err := os.Remove(filepath.Join(ns.pins, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
