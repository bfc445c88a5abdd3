// Package nettest holds helpers for tests that need the kernel: network
// namespaces to run real tools in, and the rule that such a test skips only
// where the machine lacks what it needs - and never when
// BPFTABLES_REQUIRE_KERNEL=1 (CI), where a skip is a failure.
//
// Its end-to-end harness is a Topology, client - firewall - server in three
// namespaces, and probes that send crafted packets through the firewall's
// FORWARD, INPUT or OUTPUT hook and report which got through. The same
// batch probed in two topologies, one firewall loaded by
// iptables-legacy-restore and one by bpftables, must get the same
// verdicts:
//
//	legacy := nettest.NewTopology(t, nettest.IptablesLegacy(rules, rules6))
//	ours := nettest.NewTopology(t, loadBpftables(rules, rules6))
//	nettest.RequireSameVerdicts(t, legacy.Forward(t, pkts), ours.Forward(t, pkts))
//
// docs/nettest.md says what each probe can and cannot observe.
package nettest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// Required reports whether kernel tests must run (BPFTABLES_REQUIRE_KERNEL=1).
func Required() bool { return os.Getenv("BPFTABLES_REQUIRE_KERNEL") == "1" }

// Skip skips the test with the reason, or fails it when kernel tests are
// required.
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("kernel test cannot run (BPFTABLES_REQUIRE_KERNEL=1): %s", msg)
	}
	tb.Skip(msg)
}

// RequireRoot skips (or fails, see Skip) unless the test runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Skip(tb, "needs root")
	}
}

// RequireTool skips (or fails) unless the program is on PATH, and returns
// its path.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(tb, "needs %s (make test installs it)", name)
	}
	return p
}

// NS is a named network namespace made for one test: named (under
// /run/netns) so that `ip netns exec` reaches it, and open as Handle so that
// Go code reaches it without a name lookup.
type NS struct {
	Name string
	// Handle is the namespace's file descriptor, for netlink.NewHandleAt,
	// netns.Set and the like; it is closed when the test ends.
	Handle netns.NsHandle
}

// NewNS creates a network namespace that is deleted when the test ends.
func NewNS(tb testing.TB) *NS {
	tb.Helper()
	RequireRoot(tb)
	RequireTool(tb, "ip") // for Run
	var b [4]byte
	_, _ = rand.Read(b[:])
	ns, err := CreateNS("bpft-" + hex.EncodeToString(b[:]))
	if err != nil {
		Skip(tb, "%v", err)
	}
	tb.Cleanup(ns.Delete)
	return ns
}

// CreateNS creates a named network namespace, for programs (the demo);
// Delete removes it.
func CreateNS(name string) (*NS, error) {
	ns := &NS{Name: name}
	// netns.NewNamed moves the calling thread into the new namespace; a
	// thread of its own, never unlocked, dies with its goroutine instead of
	// going back to the scheduler in the wrong namespace.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.NewNamed(ns.Name)
		ns.Handle = h
		errc <- err
	}()
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("cannot create a network namespace: %w", err)
	}
	return ns, nil
}

// Delete closes the namespace's handle and removes its name; the kernel
// destroys it once nothing else holds it.
func (ns *NS) Delete() {
	_ = ns.Handle.Close()
	_ = netns.DeleteNamed(ns.Name)
}

// Within runs fn on a thread of its own inside the namespace and returns
// its error. Sockets fn opens stay in the namespace after it returns,
// whichever thread uses them. (Do runs test code that may call t.Fatal.)
func (ns *NS) Within(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread stays locked, so it exits with the goroutine and
		// never runs other goroutines in this namespace.
		runtime.LockOSThread()
		if err := netns.Set(ns.Handle); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Result is the outcome of a command run in a namespace.
type Result struct {
	Stdout, Stderr string
	Status         int
}

// Run runs a command inside the namespace with the given standard input.
func (ns *NS) Run(tb testing.TB, stdin string, name string, args ...string) Result {
	tb.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			tb.Fatalf("run %s: %v", name, err)
		}
		res.Status = ee.ExitCode()
	}
	return res
}
