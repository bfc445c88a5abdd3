package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/internal/nettest"
)

// TestFindAgain is the point of the package: state pinned by one process
// under `ip netns exec` outlives it and is found by every later process
// for the namespace, whichever mount namespace it starts in.
func TestFindAgain(t *testing.T) {
	l := testLayout(t)
	ns := nettest.NewNS(t)
	mnt := filepath.Join(l.Run, "bpffs")

	// A reader whose mount namespace is copied before anything is
	// mounted: it can only reach the bpffs through the outer namespace.
	early := start(t, ns, l, "read", "wait")
	if got := early.line(t, 10*time.Second); got != "ready" {
		t.Fatalf("early reader printed %q", got)
	}

	// The first process mounts the bpffs, in the test's (outer) mount
	// namespace, not in its own throwaway one, and pins.
	out := runOK(t, ns, l, "pin", "4242")
	cookie, firstPath := out[0], out[1]
	if got := mounts(t, mnt, "bpf"); len(got) != 1 {
		t.Fatalf("bpffs mounts at %s in the outer mount namespace: %v, want one", mnt, got)
	}
	if !strings.HasPrefix(firstPath, "/proc/self/fd/") {
		t.Errorf("first process reached its directory at %s, want it through /proc/self/fd (the mount is not in its namespace)", firstPath)
	}
	if _, err := os.Stat(filepath.Join(mnt, cookie, "m")); err != nil {
		t.Fatalf("pin not in the outer bpffs after the pinning process exited: %v", err)
	}

	// A process started later under ip netns exec: its mount namespace is
	// copied with the bpffs in it.
	out = runOK(t, ns, l, "read")
	if want := []string{cookie, filepath.Join(mnt, cookie), "4242"}; fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("later reader: %v, want %v", out, want)
	}

	// The early reader: through the outer namespace.
	if _, err := early.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(early.line(t, 10*time.Second))
	if len(got) != 3 || got[0] != cookie || got[2] != "4242" || !strings.HasPrefix(got[1], "/proc/self/fd/") {
		t.Errorf("early reader: %v, want %s /proc/self/fd/... 4242", got, cookie)
	}
	if st := early.wait(t, 10*time.Second); st != 0 {
		t.Fatalf("early reader exit status %d: %s", st, early.stderr.String())
	}

	// A process in the host mount namespace that enters the network
	// namespace on a locked thread.
	ns.Do(t, func() {
		d, err := l.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if d.Cookie().String() != cookie || d.Path() != filepath.Join(mnt, cookie) {
			t.Errorf("host process in the namespace: cookie %s at %s, want %s at %s", d.Cookie(), d.Path(), cookie, filepath.Join(mnt, cookie))
		}
		if v, err := readArray(d); err != nil || v != 4242 {
			t.Errorf("host process in the namespace read %d, %v; want 4242", v, err)
		}
	})

	// The host's own network namespace has a directory of its own.
	d, err := l.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Cookie().String() == cookie {
		t.Fatalf("host network namespace has the test namespace's cookie %s", cookie)
	}
	if _, err := readArray(d); !isNotExist(err) {
		t.Errorf("host namespace's directory: load m: %v, want not pinned", err)
	}
	if got := mounts(t, mnt, "bpf"); len(got) != 1 {
		t.Fatalf("bpffs mounts at %s: %v, want one", mnt, got)
	}
}

// TestSystemBPFFS: where the outer namespace has a bpffs on the system's
// mount point, a process under ip netns exec whose own view of it is
// hidden (ip netns exec remounts /sys) uses it rather than mounting one.
func TestSystemBPFFS(t *testing.T) {
	l := testLayout(t)
	ns := nettest.NewNS(t)
	mountBPFFS(t, l.BPFFS)
	sys := filepath.Dir(filepath.Dir(l.BPFFS)) // stands for /sys

	out := runOK(t, ns, l, "hide", sys, "7")
	if _, err := os.Stat(filepath.Join(l.BPFFS, "bpftables", out[0], "m")); err != nil {
		t.Fatalf("pin not in the system bpffs: %v", err)
	}
	if got := mounts(t, l.Run, ""); len(got) != 0 {
		t.Errorf("mounted %v although the system bpffs was there", got)
	}
	out = runOK(t, ns, l, "read")
	if out[2] != "7" {
		t.Errorf("later reader read %s, want 7", out[2])
	}
}

