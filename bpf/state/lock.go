package state

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

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

// flockPath takes an exclusive lock on path, creating the file, waiting as
// long as it takes; it is for short critical sections (the mount).
func flockPath(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f, -1, time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
