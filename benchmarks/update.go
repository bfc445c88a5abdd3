package benchmarks

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/rulesets"
)

// UpdateSize is the size of the ruleset MeasureUpdate changes when
// LoadOptions.Sizes has none up to it.
const UpdateSize = 10000

// updateSize returns the largest of the sizes up to UpdateSize, or
// UpdateSize.
func updateSize(sizes []int) int {
	n := 0
	for _, s := range sizes {
		if s <= UpdateSize {
			n = max(n, s)
		}
	}
	if n == 0 {
		return UpdateSize
	}
	return n
}

// change is one small change to a generated ruleset, in each contender's
// form.
type change struct {
	name string // "one rule", "one Service"
	// rules is iptables-restore --noflush text, nft an nft -f script
	// ("" when the change has no nftables form).
	rules, nft string
}

// changeOf returns the small change MeasureUpdate makes to a generated
// ruleset: one more rule of the family's kind, one more element of the
// nftables set it is written with.
func changeOf(g *rulesets.Generated) change {
	chain := strings.ToLower(g.Chain)
	switch g.Family {
	case rulesets.Blocklist:
		// 192.0.2.1: no generated blocklist address is outside 10/8.
		return change{
			name:  "one rule",
			rules: fmt.Sprintf("*filter\n-A %s -s 192.0.2.1/32 -j DROP\nCOMMIT\n", g.Chain),
			nft:   "add element ip bench blocked { 192.0.2.1 }\n",
		}
	case rulesets.Allowlist:
		return change{
			name:  "one rule",
			rules: fmt.Sprintf("*filter\n-A %s -d 192.0.2.1/32 -p tcp -m tcp --dport 8443 -j ACCEPT\nCOMMIT\n", g.Chain),
			nft:   "add element ip bench allowed { 192.0.2.1 . 8443 }\n",
		}
	default:
		// First: a change where first match decides goes where it
		// shadows the most.
		return change{
			name:  "one rule",
			rules: fmt.Sprintf("*filter\n-I %s 1 -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n", g.Chain),
			nft:   fmt.Sprintf("insert rule ip bench %s ip saddr 192.0.2.0/24 tcp dport 22 drop\n", chain),
		}
	}
}

// saveCommand returns the command that prints the contender's ruleset in
// force: its save tool, or nft list ruleset.
func saveCommand(bin, contender string) []string {
	switch contender {
	case "iptables-legacy":
		return []string{"iptables-legacy-save"}
	case "iptables-nft":
		return []string{"iptables-nft-save"}
	case "nftables":
		return []string{"nft", "list", "ruleset"}
	}
	return []string{bin, "iptables-save"}
}

// saved returns what the contender's save command prints in the
// namespace, less comment lines (iptables-save's carry the time).
func saved(ns *nettest.NS, bin, contender string) (string, error) {
	argv := saveCommand(bin, contender)
	out, err := ns.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n"), nil
}

// tookEffect checks the change is in the ruleset in force: what the save
// command prints changed, and an iptables-style contender's save output
// has each rule the change appends or inserts, as iptables-save prints
// it.
func tookEffect(t restoreTool, c change, before, after string) error {
	if after == before {
		return fmt.Errorf("the ruleset in force did not change")
	}
	if t.nft {
		return nil
	}
	lines := strings.Split(after, "\n")
	for _, l := range strings.Split(c.rules, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "-A" && f[0] != "-I" {
			continue
		}
		rule := f[2:]
		if f[0] == "-I" && len(rule) > 0 && strings.Trim(rule[0], "0123456789") == "" {
			rule = rule[1:] // the position
		}
		want := strings.Join(append([]string{"-A", f[1]}, rule...), " ")
		if !slices.Contains(lines, want) {
			return fmt.Errorf("%q is not in the ruleset in force", want)
		}
	}
	return nil
}

// MeasureUpdate measures how long each contender's own tool takes to make
// one small change to a loaded ruleset of each family: the largest of
// o.Sizes up to UpdateSize rules (UpdateSize if none), loaded with the
// contender's tool, then changed with iptables-restore --noflush or nft
// -f and the change only. The change is checked to have taken effect in
// the contender's save or list output. Rounds are interleaved as
// MeasureLoad's; each round loads the ruleset afresh.
func MeasureUpdate(o LoadOptions) ([]UpdateResult, error) {
	dir, err := os.MkdirTemp("", "bpftables-update-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ns, err := firewallNS()
	if err != nil {
		return nil, err
	}
	defer ns.Delete()
	tools := restoreTools(o.Bin)
	s := &scripts{dir: dir}
	n := updateSize(o.sizes())
	type updateCase struct {
		*loadCase
		change     change
		rules, nft string // the change's files
	}
	var cases []*updateCase
	for _, f := range o.families() {
		lc, err := newLoadCase(s, f, n)
		if err != nil {
			return nil, err
		}
		c := &updateCase{loadCase: lc, change: changeOf(lc.g)}
		if c.rules, err = s.write(c.change.rules); err != nil {
			return nil, err
		}
		if c.change.nft != "" {
			if c.nft, err = s.write(c.change.nft); err != nil {
				return nil, err
			}
		}
		cases = append(cases, c)
	}
	for r := 0; r < o.rounds(); r++ {
		for _, c := range cases {
			for _, t := range tools {
				if c.errs[t.contender] != "" {
					continue
				}
				if err := clearNS(ns, o.Bin, t.contender); err != nil {
					return nil, err
				}
				d, err := func() (float64, error) {
					file, update, extra := c.loadCase.file(t), c.rules, []string{"--noflush"}
					if t.nft {
						update, extra = c.nft, nil
					}
					if file == "" || update == "" {
						return 0, fmt.Errorf("%s has no form for %s", c.g.Family, t.contender)
					}
					if _, err := timeTool(ns, t, file); err != nil {
						return 0, fmt.Errorf("loading %d rules: %w", n, err)
					}
					before, err := saved(ns, o.Bin, t.contender)
					if err != nil {
						return 0, err
					}
					took, err := timeTool(ns, t, update, extra...)
					if err != nil {
						return 0, err
					}
					after, err := saved(ns, o.Bin, t.contender)
					if err != nil {
						return 0, err
					}
					if err := tookEffect(t, c.change, before, after); err != nil {
						return 0, fmt.Errorf("the change: %w", err)
					}
					return float64(took.Microseconds()) / 1000, nil
				}()
				if err != nil {
					c.errs[t.contender] = err.Error()
					o.logf("update %s %d %s: %v", c.g.Family, n, t.contender, err)
					continue
				}
				c.runs[t.contender] = append(c.runs[t.contender], d)
				o.logf("update %s %d %s round %d: %.1f ms", c.g.Family, n, t.contender, r+1, d)
			}
		}
	}
	for _, t := range tools {
		if err := clearNS(ns, o.Bin, t.contender); err != nil {
			return nil, err
		}
	}
	var out []UpdateResult
	for _, c := range cases {
		for _, t := range tools {
			res := UpdateResult{Change: c.change.name, Family: c.g.Family.String(), N: n, Contender: t.contender, Error: c.errs[t.contender]}
			if res.Error == "" {
				res.Rounds = c.runs[t.contender]
				res.Ms = medianMs(res.Rounds)
			}
			out = append(out, res)
		}
	}
	return out, nil
}
