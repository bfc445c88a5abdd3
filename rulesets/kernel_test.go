package rulesets

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
)

// TestKernelUpdates loads each family's Rules into a fresh namespace with
// iptables-legacy-restore and applies Update with --noflush, then NFT and
// NFTUpdate with nft, and checks in the kernel's own listings that each
// update made its change.
func TestKernelUpdates(t *testing.T) {
	nettest.RequireRoot(t)
	for _, tool := range []string{"iptables-legacy-restore", "iptables-legacy", "nft"} {
		nettest.RequireTool(t, tool)
	}
	for _, f := range All {
		for _, n := range []int{1, 1000} {
			g := GenerateIn(f, n, 1, 1, "FORWARD")
			t.Run(fmt.Sprintf("%s/%d/iptables", f, n), func(t *testing.T) { checkIptablesUpdate(t, g) })
			t.Run(fmt.Sprintf("%s/%d/nft", f, n), func(t *testing.T) { checkNFTUpdate(t, g) })
		}
	}
}

// run runs a command in the namespace and fails the test unless it exits
// with success.
func run(tb testing.TB, ns *nettest.NS, stdin, name string, args ...string) string {
	tb.Helper()
	res := ns.Run(tb, stdin, name, args...)
	if res.Status != 0 {
		tb.Fatalf("%s %s: exit %d: %s", name, strings.Join(args, " "), res.Status, res.Stderr)
	}
	return res.Stdout
}

// ipCommand is one line of an iptables-restore script that changes a
// chain: -A, -I, -R, -X, or a chain line (":"), which flushes it.
type ipCommand struct {
	table, op, chain string
	num              int // -R's rule number
	spec             []string
}

