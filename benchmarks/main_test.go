package benchmarks

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
)

// binDir holds the bpftables binary the tests build, removed by TestMain.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "bpftables-bench-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "bpftables")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/bpftables").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building bpftables: %w\n%s", err, out)
	}
	return bin, nil
})

// bpftablesBin returns the bpftables binary built from this tree, once per
// test binary, for kernel tests: it skips (or fails, nettest.Skip)
// without root or the other contenders' tools.
func bpftablesBin(t *testing.T) string {
	t.Helper()
	nettest.RequireRoot(t)
	if err := LookPath(); err != nil {
		nettest.Skip(t, "%v", err)
	}
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
