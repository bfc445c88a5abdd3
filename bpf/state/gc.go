package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
)

// Alive reports whether the namespace of a directory still exists, as the
// kernel reports it through the directory's marker: a device map that held
// the namespace's loopback device from the directory's creation. The
// loopback device cannot be deleted or moved to another namespace, and is
// unregistered only when its namespace is destroyed; the kernel then
// deletes it from every device map (dev_map_notification). An entry still
// there means the namespace lives; none means it is gone. The map holds no
// reference that keeps the namespace alive.
//
// A directory without a marker is an error: its namespace cannot be
// judged.
func (r *Root) Alive(c Cookie) (bool, error) {
	return alive(filepath.Join(r.path, c.String()))
}

func alive(dir string) (bool, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, markerName), nil)
	if err != nil {
		return false, fmt.Errorf("state: marker: %w", wrapPath("load map", filepath.Join(dir, markerName), err))
	}
	defer m.Close()
	var v uint32
	switch err := m.Lookup(uint32(loopbackIndex), &v); {
	case err == nil:
		return true, nil
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("state: marker %s: %w", dir, err)
	}
}

// Collect removes the directories, and lock files, of namespaces that no
// longer exist (see Alive) and returns their cookies. Directories of
// namespaces that live, whose marker is missing, or whose lock another
// process holds are left alone. So are the temporary directories a
// crashed Open left, unless their namespace is gone. The kernel destroys a
// namespace some time after its last user goes: a namespace deleted a
// moment ago may be collected only by a later call.
func (r *Root) Collect() ([]Cookie, error) {
	ents, err := os.ReadDir(r.path)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var removed []Cookie
	var errs []error
	for _, e := range ents {
		name, _, temp := strings.Cut(e.Name(), tempInfix)
		c, ok := parseCookie(name)
		if !ok || !e.IsDir() {
			continue
		}
		dir := filepath.Join(r.path, e.Name())
		live, err := alive(dir)
		if err != nil || live {
			continue
		}
		if temp {
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, fmt.Errorf("state: %w", err))
			}
			continue
		}
		lock, err := r.Lock(c, 0)
		if err != nil {
			continue // a writer of a namespace that just died: later
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("state: namespace %s: %w", c, err))
		} else {
			removed = append(removed, c)
			errs = append(errs, lock.remove())
		}
		errs = append(errs, lock.Unlock())
	}
	return removed, errors.Join(errs...)
}
