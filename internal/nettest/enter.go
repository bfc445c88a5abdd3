package nettest

import (
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// Command returns a command that runs name under `ip netns exec`, in the
// namespace and in a mount namespace of its own, as a user would run it.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Do runs f on the calling goroutine's OS thread moved into the namespace
// (the mount namespace stays the test's), then moves the thread back. A
// thread that cannot be moved back ends the test and is not reused.
func (ns *NS) Do(tb testing.TB, f func()) {
	tb.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("current network namespace: %v", err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns.Name)
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("network namespace %s: %v", ns.Name, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("enter network namespace %s: %v", ns.Name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and ends with the test's goroutine.
			tb.Fatalf("leave network namespace %s: %v", ns.Name, err)
		}
		runtime.UnlockOSThread()
	}()
	f()
}
