package state

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/internal/nettest"
)

// The tests run real processes: the test binary re-executed under `ip
// netns exec`, with childEnv naming what it is to do and layoutEnv the
// test's Layout. TestMain dispatches.
const (
	childEnv  = "BPFTABLES_STATE_TEST_CHILD"
	layoutEnv = "BPFTABLES_STATE_TEST_LAYOUT"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(runChild(name, os.Args[1:]))
	}
	os.Exit(m.Run())
}

var children = map[string]func(l Layout, args []string) error{
	"pin": childPin,
	// read [wait]: print the value of "m", after a line on standard input
	// if asked to wait.
	"read": func(l Layout, args []string) error {
		if len(args) > 0 && args[0] == "wait" {
			fmt.Println("ready")
			if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
				return err
			}
		}
		d, err := l.Open()
		if err != nil {
			return err
		}
		defer d.Close()
		v, err := readArray(d)
		if err != nil {
			return err
		}
		fmt.Printf("%d %s %d\n", d.Cookie(), d.Path(), v)
		return nil
	},
	// open-then-read: open the namespace's directory, print it, and read
	// "m" after a line on standard input.
	"open-then-read": func(l Layout, args []string) error {
		d, err := l.Open()
		if err != nil {
			return err
		}
		defer d.Close()
		fmt.Println(d.Path())
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return err
		}
		v, err := readArray(d)
		if err != nil {
			return err
		}
		fmt.Println(v)
		return nil
	},
	// hide DIR VALUE: mount a tmpfs on DIR in this process's own mount
	// namespace, as `ip netns exec` does on /sys, then pin as "pin" does.
	"hide": func(l Layout, args []string) error {
		if err := unix.Mount("hide", args[0], "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("hide %s: %w", args[0], err)
		}
		return childPin(l, args[1:])
	},
	// lock WAIT: take the lock as iptables does with -w WAIT ("" for none,
	// "forever"), print "locked", hold it until standard input ends.
	"lock": func(l Layout, args []string) error {
		wait := WaitForever
		if args[0] != "forever" {
			n, _ := strconv.Atoi(args[0])
			wait = time.Duration(n) * time.Second
		}
		d, err := l.Open()
		if err != nil {
			return err
		}
		defer d.Close()
		lk, err := d.Lock(wait)
		if err != nil {
			return err
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		return lk.Unlock()
	},
}

// childPin VALUE pins an array "m" holding VALUE in the namespace's
// directory and prints the cookie and the directory.
func childPin(l Layout, args []string) error {
	d, err := l.Open()
	if err != nil {
		return err
	}
	defer d.Close()
	v, _ := strconv.ParseUint(args[0], 10, 32)
	m, err := newArray(uint32(v))
	if err != nil {
		return err
	}
	defer m.Close()
	if err := d.Pin("m", m); err != nil {
		return err
	}
	fmt.Printf("%d %s\n", d.Cookie(), d.Path())
	return nil
}

// runChild runs a child and returns its exit status; a LockError exits as
// iptables' xtables_lock_or_exit does.
func runChild(name string, args []string) int {
	var l Layout
	l.BPFFS, l.Run, _ = strings.Cut(os.Getenv(layoutEnv), ":")
	f, ok := children[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "no child %q\n", name)
		return 100
	}
	err := f(l, args)
	var le *LockError
	switch {
	case errors.As(err, &le):
		fmt.Fprint(os.Stderr, le.Message())
		return le.ExitStatus()
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 101
	}
	return 0
}

// testLayout returns a layout in a directory of the test's own, and
// unmounts whatever gets mounted under it when the test ends.
func testLayout(tb testing.TB) Layout {
	tb.Helper()
	nettest.RequireRoot(tb)
	// The tests look for what children mount in the outer namespace in
	// their own, and unmount it: they must be the outer namespace.
	if pid, err := outermostMountNS(); err != nil || pid != 0 {
		nettest.Skip(tb, "the test must run in the outermost mount namespace it reaches (process %d is in an outer one; %v)", pid, err)
	}
	root := tb.TempDir()
	l := Layout{BPFFS: filepath.Join(root, "sys", "fs", "bpf"), Run: filepath.Join(root, "run")}
	if err := os.MkdirAll(l.BPFFS, 0o700); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unmountUnder(tb, root) })
	return l
}

// mounts returns the mount points of the test's mount namespace at or
// under dir whose file system type is fstype ("" for any), innermost
// last.
func mounts(tb testing.TB, dir, fstype string) []string {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		pre, post, _ := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 1 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if (mp == dir || strings.HasPrefix(mp, dir+"/")) && (fstype == "" || g[0] == fstype) {
			out = append(out, mp)
		}
	}
	return out
}

func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unmountUnder(tb testing.TB, dir string) {
	tb.Helper()
	for range 100 {
		ms := mounts(tb, dir, "")
		if len(ms) == 0 {
			return
		}
		if err := unix.Unmount(ms[len(ms)-1], 0); err != nil {
			tb.Errorf("unmount %s: %v", ms[len(ms)-1], err)
			return
		}
	}
	tb.Errorf("mounts left under %s: %v", dir, mounts(tb, dir, ""))
}

// mountBPFFS mounts a bpffs on dir for the test; testLayout's cleanup
// unmounts it.
func mountBPFFS(tb testing.TB, dir string) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		nettest.Skip(tb, "cannot mount a bpffs: %v", err)
	}
}

// child returns the test binary as child name under `ip netns exec`.
func child(tb testing.TB, ns *nettest.NS, l Layout, name string, args ...string) *exec.Cmd {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := ns.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"="+name, layoutEnv+"="+l.BPFFS+":"+l.Run)
	return cmd
}

// runOK runs a child to its end and returns the fields of its output.
func runOK(tb testing.TB, ns *nettest.NS, l Layout, name string, args ...string) []string {
	tb.Helper()
	cmd := child(tb, ns, l, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("child %s %v: %v: %s", name, args, err, stderr.String())
	}
	return strings.Fields(string(out))
}

// started is a child running in the background, read line by line.
type started struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	done   chan error
}

func start(tb testing.TB, ns *nettest.NS, l Layout, name string, args ...string) *started {
	tb.Helper()
	s := &started{cmd: child(tb, ns, l, name, args...), lines: make(chan string, 16), done: make(chan error, 1)}
	s.run(tb)
	return s
}

// run starts the command and reads its output.
func (s *started) run(tb testing.TB) {
	tb.Helper()
	s.cmd.Stderr = &s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.done <- s.cmd.Wait()
	}()
	tb.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		for range s.lines {
		}
	})
}

// line waits for the child's next line of output.
func (s *started) line(tb testing.TB, within time.Duration) string {
	tb.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			tb.Fatalf("child ended without output: %s", s.stderr.String())
		}
		return l
	case <-time.After(within):
		tb.Fatalf("child printed nothing within %v", within)
	}
	return ""
}

// wait waits for the child to end and returns its exit status.
func (s *started) wait(tb testing.TB, within time.Duration) int {
	tb.Helper()
	for range s.lines {
	}
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			tb.Fatal(err)
		}
		return 0
	case <-time.After(within):
		tb.Fatalf("child still running after %v", within)
	}
	return -1
}

func newArray(v uint32) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return nil, err
	}
	if err := m.Put(uint32(0), v); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func readArray(d *Dir) (uint32, error) {
	m, err := d.Map("m")
	if err != nil {
		return 0, err
	}
	defer m.Close()
	var v uint32
	err = m.Lookup(uint32(0), &v)
	return v, err
}
