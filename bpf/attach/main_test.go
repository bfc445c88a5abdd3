package attach

import (
	"os"
	"testing"
)

// TestMain runs the test binary as the child of a persistence test when
// the environment says so (see child_test.go), and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}
