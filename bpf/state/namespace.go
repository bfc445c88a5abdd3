package state

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Open returns the directory of the calling thread's network namespace in
// the standard layout, creating what is missing (the bpffs mount,
// directories). Closing the Dir closes the Root it opened. Linux 5.14;
// root.
func Open() (*Dir, error) { return Layout{}.Open() }

// Open is the package-level Open for the layout.
func (l Layout) Open() (*Dir, error) {
	r, err := l.OpenRoot()
	if err != nil {
		return nil, err
	}
	d, err := r.Open()
	if err != nil {
		r.Close()
		return nil, err
	}
	d.own = true
	return d, nil
}

// tempInfix separates a cookie from the random part of the temporary name
// Open makes a namespace's directory under.
const tempInfix = "-new-"

// markerName is the pin every namespace directory holds from its creation
// on: a device map holding the namespace's loopback device (see
// Root.Alive). Dir methods refuse the name in a namespace's directory.
const markerName = "netns"

// loopbackIndex is the loopback device's interface index, the same in
// every network namespace (LOOPBACK_IFINDEX, Linux 3.18).
const loopbackIndex = 1

// Open returns the directory of the calling thread's network namespace,
// creating it if missing. A new directory appears complete, with its
// marker, or not at all: it is made under a temporary name and renamed.
func (r *Root) Open() (*Dir, error) {
	c, err := CurrentCookie()
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	d := &Dir{root: r, top: true, cookie: c, path: filepath.Join(r.path, c.String())}
	if _, err := os.Stat(d.path); err == nil {
		return d, nil
	} else if !isNotExist(err) {
		return nil, fmt.Errorf("state: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := d.path + tempInfix + hex.EncodeToString(b[:])
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if err := pinMarker(filepath.Join(tmp, markerName)); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("state: namespace %s: %w", c, err)
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, d.path, unix.RENAME_NOREPLACE)
	if err != nil {
		os.RemoveAll(tmp)
		if !errors.Is(err, unix.EEXIST) { // else another process made it first
			return nil, fmt.Errorf("state: rename %s to %s: %w", tmp, d.path, err)
		}
	}
	return d, nil
}

// pinMarker pins a device map holding the calling thread's namespace's
// loopback device: the kernel looks the device up in the namespace of the
// thread that updates the map.
func pinMarker(path string) error {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "bpftables_netns",
		Type:       ebpf.DevMapHash,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: 1,
	})
	if err != nil {
		return fmt.Errorf("marker map: %w", err)
	}
	defer m.Close()
	if err := m.Put(uint32(loopbackIndex), uint32(loopbackIndex)); err != nil {
		return fmt.Errorf("marker map: add lo: %w", err)
	}
	if err := m.Pin(path); err != nil {
		return fmt.Errorf("pin marker: %w", err)
	}
	return nil
}

// Lookup returns the directory of the namespace with cookie c, or an error
// wrapping ErrNotExist when there is none.
func (r *Root) Lookup(c Cookie) (*Dir, error) {
	d := &Dir{root: r, top: true, cookie: c, path: filepath.Join(r.path, c.String())}
	if err := isDir(d.path); err != nil {
		return nil, fmt.Errorf("state: namespace %s: %w", c, err)
	}
	return d, nil
}

func isDir(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return wrapPath("stat", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: not a directory", path)
	}
	return nil
}

// Namespaces returns the cookies of the namespaces that have a directory,
// in increasing order.
func (r *Root) Namespaces() ([]Cookie, error) {
	ents, err := os.ReadDir(r.path)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var cs []Cookie
	for _, e := range ents {
		if c, ok := parseCookie(e.Name()); ok && e.IsDir() {
			cs = append(cs, c)
		}
	}
	slices.Sort(cs)
	return cs, nil
}

// Remove removes the directory of the namespace with cookie c and unpins
// everything under it: objects nothing else holds go away, pinned links
// detach. It is what `bpftables reset` does; the caller holds the
// namespace's lock. A missing directory is an error wrapping ErrNotExist.
func (r *Root) Remove(c Cookie) error {
	p := filepath.Join(r.path, c.String())
	if _, err := os.Lstat(p); err != nil {
		return fmt.Errorf("state: namespace %s: %w", c, wrapPath("remove", p, err))
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("state: namespace %s: %w", c, err)
	}
	return nil
}