// TestStateStays: once bpftables has its own bpffs, a bpffs mounted on the
// system's mount point later does not move the state.
func TestStateStays(t *testing.T) {
	l := testLayout(t)
	first, err := l.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	mountBPFFS(t, l.BPFFS)
	r, err := l.OpenRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if want := filepath.Join(l.Run, "bpffs"); r.Path() != want || first.Path() != want {
		t.Errorf("roots at %s then %s, want %s both times", first.Path(), r.Path(), want)
	}
	if ok, err := isBPFFS(r.Path()); !ok || err != nil {
		t.Errorf("%s is not a bpffs: %v", r.Path(), err)
	}
}

// TestConcurrentOpen: processes starting at once mount one bpffs and make
// one directory.
func TestConcurrentOpen(t *testing.T) {
	l := testLayout(t)
	ns := nettest.NewNS(t)
	const n = 16
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		cmd := child(t, ns, l, "read")
		wg.Go(func() { outs[i], errs[i] = cmd.CombinedOutput() })
	}
	wg.Wait()
	// Every reader fails (nothing is pinned) but must get as far as the
	// lookup, in the same directory.
	var dirs []string
	for i := range n {
		msg := string(outs[i])
		if errs[i] == nil || !strings.Contains(msg, "load map") || !strings.Contains(msg, "not pinned") {
			t.Fatalf("reader %d: %v: %s", i, errs[i], msg)
		}
		dirs = append(dirs, msg)
	}
	if got := mounts(t, filepath.Join(l.Run, "bpffs"), "bpf"); len(got) != 1 {
		t.Fatalf("bpffs mounts: %v, want one", got)
	}
	ents, err := os.ReadDir(filepath.Join(l.Run, "bpffs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) != 1 {
		t.Fatalf("namespace directories %v, want one", names)
	}
	for i, msg := range dirs {
		if !strings.Contains(msg, "/"+names[0]+"/m") {
			t.Errorf("reader %d looked elsewhere than %s: %s", i, names[0], msg)
		}
	}
}

// TestParentExits: a process that reached the bpffs through its parent's
// mount namespace keeps reaching it after the parent is gone.
func TestParentExits(t *testing.T) {
	l := testLayout(t)
	ns := nettest.NewNS(t)
	// The orphan comes back to the test, which reaps it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

	// The child's parent is a shell in the test's mount namespace, which
	// the test kills once the child has opened its directory. (The shell
	// would give a background command /dev/null as standard input.)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sh := child(t, ns, l, "open-then-read")
	sh.Path = "/bin/sh"
	sh.Args = []string{"sh", "-c", `exec 3<&0; "$@" <&3 3<&- & echo $!; wait`, "sh", "ip", "netns", "exec", ns.Name, exe}
	s := &started{cmd: sh, lines: make(chan string, 16), done: make(chan error, 1)}
	s.run(t)
	pid, err := strconv.Atoi(s.line(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		unix.Wait4(pid, nil, 0, nil)
	}()
	path := s.line(t, 10*time.Second)
	if !strings.HasPrefix(path, "/proc/self/fd/") {
		t.Fatalf("child reached its directory at %s, want /proc/self/fd/...", path)
	}
	if err := sh.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for parentPID(pid) == sh.Process.Pid {
		time.Sleep(time.Millisecond)
	}
	ns.Do(t, func() {
		d, err := l.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		pinArray(t, d, "m", 99)
	})
	if _, err := s.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if got := s.line(t, 10*time.Second); got != "99" {
		t.Errorf("child read %q after its parent exited, want 99: %s", got, s.stderr.String())
	}
}
