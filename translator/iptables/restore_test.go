package iptables_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	_ "github.com/bpftables/bpftables/translator/xt"
)

var update = flag.Bool("update", false, "rewrite the expected sections of testdata/restore/*.txt")

// restoreCase is one file of testdata/restore: sections "-- name --" as in
// txtar. "flags" holds iptables-restore flags (-c -n -T table -6),
// "before" a ruleset restored first, "input" the restore input, and either
// "output" (what iptables-save -c or not then prints) or "error" (the exit
// status line "status N" and what iptables-restore prints).
type restoreCase struct {
	path     string
	comment  string
	sections map[string]string
	order    []string
}

func readCase(tb testing.TB, path string) *restoreCase {
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	c := &restoreCase{path: path, sections: map[string]string{}}
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur == "" {
			c.comment = b.String()
		} else {
			c.sections[cur] = b.String()
			c.order = append(c.order, cur)
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(strings.TrimRight(line, "\n"), " --") {
			flush()
			cur = strings.TrimSuffix(strings.TrimPrefix(strings.TrimRight(line, "\n"), "-- "), " --")
			continue
		}
		b.WriteString(line)
	}
	flush()
	return c
}

func (c *restoreCase) write() error {
	var b strings.Builder
	b.WriteString(c.comment)
	for _, name := range c.order {
		fmt.Fprintf(&b, "-- %s --\n%s", name, c.sections[name])
	}
	return os.WriteFile(c.path, []byte(b.String()), 0o644)
}

type caseFlags struct {
	family   translator.Family
	opts     iptables.RestoreOptions
	counters bool
}

func (c *restoreCase) flags() caseFlags {
	f := caseFlags{family: translator.IPv4}
	args := strings.Fields(c.sections["flags"])
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-6":
			f.family = translator.IPv6
		case "-c":
			f.opts.Counters, f.counters = true, true
		case "-n":
			f.opts.Noflush = true
		case "-T":
			i++
			f.opts.Table = args[i]
		}
	}
	return f
}

// run restores the case and returns the expected-section name and text.
func (c *restoreCase) run(tb testing.TB) (string, string) {
	f := c.flags()
	rs := translator.NewRuleset(f.family)
	prog := "iptables-restore"
	if f.family == translator.IPv6 {
		prog = "ip6tables-restore"
	}
	if before, ok := c.sections["before"]; ok {
		var err error
		rs, err = iptables.Restore(rs, strings.NewReader(before), iptables.RestoreOptions{Counters: true})
		if err != nil {
			tb.Fatalf("%s: before: %v", c.path, err)
		}
	}
	out, err := iptables.Restore(rs, strings.NewReader(c.sections["input"]), f.opts)
	if err != nil {
		msg, status := iptables.FormatError(prog, err)
		if out != rs {
			tb.Errorf("%s: a failed restore returned a changed ruleset", c.path)
		}
		return "error", fmt.Sprintf("status %d\n%s", status, msg)
	}
	var b strings.Builder
	if err := iptables.Save(&b, out, iptables.SaveOptions{Counters: f.counters}); err != nil {
		tb.Fatal(err)
	}
	return "output", b.String()
}

// TestRestoreCases checks the behaviour the iptables corpus does not pin
// down: quoting and escapes, counters, the commands inside a table block,
// --noflush, -T, and errors with their line numbers and exit statuses.
func TestRestoreCases(t *testing.T) {
	files, _ := filepath.Glob("testdata/restore/*.txt")
	if len(files) == 0 {
		t.Fatal("no cases in testdata/restore")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			c := readCase(t, path)
			name, got := c.run(t)
			if *update {
				delete(c.sections, "output")
				delete(c.sections, "error")
				var order []string
				for _, n := range c.order {
					if n != "output" && n != "error" {
						order = append(order, n)
					}
				}
				c.order = append(order, name)
				c.sections[name] = got
				if err := c.write(); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, ok := c.sections[name]
			if !ok {
				other := map[string]string{"output": "error", "error": "output"}[name]
				t.Fatalf("got %s, want %s:\n%s\ngot:\n%s", name, other, c.sections[other], got)
			}
			if got != want {
				t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
			}
		})
	}
}

// TestRestoreCasesAgainstIptablesLegacy feeds the same cases to the
// kernel's iptables (iptables-legacy-restore in a scratch network
// namespace): where iptables-legacy accepts the input, its iptables-save
// must print what bpftables printed; where it refuses, bpftables must refuse
// with the same exit status.
func TestRestoreCasesAgainstIptablesLegacy(t *testing.T) {
	nettest.RequireRoot(t)
	nettest.RequireTool(t, "iptables-legacy-restore")
	files, _ := filepath.Glob("testdata/restore/*.txt")
	for _, path := range files {
		c := readCase(t, path)
		if strings.Contains(c.comment, "bpftables differs from iptables-legacy") {
			continue
		}
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			f := c.flags()
			ns := nettest.NewNS(t)
			restore, save := "iptables-legacy-restore", "iptables-legacy-save"
			if f.family == translator.IPv6 {
				restore, save = "ip6tables-legacy-restore", "ip6tables-legacy-save"
			}
			if before, ok := c.sections["before"]; ok {
				if r := ns.Run(t, before, restore, "-c"); r.Status != 0 {
					t.Fatalf("iptables-legacy refused the before section: %s", r.Stderr)
				}
			}
			args := strings.Fields(c.sections["flags"])
			var flags []string
			for _, a := range args {
				if a != "-6" {
					flags = append(flags, a)
				}
			}
			r := ns.Run(t, c.sections["input"], restore, flags...)
			name, ours := c.run(t)
			if r.Status != 0 {
				if name != "error" {
					t.Fatalf("iptables-legacy refused (status %d: %s), bpftables accepted", r.Status, r.Stderr)
				}
				if want := fmt.Sprintf("status %d\n", r.Status); !strings.HasPrefix(ours, want) {
					t.Errorf("exit status differs: iptables-legacy %d (%s), bpftables %s", r.Status, strings.TrimSpace(r.Stderr), strings.SplitN(ours, "\n", 2)[0])
				}
				return
			}
			if name == "error" {
				t.Fatalf("bpftables refused what iptables-legacy accepted:\n%s", ours)
			}
			// compare table by table: the tables bpftables printed
			for _, table := range tablesIn(ours) {
				saveArgs := []string{"-t", table}
				if f.counters {
					saveArgs = append(saveArgs, "-c")
				}
				got := stripComments(ns.Run(t, "", save, saveArgs...).Stdout)
				want := tableBlock(ours, table)
				if got != want {
					t.Errorf("table %s: iptables-legacy-save printed\n%s\nbpftables printed\n%s", table, got, want)
				}
			}
		})
	}
}

func tablesIn(save string) []string {
	var ts []string
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "*") {
			ts = append(ts, l[1:])
		}
	}
	sort.Strings(ts)
	return ts
}

func tableBlock(save, table string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.SplitAfter(save, "\n") {
		if l == "*"+table+"\n" {
			in = true
		}
		if in {
			b.WriteString(l)
			if l == "COMMIT\n" {
				break
			}
		}
	}
	return b.String()
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}
