// Package e2e tests bpftables as its users run it: the bpftables binary
// under `ip netns exec`, judging real packets in network namespaces, side
// by side with the kernel's iptables-legacy.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/corpus"
	"github.com/bpftables/bpftables/internal/nettest"
)

// bin is the bpftables binary the tests run, built by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bpftables-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "bpftables")
	build := exec.Command("go", "build", "-o", bin, "./cmd/bpftables")
	build.Dir = corpus.ModuleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building bpftables: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs bpftables with args in the namespace, as `ip netns exec NS
// bpftables ARGS`, with stdin.
func run(tb testing.TB, ns *nettest.NS, stdin string, args ...string) nettest.Result {
	tb.Helper()
	return ns.Run(tb, stdin, bin, args...)
}

// Bpftables returns a Setup that loads the rulesets into the firewall
// with `bpftables iptables-restore` (and ip6tables-restore) and removes
// everything with `bpftables reset` when the test ends.
func Bpftables(ipv4, ipv6 string, flags ...string) nettest.Setup {
	return func(tb testing.TB, t *nettest.Topology) {
		tb.Helper()
		tb.Cleanup(func() {
			if res := run(tb, t.Firewall, "", "reset", "-w", "10"); res.Status != 0 {
				tb.Errorf("bpftables reset: status %d: %s", res.Status, res.Stderr)
			}
		})
		for _, r := range []struct{ cmd, text string }{{"iptables-restore", ipv4}, {"ip6tables-restore", ipv6}} {
			if r.text == "" {
				continue
			}
			args := append([]string{r.cmd, "-w", "10"}, flags...)
			if res := run(tb, t.Firewall, r.text, args...); res.Status != 0 {
				tb.Fatalf("bpftables %s refused the ruleset (status %d): %s\n%s", r.cmd, res.Status, strings.TrimSpace(res.Stderr), r.text)
			}
		}
		if slices.Contains(flags, "--xdp") {
			// The firewall's veths must judge ingress at XDP, not tc.
			st := run(tb, t.Firewall, "", "status")
			for _, l := range []nettest.Link{t.FirewallClientLink, t.FirewallServerLink} {
				if !regexp.MustCompile(`(?m)^\s+` + l.Name + ` \(\d+\)\s+.*xdp`).MatchString(st.Stdout) {
					tb.Fatalf("--xdp: %s does not run at XDP:\n%s", l.Name, st.Stdout)
				}
			}
		}
	}
}
