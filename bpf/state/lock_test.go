package state

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/internal/nettest"
)

func TestLockErrorMessages(t *testing.T) {
	busy := func(wait time.Duration) *LockError {
		return &LockError{Path: "/run/bpftables/lock/3", Wait: wait, Opened: true, Err: unix.EWOULDBLOCK}
	}
	for _, tc := range []struct {
		err    *LockError
		locked bool
		msg    string
	}{
		{busy(0), true, "Can't lock /run/bpftables/lock/3: Resource temporarily unavailable\n" +
			"Another app is currently holding the xtables lock. Perhaps you want to use the -w option?\n"},
		{busy(5 * time.Second), true, "Can't lock /run/bpftables/lock/3: Resource temporarily unavailable\n" +
			"Another app is currently holding the xtables lock. Stopped waiting after 5s.\n"},
		{&LockError{Path: "/x/lock/3", Err: unix.EACCES}, false, "Fatal: can't open lock file /x/lock/3: Permission denied\n"},
	} {
		if got := tc.err.Message(); got != tc.msg {
			t.Errorf("Message() = %q, want %q", got, tc.msg)
		}
		if got := errors.Is(tc.err, ErrLocked); got != tc.locked {
			t.Errorf("%v: errors.Is(ErrLocked) = %v", tc.err, got)
		}
		if tc.err.ExitStatus() != 4 {
			t.Errorf("%v: exit status %d, want 4", tc.err, tc.err.ExitStatus())
		}
	}
}

// holdLock starts a process that holds the namespace's lock until release.
func holdLock(tb testing.TB, ns *nettest.NS, l Layout) (s *started, release func()) {
	tb.Helper()
	s = start(tb, ns, l, "lock", "0")
	if got := s.line(tb, 10*time.Second); got != "locked" {
		tb.Fatalf("holder printed %q", got)
	}
	return s, func() { s.stdin.Close() }
}

// contend runs a process that takes the lock with -w wait and gives up
// its lock at once; it returns the exit status, standard error and time
// taken.
func contend(tb testing.TB, ns *nettest.NS, l Layout, wait string) (int, string, time.Duration) {
	tb.Helper()
	t0 := time.Now()
	s := start(tb, ns, l, "lock", wait)
	s.stdin.Close()
	st := s.wait(tb, 30*time.Second)
	return st, s.stderr.String(), time.Since(t0)
}

func TestLock(t *testing.T) {
	l := testLayout(t)
	ns, other := nettest.NewNS(t), nettest.NewNS(t)
	d := openIn(t, ns, l)
	name := filepath.Join(l.Run, "lock", d.Cookie().String())
	busy := "Can't lock " + name + ": Resource temporarily unavailable\n" +
		"Another app is currently holding the xtables lock. "

	if st, msg, _ := contend(t, ns, l, "0"); st != 0 {
		t.Fatalf("free lock: exit status %d: %s", st, msg)
	}

	t.Run("no wait", func(t *testing.T) {
		_, release := holdLock(t, ns, l)
		defer release()
		st, msg, took := contend(t, ns, l, "0")
		if want := busy + "Perhaps you want to use the -w option?\n"; st != 4 || msg != want {
			t.Errorf("exit status %d, message %q; want 4, %q", st, msg, want)
		}
		if took > 5*time.Second {
			t.Errorf("took %v to fail", took)
		}
	})

	t.Run("wait runs out", func(t *testing.T) {
		_, release := holdLock(t, ns, l)
		defer release()
		st, msg, took := contend(t, ns, l, "1")
		if want := busy + "Stopped waiting after 1s.\n"; st != 4 || msg != want {
			t.Errorf("exit status %d, message %q; want 4, %q", st, msg, want)
		}
		if took < time.Second {
			t.Errorf("gave up after %v, before the second", took)
		}
	})

	for _, wait := range []string{"10", "forever"} {
		t.Run("wait "+wait+" for release", func(t *testing.T) {
			_, release := holdLock(t, ns, l)
			s := start(t, ns, l, "lock", wait)
			select {
			case line := <-s.lines:
				t.Fatalf("contender printed %q while the lock was held: %s", line, s.stderr.String())
			case <-time.After(1500 * time.Millisecond):
			}
			release()
			if got := s.line(t, 10*time.Second); got != "locked" {
				t.Fatalf("contender printed %q", got)
			}
			s.stdin.Close()
			if st := s.wait(t, 10*time.Second); st != 0 {
				t.Errorf("contender exit status %d: %s", st, s.stderr.String())
			}
		})
	}

	t.Run("holder dies", func(t *testing.T) {
		h, _ := holdLock(t, ns, l)
		if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		h.wait(t, 10*time.Second)
		if st, msg, _ := contend(t, ns, l, "0"); st != 0 {
			t.Errorf("lock of a killed holder: exit status %d: %s", st, msg)
		}
	})

	t.Run("namespaces apart", func(t *testing.T) {
		_, release := holdLock(t, ns, l)
		defer release()
		if st, msg, _ := contend(t, other, l, "0"); st != 0 {
			t.Errorf("lock of another namespace: exit status %d: %s", st, msg)
		}
	})

	t.Run("host process", func(t *testing.T) {
		lk, err := d.Lock(0)
		if err != nil {
			t.Fatal(err)
		}
		st, msg, _ := contend(t, ns, l, "0")
		if st != 4 || !strings.HasPrefix(msg, busy) {
			t.Errorf("while the host process holds the lock: exit status %d: %s", st, msg)
		}
		if _, err := d.Lock(0); !errors.Is(err, ErrLocked) {
			t.Errorf("second Lock in the same process: %v, want ErrLocked", err)
		}
		if err := lk.Unlock(); err != nil {
			t.Fatal(err)
		}
		if st, msg, _ := contend(t, ns, l, "0"); st != 0 {
			t.Errorf("after Unlock: exit status %d: %s", st, msg)
		}
	})
}
