package state

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
)

// TestCollect: the directory of a namespace that is gone is removed, with
// its lock file, once nobody holds its lock; live namespaces and
// directories that cannot be judged stay.
func TestCollect(t *testing.T) {
	l := testLayout(t)
	doomed, staying := nettest.NewNS(t), nettest.NewNS(t)
	gone := openIn(t, doomed, l)
	live := openIn(t, staying, l)
	pinArray(t, gone, "m", 1)
	pinArray(t, live, "m", 2)
	r := gone.Root()
	lockFile := filepath.Join(l.Run, "lock", gone.Cookie().String())

	unjudged := filepath.Join(r.Path(), "12345")
	if err := os.Mkdir(unjudged, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Alive(12345); !errors.Is(err, ErrNotExist) {
		t.Errorf("Alive of a directory without marker: %v, want ErrNotExist", err)
	}
	for _, d := range []*Dir{gone, live} {
		if ok, err := r.Alive(d.Cookie()); !ok || err != nil {
			t.Fatalf("Alive(%s) = %v, %v before deletion", d.Cookie(), ok, err)
		}
	}
	if removed, err := r.Collect(); len(removed) != 0 || err != nil {
		t.Fatalf("Collect() with every namespace alive = %v, %v", removed, err)
	}

	held, err := gone.Lock(0)
	if err != nil {
		t.Fatal(err)
	}
	_ = doomed.Handle.Close() // the test's handle would keep the namespace alive
	if out, err := exec.Command("ip", "netns", "del", doomed.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	// The kernel destroys the namespace in the background.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := r.Alive(gone.Cookie())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still alive 10s after deletion", gone.Cookie())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if removed, err := r.Collect(); len(removed) != 0 || err != nil {
		t.Fatalf("Collect() while the dead namespace's lock is held = %v, %v", removed, err)
	}
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}

	removed, err := r.Collect()
	if err != nil || !slices.Equal(removed, []Cookie{gone.Cookie()}) {
		t.Fatalf("Collect() = %v, %v; want [%s]", removed, err, gone.Cookie())
	}
	if _, err := r.Lookup(gone.Cookie()); !errors.Is(err, ErrNotExist) {
		t.Errorf("dead namespace's directory: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(lockFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dead namespace's lock file: %v, want it removed", err)
	}
	if v, err := readArray(live); err != nil || v != 2 {
		t.Errorf("live namespace's pin: %d, %v; want 2", v, err)
	}
	if _, err := os.Stat(unjudged); err != nil {
		t.Errorf("directory without a marker: %v, want it left", err)
	}
	if removed, err := r.Collect(); len(removed) != 0 || err != nil {
		t.Errorf("second Collect() = %v, %v", removed, err)
	}
}
