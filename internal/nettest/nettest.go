// Package nettest holds helpers for tests that need the kernel: network
// namespaces to run real tools in, and the rule that such a test skips only
// where the machine lacks what it needs - and never when
// BPFTABLES_REQUIRE_KERNEL=1 (CI), where a skip is a failure.
package nettest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
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

// NS is a named network namespace made for one test.
type NS struct {
	Name string
}

// NewNS creates a network namespace that is deleted when the test ends.
func NewNS(tb testing.TB) *NS {
	tb.Helper()
	RequireRoot(tb)
	RequireTool(tb, "ip")
	var b [4]byte
	_, _ = rand.Read(b[:])
	ns := &NS{Name: "bpft-" + hex.EncodeToString(b[:])}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		Skip(tb, "cannot create a network namespace: %v: %s", err, out)
	}
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.Name).Run() })
	return ns
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