func parseRestore(tb testing.TB, script string) []ipCommand {
	tb.Helper()
	var cmds []ipCommand
	table := ""
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case line == "COMMIT":
		case strings.HasPrefix(line, ":"):
			cmds = append(cmds, ipCommand{table: table, op: ":", chain: strings.Fields(line[1:])[0]})
		default:
			f := fields(line)
			c := ipCommand{table: table, op: f[0], chain: f[1], spec: f[2:]}
			if c.op == "-R" {
				c.num, _ = strconv.Atoi(f[2])
				c.spec = f[3:]
			}
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// fields splits a rule line into words as iptables-restore does: on
// spaces, except inside double quotes, which it drops.
func fields(line string) []string {
	var out []string
	var cur strings.Builder
	quoted, in := false, false
	for _, c := range line {
		switch {
		case c == '"':
			quoted, in = !quoted, true
		case c == ' ' && !quoted:
			if in {
				out = append(out, cur.String())
				cur.Reset()
			}
			in = false
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// checkIptablesUpdate applies Update to Rules in iptables-legacy and
// checks the kernel's tables: every rule it adds or replaces is there
// (iptables -C), a replaced rule is the only change to its chain, a chain
// it rewrites holds as many rules as it writes, jumping to the same
// chains and DNATing to the same places, and a chain it deletes is gone.
func checkIptablesUpdate(t *testing.T, g *Generated) {
	ns := nettest.NewNS(t)
	run(t, ns, g.Rules, "iptables-legacy-restore", "-w", "10")
	cmds := parseRestore(t, g.Update)
	list := func(table, chain string) []string {
		return strings.Split(strings.TrimSpace(run(t, ns, "", "iptables-legacy", "-w", "10", "-t", table, "-S", chain)), "\n")
	}
	before := map[string][]string{}
	for _, c := range cmds {
		if c.op == "-R" {
			before[c.chain] = list(c.table, c.chain)
		}
	}
	run(t, ns, g.Update, "iptables-legacy-restore", "-w", "10", "--noflush")

	rewritten, deleted, written := map[string]bool{}, map[string]bool{}, map[string][]string{}
	for _, c := range cmds {
		if c.op == ":" {
			rewritten[c.table+" "+c.chain] = true
		}
	}
	for _, c := range cmds {
		switch c.op {
		case "-X":
			deleted[c.table+" "+c.chain] = true
			if res := ns.Run(t, "", "iptables-legacy", "-w", "10", "-t", c.table, "-S", c.chain); res.Status == 0 {
				t.Errorf("%s %s: chain still there after -X", c.table, c.chain)
			}
		case "-A", "-I", "-R":
			if tc := c.table + " " + c.chain; rewritten[tc] {
				// Checked below, chain by chain: iptables -C for each of
				// the thousand rules of KUBE-SERVICES takes a minute.
				written[tc] = append(written[tc], targets(strings.Join(c.spec, " ")))
				continue
			}
			args := append([]string{"-w", "10", "-t", c.table, "-C", c.chain}, c.spec...)
			if res := ns.Run(t, "", "iptables-legacy", args...); res.Status != 0 {
				t.Errorf("%s %s: rule not there after the update: %s: %s", c.table, c.chain, strings.Join(c.spec, " "), res.Stderr)
			}
		}
		if c.op == "-R" {
			after := list(c.table, c.chain)
			if len(after) != len(before[c.chain]) {
				t.Fatalf("%s %s: %d rules before -R, %d after", c.table, c.chain, len(before[c.chain]), len(after))
			}
			for i := range after { // line 0 is the policy
				if changed := after[i] != before[c.chain][i]; changed != (i == c.num) {
					t.Errorf("%s %s rule %d: before %q, after %q; -R replaced rule %d", c.table, c.chain, i, before[c.chain][i], after[i], c.num)
				}
			}
		}
	}
	for tc := range rewritten {
		if deleted[tc] {
			continue
		}
		table, chain, _ := strings.Cut(tc, " ")
		var got []string
		for _, l := range list(table, chain)[1:] { // line 0 declares the chain
			got = append(got, targets(l))
		}
		slices.Sort(got)
		slices.Sort(written[tc])
		if !slices.Equal(got, written[tc]) {
			t.Errorf("%s %s after the update rewrote it: rules jump to\n%q\nwant\n%q", table, chain, got, written[tc])
		}
	}
}

var ipTarget = regexp.MustCompile(`-j \S+|--to-destination \S+`)

// targets returns where a rule sends packets: its target and, for DNAT,
// the destination.
func targets(rule string) string {
	return strings.Join(ipTarget.FindAllString(rule, -1), " ")
}

var (
	nftElement = regexp.MustCompile(`^(add|delete) element (ip \S+ \S+) \{ (.*) \}$`)
	nftRule    = regexp.MustCompile(`^(add|replace) rule (ip \S+) (\S+) (?:handle (\d+) )?(.*)$`)
	nftFlush   = regexp.MustCompile(`^flush chain (ip \S+) (\S+)$`)
	nftTarget  = regexp.MustCompile(`(?:goto|jump) \S+|dnat to \S+`)
)

// checkNFTUpdate applies NFTUpdate to NFT in nft and checks the kernel's
// ruleset: every element it adds is there and every element it deletes is
// gone (nft get element), a replaced rule is the only change to its
// chain, and a chain it flushes holds as many rules as it adds, with the
// jumps and DNAT targets those rules name.
func checkNFTUpdate(t *testing.T, g *Generated) {
	ns := nettest.NewNS(t)
	run(t, ns, g.NFT, "nft", "-f", "-")
	list := func(table, chain string) []string {
		return strings.Split(strings.TrimSpace(run(t, ns, "", "nft", append(append([]string{"-a", "list", "chain"}, strings.Fields(table)...), chain)...)), "\n")
	}
	lines := strings.Split(strings.TrimSpace(g.NFTUpdate), "\n")
	before := map[string][]string{}
	for _, l := range lines {
		if m := nftRule.FindStringSubmatch(l); m != nil && m[1] == "replace" {
			before[m[3]] = list(m[2], m[3])
		}
	}
	run(t, ns, g.NFTUpdate, "nft", "-f", "-")

	type chainRef struct{ table, chain string }
	flushed, added, targets := map[chainRef]bool{}, map[chainRef]int{}, map[chainRef][]string{}
	for _, l := range lines {
		if m := nftElement.FindStringSubmatch(l); m != nil {
			key, _, _ := strings.Cut(m[3], " : ") // a map's key
			args := append(append([]string{"get", "element"}, strings.Fields(m[2])...), "{", key, "}")
			res := ns.Run(t, "", "nft", args...)
			if there := res.Status == 0; there != (m[1] == "add") {
				t.Errorf("%s: after the update, element %s there: %v", m[2], key, there)
			}
			continue
		}
		if m := nftFlush.FindStringSubmatch(l); m != nil {
			flushed[chainRef{m[1], m[2]}] = true
			continue
		}
		m := nftRule.FindStringSubmatch(l)
		if m == nil {
			continue // add chain: the rules' checks cover it
		}
		ref := chainRef{m[2], m[3]}
		if m[1] == "add" {
			added[ref]++
			targets[ref] = append(targets[ref], nftTarget.FindAllString(m[5], -1)...)
			continue
		}
		after := list(m[2], m[3])
		if len(after) != len(before[m[3]]) {
			t.Fatalf("%s: %d lines listed before replace, %d after", m[3], len(before[m[3]]), len(after))
		}
		for i := range after {
			replaced := strings.HasSuffix(before[m[3]][i], "# handle "+m[4])
			if changed := after[i] != before[m[3]][i]; changed != replaced {
				t.Errorf("%s line %d: before %q, after %q; replaced handle %s", m[3], i, before[m[3]][i], after[i], m[4])
			}
		}
	}
	for ref := range flushed {
		listing := strings.Join(list(ref.table, ref.chain), "\n")
		// The chain's line carries a handle too.
		if got := strings.Count(listing, "# handle ") - strings.Count(listing, "{ # handle "); got != added[ref] {
			t.Errorf("%s: %d rules after the update flushed it and added %d", ref.chain, got, added[ref])
		}
		for _, target := range targets[ref] {
			if !strings.Contains(listing, target) {
				t.Errorf("%s: %q not in the listing after the update:\n%s", ref.chain, target, listing)
			}
		}
	}
}
