package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Layout names the places bpftables keeps its state, as seen from the
// outermost mount namespace bpftables reaches (see the package
// documentation). The zero Layout is the standard one: /sys/fs/bpf and
// /run/bpftables. Tests use their own so that they leave the machine's
// alone.
type Layout struct {
	// BPFFS is the system's bpffs mount point, used (its subdirectory
	// "bpftables") when it is a bpffs; "" means /sys/fs/bpf.
	BPFFS string
	// Run is bpftables' own directory: the lock files, and the mount point
	// "bpffs" of a bpffs of its own when BPFFS is none; "" means
	// /run/bpftables.
	Run string
}

func (l Layout) withDefaults() (Layout, error) {
	if l.BPFFS == "" {
		l.BPFFS = "/sys/fs/bpf"
	}
	if l.Run == "" {
		l.Run = "/run/bpftables"
	}
	if !filepath.IsAbs(l.BPFFS) || !filepath.IsAbs(l.Run) {
		return l, fmt.Errorf("state layout %+v: paths must be absolute", l)
	}
	return l, nil
}

// Root is the bpffs directory that holds one directory per network
// namespace, as found by the rule of the package documentation and opened
// for this process. The zero Root is not usable; get one from OpenRoot.
type Root struct {
	path string // where this process reaches the bpffs directory
	run  string // where this process reaches Layout.Run
	// runName is Layout.Run as named in the outer mount namespace, for
	// messages.
	runName string
	// files hold the directories open when they are reached through
	// /proc/self/fd: the paths stay valid even if the process whose mount
	// namespace they came from exits.
	files []*os.File
}

// OpenRoot finds the bpffs directory for the standard layout, creating and
// mounting what is missing (Linux 5.14; root).
func OpenRoot() (*Root, error) { return Layout{}.OpenRoot() }

// OpenRoot finds the bpffs directory for the layout, creating and mounting
// what is missing (Linux 5.14; root).
func (l Layout) OpenRoot() (*Root, error) {
	l, err := l.withDefaults()
	if err != nil {
		return nil, err
	}
	pid, err := outermostMountNS()
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if pid == 0 {
		dir, err := l.locate()
		if err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		return &Root{path: dir, run: l.Run, runName: l.Run}, nil
	}
	// Our mount namespace is a throwaway one (ip netns exec): decide and
	// mount in the outer one, and keep both directories open from there.
	var dir string
	var base, run *os.File
	err = inMountNS(pid, func() error {
		var err error
		if dir, err = l.locate(); err != nil {
			return err
		}
		if base, err = openPath(dir); err != nil {
			return err
		}
		run, err = openPath(l.Run)
		return err
	})
	if err != nil {
		if base != nil {
			base.Close()
		}
		return nil, fmt.Errorf("state: in the mount namespace of process %d: %w", pid, err)
	}
	r := &Root{runName: l.Run}
	r.path = r.reach(dir, base)
	r.run = r.reach(l.Run, run)
	return r, nil
}

// locate is the rule, in the calling thread's mount namespace, which is
// the outermost one bpftables reaches:
//
//  1. Run/bpffs if it is a bpffs: state that is there stays there, even if
//     a bpffs is mounted on BPFFS later;
//  2. else BPFFS/bpftables if BPFFS is a bpffs;
//  3. else a new bpffs mounted on Run/bpffs.
//
// The mount is serialised by a lock file in Run, so that two processes
// starting at once mount one bpffs, not two stacked ones.
func (l Layout) locate() (string, error) {
	if err := os.MkdirAll(l.Run, 0o700); err != nil {
		return "", err
	}
	if dir, err := l.existing(); dir != "" || err != nil {
		return dir, err
	}
	unlock, err := flockPath(filepath.Join(l.Run, "mount.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if dir, err := l.existing(); dir != "" || err != nil {
		return dir, err
	}
	mnt := filepath.Join(l.Run, "bpffs")
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return "", err
	}
	if err := unix.Mount("bpffs", mnt, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return "", fmt.Errorf("mount bpffs on %s: %w", mnt, err)
	}
	return mnt, nil
}

// existing returns the directory of rule 1 or 2 if there is one.
func (l Layout) existing() (string, error) {
	mnt := filepath.Join(l.Run, "bpffs")
	if ok, err := isBPFFS(mnt); ok || err != nil {
		return mnt, err
	}
	if ok, err := isBPFFS(l.BPFFS); !ok || err != nil {
		return "", err
	}
	dir := filepath.Join(l.BPFFS, "bpftables")
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return dir, nil
}

// isBPFFS reports whether path is on a bpffs (statfs magic BPF_FS_MAGIC).
func isBPFFS(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type == unix.BPF_FS_MAGIC, nil
}

func openPath(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// reach returns how this process reaches a directory opened in the outer
// mount namespace: by its own name when that names the same directory here
// (a mount made before our namespace was copied, or a directory on a file
// system both share), else through the open file.
func (r *Root) reach(name string, f *os.File) string {
	var there, here unix.Stat_t
	if unix.Fstat(int(f.Fd()), &there) == nil && unix.Stat(name, &here) == nil &&
		there.Dev == here.Dev && there.Ino == here.Ino {
		f.Close()
		return name
	}
	r.files = append(r.files, f)
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// Path returns where this process reaches the bpffs directory. It is a
// /proc/self/fd path, valid until Close, when the directory is reached
// through a file opened in an outer mount namespace.
func (r *Root) Path() string { return r.path }

// Close releases the directories held open; Dirs of this Root are unusable
// afterwards.
func (r *Root) Close() error {
	var errs []error
	for _, f := range r.files {
		errs = append(errs, f.Close())
	}
	r.files = nil
	return errors.Join(errs...)
}
