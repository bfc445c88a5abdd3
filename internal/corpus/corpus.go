// Package corpus finds the shared test corpus (../shared/corpus beside the
// repository), which tests read in place.
package corpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the corpus directory: $BPFTABLES_CORPUS if set, else
// ../shared/corpus beside the module root. A test that needs the corpus
// fails when it is missing: it is part of every checkout's surroundings.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("BPFTABLES_CORPUS")
	if dir == "" {
		dir = filepath.Join(ModuleRoot(), "..", "shared", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		tb.Fatalf("test corpus not found at %s (set BPFTABLES_CORPUS): %v", dir, err)
	}
	return dir
}

// Path returns a path inside the corpus.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Dir(tb)}, elem...)...)
}

// ModuleRoot returns the root of the bpftables module.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
