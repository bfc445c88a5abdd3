package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ErrNotExist is returned (wrapped) when a pinned object or a directory is
// missing. errors.Is(err, fs.ErrNotExist) holds for it too.
var ErrNotExist error = notExist{}

type notExist struct{}

func (notExist) Error() string        { return "not pinned" }
func (notExist) Is(target error) bool { return target == fs.ErrNotExist }
func notPinned(path string) error     { return fmt.Errorf("%s: %w", path, ErrNotExist) }
func isNotExist(err error) bool       { return errors.Is(err, fs.ErrNotExist) }
func wrapPath(op, path string, err error) error {
	if isNotExist(err) {
		return fmt.Errorf("%s: %w", op, notPinned(path))
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

// Dir is a directory of pinned objects in the bpffs: a network namespace's
// directory or a subdirectory of it (a generation). The zero Dir is not
// usable; get one from Open, Root.Open, Root.Lookup, Dir.Mkdir or Dir.Sub.
// Every Dir of a Root is unusable once the Root is closed.
type Dir struct {
	root   *Root
	own    bool // Close closes root
	top    bool // the namespace's directory, which holds the marker
	cookie Cookie
	path   string
}

// Path returns where this process reaches the directory (see Root.Path).
func (d *Dir) Path() string { return d.path }

// Cookie returns the cookie of the namespace the directory belongs to.
func (d *Dir) Cookie() Cookie { return d.cookie }

// Root returns the Root the directory belongs to.
func (d *Dir) Root() *Root { return d.root }

// Close closes the Root if Open made it; otherwise it does nothing.
func (d *Dir) Close() error {
	if d.own {
		return d.root.Close()
	}
	return nil
}

// join checks that name is one path element that bpffs accepts, and not
// the marker, and joins it to the directory.
func (d *Dir) join(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("state: %q is not a file name", name)
	}
	if strings.ContainsRune(name, '.') {
		// bpf_lookup: dots are reserved for the kernel's own files
		// (maps.debug).
		return "", fmt.Errorf("state: %q: bpffs refuses names with a dot", name)
	}
	if d.top && name == markerName {
		return "", fmt.Errorf("state: %q is reserved in a namespace's directory", name)
	}
	return filepath.Join(d.path, name), nil
}

func (d *Dir) sub(path string) *Dir { return &Dir{root: d.root, cookie: d.cookie, path: path} }

// Mkdir makes the subdirectory name (say, a generation) and returns it. It
// fails with an error wrapping fs.ErrExist if name exists.
func (d *Dir) Mkdir(name string) (*Dir, error) {
	p, err := d.join(name)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(p, 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return d.sub(p), nil
}

// Sub returns the existing subdirectory name, or an error wrapping
// ErrNotExist.
func (d *Dir) Sub(name string) (*Dir, error) {
	p, err := d.join(name)
	if err != nil {
		return nil, err
	}
	if err := isDir(p); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return d.sub(p), nil
}

// Names returns the names in the directory, sorted, without the marker.
func (d *Dir) Names() ([]string, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("state: %w", wrapPath("read directory", d.path, err))
	}
	var names []string
	for _, e := range ents {
		if !d.top || e.Name() != markerName {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Remove removes name: a pin, or a subdirectory with everything pinned
// under it. Objects nothing else holds go away with their pins, and links
// detach, shortly after (the kernel frees an unpinned object after an RCU
// grace period). A missing name is an error wrapping ErrNotExist.
func (d *Dir) Remove(name string) error {
	p, err := d.join(name)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err != nil {
		return fmt.Errorf("state: %w", wrapPath("remove", p, err))
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// Rename renames the subdirectory or pin from to to in one step (bpffs
// supports rename(2)); it fails with an error wrapping fs.ErrExist if to
// exists.
func (d *Dir) Rename(from, to string) error {
	return d.renameat2(from, to, unix.RENAME_NOREPLACE)
}

// Exchange swaps the names a and b in one step (renameat2
// RENAME_EXCHANGE; both must exist).
func (d *Dir) Exchange(a, b string) error {
	return d.renameat2(a, b, unix.RENAME_EXCHANGE)
}

// Replace makes from take the name to in one step, whether or not to
// exists; what to named before is removed afterwards (see Remove). A
// reader that looks up to finds either the old or the new one, complete.
func (d *Dir) Replace(from, to string) error {
	err := d.Exchange(from, to)
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Lstat(filepath.Join(d.path, to)); isNotExist(statErr) {
			return d.Rename(from, to)
		}
	}
	if err != nil {
		return err
	}
	return d.Remove(from)
}

func (d *Dir) renameat2(from, to string, flags uint) error {
	pf, err := d.join(from)
	if err != nil {
		return err
	}
	pt, err := d.join(to)
	if err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, pf, unix.AT_FDCWD, pt, flags); err != nil {
		if flags == unix.RENAME_EXCHANGE && isNotExist(err) {
			return fmt.Errorf("state: exchange %s and %s: %w", pf, pt, ErrNotExist)
		}
		if isNotExist(err) {
			return fmt.Errorf("state: rename: %w", notPinned(pf))
		}
		return fmt.Errorf("state: rename %s to %s: %w", pf, pt, err)
	}
	return nil
}

// Pinner is what Pin takes: *ebpf.Map, *ebpf.Program and link.Link.
type Pinner interface {
	Pin(fileName string) error
}

// Pin pins obj in the directory under name, through obj's own Pin: an
// object already pinned elsewhere moves (pin a Clone to keep both pins),
// and obj remembers the path for its Unpin, a path that may go through the
// Root's open directory (see Root.Path). It fails with an error wrapping
// fs.ErrExist if name exists.
func (d *Dir) Pin(name string, obj Pinner) error {
	p, err := d.join(name)
	if err != nil {
		return err
	}
	if err := obj.Pin(p); err != nil {
		return fmt.Errorf("state: pin %s: %w", p, err)
	}
	return nil
}

// Map loads the map pinned under name; an error wraps ErrNotExist if there
// is none.
func (d *Dir) Map(name string) (*ebpf.Map, error) {
	p, err := d.join(name)
	if err != nil {
		return nil, err
	}
	m, err := ebpf.LoadPinnedMap(p, nil)
	if err != nil {
		return nil, fmt.Errorf("state: %w", wrapPath("load map", p, err))
	}
	return m, nil
}

// Program loads the program pinned under name; an error wraps ErrNotExist
// if there is none.
func (d *Dir) Program(name string) (*ebpf.Program, error) {
	p, err := d.join(name)
	if err != nil {
		return nil, err
	}
	prog, err := ebpf.LoadPinnedProgram(p, nil)
	if err != nil {
		return nil, fmt.Errorf("state: %w", wrapPath("load program", p, err))
	}
	return prog, nil
}

// Link loads the link pinned under name; an error wraps ErrNotExist if
// there is none.
func (d *Dir) Link(name string) (link.Link, error) {
	p, err := d.join(name)
	if err != nil {
		return nil, err
	}
	l, err := link.LoadPinnedLink(p, nil)
	if err != nil {
		return nil, fmt.Errorf("state: %w", wrapPath("load link", p, err))
	}
	return l, nil
}
