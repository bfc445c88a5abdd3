package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/rulesets"
)

// LoadSizes are the ruleset sizes MeasureLoad measures when
// LoadOptions.Sizes is empty.
var LoadSizes = []int{10, 100, 1000, 10000, 50000}

// LoadOptions say what MeasureLoad and MeasureUpdate measure. They need
// root, iptables-legacy-restore, iptables-nft-restore and nft.
type LoadOptions struct {
	// Bin is the bpftables binary the bpftables contenders run.
	Bin string
	// Families are the generated families; nil means rulesets.All.
	Families []rulesets.Family
	// Sizes are the ruleset sizes; nil means LoadSizes.
	Sizes []int
	// Rounds is how many interleaved rounds are run, the medians of which
	// are reported; 0 means 1.
	Rounds int
	// Timeout bounds each run of a tool: one still running then is
	// stopped and its case reported as an Error. 0 means LoadTimeout.
	Timeout time.Duration
	// Log, if set, gets a line per measurement.
	Log io.Writer
}

// LoadTimeout is the default LoadOptions.Timeout. nft -f takes minutes
// over kube-proxy's nftables script of 10,000 Services (40,000 chains).
const LoadTimeout = time.Minute

func (o LoadOptions) families() []rulesets.Family {
	if o.Families == nil {
		return rulesets.All
	}
	return o.Families
}

func (o LoadOptions) sizes() []int {
	if o.Sizes == nil {
		return LoadSizes
	}
	return o.Sizes
}

func (o LoadOptions) rounds() int { return max(o.Rounds, 1) }

func (o LoadOptions) timeout() time.Duration {
	if o.Timeout == 0 {
		return LoadTimeout
	}
	return o.Timeout
}

func (o LoadOptions) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// restoreTool is a contender's own tool for loading a ruleset, as its
// users run it: iptables-restore text on standard input, or an nft script
// named on the command line.
type restoreTool struct {
	contender string
	argv      []string
	// nft: the tool reads the nft script (nft -f FILE), not the
	// iptables-restore text.
	nft bool
}

// restoreTools returns the restore tool of every contender that has one
// (all but none), in the order of Contenders. bpftables-xdp is
// bpftables-tc's pipeline generating and loading the XDP programs as
// well. -w: the xtables lock is one file for every namespace.
func restoreTools(bin string) []restoreTool {
	return []restoreTool{
		{contender: "iptables-legacy", argv: []string{"iptables-legacy-restore", "-w", "10"}},
		{contender: "iptables-nft", argv: []string{"iptables-nft-restore", "-w", "10"}},
		{contender: "nftables", argv: []string{"nft", "-f"}, nft: true},
		{contender: "bpftables-tc", argv: []string{bin, "iptables-restore", "-w", "10"}},
		{contender: "bpftables-xdp", argv: []string{bin, "iptables-restore", "--xdp", "-w", "10"}},
	}
}

// String returns the tool's command line as errors name it: the program
// without its directory, the script's file left out.
func (t restoreTool) String() string {
	return strings.Join(append([]string{filepath.Base(t.argv[0])}, t.argv[1:]...), " ")
}

// command returns the tool's command for the script in file, with extra
// flags (--noflush) after the tool's own, killed when ctx ends.
func (t restoreTool) command(ctx context.Context, file string, extra ...string) (*exec.Cmd, *os.File, error) {
	argv := append(slices.Clone(t.argv), extra...)
	if t.nft {
		return exec.CommandContext(ctx, argv[0], append(argv[1:], file)...), nil, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = f
	return cmd, f, nil
}

// timeTool runs the tool on the script in file inside the namespace and
// returns the time from the process's start to its exit, what `time
// iptables-restore < file` shows a user in the namespace. The process is
// started from a thread inside the network namespace rather than under
// `ip netns exec`, whose own work (a mount namespace, a remount of /sys)
// is no part of the tool's. A failure's error carries what the tool
// printed; one still running after limit is killed.
func timeTool(ns *nettest.NS, t restoreTool, limit time.Duration, file string, extra ...string) (time.Duration, error) {
	var took time.Duration
	err := ns.Within(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		cmd, in, err := t.command(ctx, file, extra...)
		if err != nil {
			return err
		}
		if in != nil {
			defer in.Close()
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err = cmd.Run()
		took = time.Since(start)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: still running after %v, stopped", t, limit)
		}
		if err != nil {
			return fmt.Errorf("%s: %w: %s", t, err, strings.TrimSpace(out.String()))
		}
		return nil
	})
	return took, err
}

// scripts writes the scripts the tools read to files in dir, as a user's
// tool reads a file.
type scripts struct {
	dir string
	n   int
}

// write writes text to a new file in the directory and returns its name.
func (s *scripts) write(text string) (string, error) {
	s.n++
	name := filepath.Join(s.dir, fmt.Sprintf("%d", s.n))
	return name, os.WriteFile(name, []byte(text), 0o644)
}

// loadCase is one generated ruleset, in files, and what its loads
// measured.
type loadCase struct {
	g          *rulesets.Generated
	rules, nft string               // the files of its two forms
	runs       map[string][]float64 // ms of each round, by contender
	reloads    map[string][]float64 // the same over an empty ruleset
	errs       map[string]string    // why a contender could not load it
}

