package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WaitForever makes Lock wait until the lock is free, as iptables' -w
// without a number (or with a negative one) does.
const WaitForever time.Duration = -1

// ErrLocked matches (errors.Is) a LockError for a lock another process
// holds.
var ErrLocked = errors.New("locked by another process")

// exitResourceProblem is iptables' RESOURCE_PROBLEM exit status.
const exitResourceProblem = 4

// LockError is returned by Lock when it does not get the lock: another
// process holds it (errors.Is(err, ErrLocked); Err is EWOULDBLOCK, as
// iptables reports even when a wait ran out), or the lock file cannot be
// opened or locked. It carries what iptables prints and its exit status.
type LockError struct {
	// Path is the lock file as named in the outer mount namespace.
	Path string
	// Wait is the wait Lock was given: 0 for none, WaitForever, or how long.
	Wait time.Duration
	// Opened tells a file that could not be opened (false) from a lock that
	// was not granted (true).
	Opened bool
	// Err is the cause.
	Err error
}

// Error describes the failure for logs; Message is what users see.
func (e *LockError) Error() string {
	if !e.Opened {
		return fmt.Sprintf("state: open lock file %s: %v", e.Path, e.Err)
	}
	if e.Wait > 0 {
		return fmt.Sprintf("state: lock %s: still held after %v: %v", e.Path, e.Wait, e.Err)
	}
	return fmt.Sprintf("state: lock %s: %v", e.Path, e.Err)
}

// Unwrap returns Err.
func (e *LockError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrLocked) hold when another process holds the
// lock.
func (e *LockError) Is(target error) bool {
	return target == ErrLocked && e.Opened && errors.Is(e.Err, unix.EWOULDBLOCK)
}

// Message returns what iptables 1.8.13 prints to standard error in this
// case (xtables_lock and xtables_lock_or_exit), newline included.
func (e *LockError) Message() string {
	if !e.Opened {
		return fmt.Sprintf("Fatal: can't open lock file %s: %s\n", e.Path, strerror(e.Err))
	}
	msg := fmt.Sprintf("Can't lock %s: %s\n", e.Path, strerror(e.Err)) +
		"Another app is currently holding the xtables lock. "
	if e.Wait == 0 {
		return msg + "Perhaps you want to use the -w option?\n"
	}
	secs := int64(e.Wait / time.Second)
	if e.Wait < 0 {
		secs = -1 // iptables prints the -1 that stands for "forever"
	}
	return msg + fmt.Sprintf("Stopped waiting after %ds.\n", secs)
}

// ExitStatus returns the status iptables exits with in this case: 4
// (RESOURCE_PROBLEM).
func (e *LockError) ExitStatus() int { return exitResourceProblem }

// strerror returns glibc's text for the errno in err: Go's with its first
// letter in upper case.
func strerror(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

// Lock is a namespace's writer lock, held until Unlock or the process
// ends. The zero Lock is not usable; get one from Root.Lock or Dir.Lock.
type Lock struct {
	f    *os.File
	path string
}

// Lock takes the writer lock of the namespace with cookie c, with
// iptables' -w semantics: wait 0 fails at once if another process holds
// it, WaitForever (any negative wait) waits until it is free, a positive
// wait gives up after that long. Failure is a *LockError.
//
// The lock is flock(2) on Layout.Run/lock/<cookie>, a file every process
// reaches whatever its mount namespace; the kernel releases it when the
// holder dies. XTABLES_LOCKFILE is not consulted: a per-process setting
// could let two writers of one namespace miss each other.
func (r *Root) Lock(c Cookie, wait time.Duration) (*Lock, error) {
	dir := filepath.Join(r.run, "lock")
	path := filepath.Join(dir, c.String())
	name := filepath.Join(r.runName, "lock", c.String())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &LockError{Path: name, Wait: wait, Err: err}
	}
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, &LockError{Path: name, Wait: wait, Err: unwrapPathError(err)}
		}
		if err := flock(f, wait, deadline); err != nil {
			f.Close()
			return nil, &LockError{Path: name, Wait: wait, Opened: true, Err: err}
		}
		// Collect unlinks the files of dead namespaces: a lock on a file
		// that is no longer the one at path excludes nobody.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &now) == nil &&
			held.Dev == now.Dev && held.Ino == now.Ino {
			return &Lock{f: f, path: path}, nil
		}
		f.Close()
	}
}

// Lock takes the writer lock of the directory's namespace (see Root.Lock).
func (d *Dir) Lock(wait time.Duration) (*Lock, error) { return d.root.Lock(d.cookie, wait) }

// flock locks f exclusively: at once (wait 0), blocking (wait < 0), or
// trying until the deadline. iptables blocks and lets alarm(2) interrupt
// the wait; Go's signal handlers restart the call, so a bounded wait polls.
func flock(f *os.File, wait time.Duration, deadline time.Time) error {
	fd := int(f.Fd())
	if wait < 0 {
		for {
			err := unix.Flock(fd, unix.LOCK_EX)
			if err != unix.EINTR {
				return err
			}
		}
	}
	pause := time.Millisecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EWOULDBLOCK || wait == 0 {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, 20*time.Millisecond)
	}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("state: unlock %s: %w", l.path, err)
	}
	return nil
}

// remove unlinks the lock file while the lock is held (see Root.Lock).
func (l *Lock) remove() error {
	if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// flockPath takes an exclusive lock on path, creating the file, waiting as
// long as it takes; it is for short critical sections (the mount).
func flockPath(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f, WaitForever, time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
