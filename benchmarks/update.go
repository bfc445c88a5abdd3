package benchmarks

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/bpftables/bpftables/internal/nettest"
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

// tookEffect checks that the change is in the ruleset in force: what
// the save command prints changed and, for an iptables-style contender,
// each rule the change appends, inserts or replaces (-A, -I, -R) is in
// the save output as iptables-save prints it: its words in order, among
// the match modules (-m tcp) iptables-save adds. (A rule a change
// rewrites as it was, as kube-proxy rewrites a whole chain, was there
// before too.)
func tookEffect(t restoreTool, update, before, after string) error {
	if after == before {
		return fmt.Errorf("the ruleset in force did not change")
	}
	if t.nft {
		return nil
	}
	var rules [][]string
	for _, l := range strings.Split(after, "\n") {
		if strings.HasPrefix(l, "-A ") {
			rules = append(rules, strings.Fields(l))
		}
	}
	for _, l := range strings.Split(update, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "-A" && f[0] != "-I" && f[0] != "-R" {
			continue
		}
		rule := f[2:]
		if f[0] != "-A" && len(rule) > 0 && strings.Trim(rule[0], "0123456789") == "" {
			rule = rule[1:] // the position
		}
		want := append([]string{"-A", f[1]}, rule...)
		if !slices.ContainsFunc(rules, func(got []string) bool { return subsequence(want, got) }) {
			return fmt.Errorf("%q is not in the ruleset in force", l)
		}
	}
	return nil
}

// subsequence reports whether the words of want appear in got in order.
func subsequence(want, got []string) bool {
	for _, w := range got {
		if len(want) > 0 && want[0] == w {
			want = want[1:]
		}
	}
	return len(want) == 0
}

// MeasureUpdate measures how long each contender's own tool takes to make
// one small change to a loaded ruleset of each family: the largest of
// o.Sizes up to UpdateSize rules (UpdateSize if none), loaded with the
// contender's tool, then changed with the generator's change
// (Generated.Update with iptables-restore --noflush, Generated.NFTUpdate
// with nft -f). The change is checked to have taken effect in
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
		rules, nft string // the files of the change's two forms
	}
	var cases []*updateCase
	for _, f := range o.families() {
		lc, err := newLoadCase(s, f, n)
		if err != nil {
			return nil, err
		}
		c := &updateCase{loadCase: lc}
		if lc.g.Update != "" {
			if c.rules, err = s.write(lc.g.Update); err != nil {
				return nil, err
			}
		}
		if lc.g.NFTUpdate != "" {
			if c.nft, err = s.write(lc.g.NFTUpdate); err != nil {
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
						return 0, fmt.Errorf("%s has no change in a form for %s", c.g.Family, t.contender)
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
					change := c.g.Update
					if t.nft {
						change = c.g.NFTUpdate
					}
					if err := tookEffect(t, change, before, after); err != nil {
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
			res := UpdateResult{Change: c.g.UpdateName, Family: c.g.Family.String(), N: n, Contender: t.contender, Error: c.errs[t.contender]}
			if res.Error == "" {
				res.Rounds = c.runs[t.contender]
				res.Ms = medianMs(res.Rounds)
			}
			out = append(out, res)
		}
	}
	return out, nil
}