func newLoadCase(s *scripts, f rulesets.Family, n int) (*loadCase, error) {
	g := rulesets.GenerateIn(f, n, 1, 1, "FORWARD")
	c := &loadCase{g: g, runs: map[string][]float64{}, reloads: map[string][]float64{}, errs: map[string]string{}}
	var err error
	if c.rules, err = s.write(g.Rules); err != nil {
		return nil, err
	}
	if g.NFT != "" {
		if c.nft, err = s.write(g.NFT); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// file returns the script the tool loads the case from, or "" when the
// case has no form the tool reads.
func (c *loadCase) file(t restoreTool) string {
	if t.nft {
		return c.nft
	}
	return c.rules
}

// clearNS removes what the contender loaded in the namespace, with the
// contender's own Clear.
func clearNS(ns *nettest.NS, bin, contender string) error {
	c, ok := ContenderNamed(bin, contender)
	if !ok {
		return fmt.Errorf("no contender %s", contender)
	}
	if err := c.Clear(ns); err != nil {
		return fmt.Errorf("clearing %s: %w", contender, err)
	}
	return nil
}

// newWorkspace makes a directory for the scripts (its name starting with
// prefix) and the firewall namespace; the caller removes both.
func newWorkspace(prefix string) (*nettest.NS, *scripts, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, nil, err
	}
	ns, err := firewallNS()
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return ns, &scripts{dir: dir}, nil
}

// firewallNS creates the namespace the rulesets are loaded into: only a
// loopback interface, up. Delete removes it.
func firewallNS() (*nettest.NS, error) {
	ns, err := nettest.CreateNS(fmt.Sprintf("bpft-load-%d", os.Getpid()))
	if err != nil {
		return nil, err
	}
	if out, err := ns.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		ns.Delete()
		return nil, fmt.Errorf("ip link set lo up: %w: %s", err, out)
	}
	return ns, nil
}

// MeasureLoad measures how long each contender's own tool takes to load a
// whole generated ruleset (rulesets.GenerateIn(family, n, 1, 1,
// "FORWARD")): the tool's process from start to exit. Each load is timed
// twice: into an empty firewall namespace, emptied with the contender's
// Clear (bpftables then loads and attaches its hook programs too), and
// over an empty ruleset the tool loaded before, as on a running firewall.
// Rounds are interleaved - each round loads every family and size with
// every contender in turn - and the medians are reported. A tool that
// refuses a ruleset, or does not finish within o.Timeout, gets the case's
// Error, with what it printed; the case is not tried again. The none
// contender has no tool and no figures.
func MeasureLoad(o LoadOptions) ([]LoadResult, error) {
	ns, s, err := newWorkspace("bpftables-load-")
	if err != nil {
		return nil, err
	}
	defer ns.Delete()
	defer os.RemoveAll(s.dir)
	tools := restoreTools(o.Bin)
	var cases []*loadCase
	for _, f := range o.families() {
		for _, n := range o.sizes() {
			c, err := newLoadCase(s, f, n)
			if err != nil {
				return nil, err
			}
			cases = append(cases, c)
		}
	}
	// The empty ruleset each case's second load goes over, by the tool's
	// kind (restoreTool.nft).
	empty := map[bool]string{}
	if empty[false], err = s.write(emptyFilter); err != nil {
		return nil, err
	}
	if empty[true], err = s.write("flush ruleset\n"); err != nil {
		return nil, err
	}
	for r := 0; r < o.rounds(); r++ {
		for _, c := range cases {
			for _, t := range tools {
				if c.errs[t.contender] != "" {
					continue // a refusal does not change between rounds
				}
				file := c.file(t)
				if file == "" {
					c.errs[t.contender] = fmt.Sprintf("%s has no form for %s", c.g.Family, t.contender)
					continue
				}
				var ms [2]float64
				for i, over := range []string{"", empty[t.nft]} {
					if err := clearNS(ns, o.Bin, t.contender); err != nil {
						return nil, err
					}
					if over != "" {
						if _, err := timeTool(ns, t, o.timeout(), over); err != nil {
							return nil, fmt.Errorf("loading an empty ruleset: %w", err)
						}
					}
					d, err := timeTool(ns, t, o.timeout(), file)
					if err != nil {
						c.errs[t.contender] = err.Error()
						o.logf("load %s %d %s: %v", c.g.Family, c.g.N, t.contender, err)
						break
					}
					ms[i] = float64(d.Microseconds()) / 1000
				}
				if c.errs[t.contender] != "" {
					continue
				}
				c.runs[t.contender] = append(c.runs[t.contender], ms[0])
				c.reloads[t.contender] = append(c.reloads[t.contender], ms[1])
				o.logf("load %s %d %s round %d: %.1f ms, over an empty ruleset %.1f ms", c.g.Family, c.g.N, t.contender, r+1, ms[0], ms[1])
			}
		}
	}
	for _, t := range tools {
		if err := clearNS(ns, o.Bin, t.contender); err != nil {
			return nil, err
		}
	}
	var out []LoadResult
	for _, c := range cases {
		for _, t := range tools {
			res := LoadResult{Family: c.g.Family.String(), N: c.g.N, Contender: t.contender, Error: c.errs[t.contender]}
			if res.Error == "" {
				res.Rounds, res.ReloadRounds = c.runs[t.contender], c.reloads[t.contender]
				res.Ms, res.ReloadMs = Median(res.Rounds), Median(res.ReloadRounds)
			}
			out = append(out, res)
		}
	}
	return out, nil
}
