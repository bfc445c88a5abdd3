package benchmarks

import (
	"fmt"
	"os"
	"strings"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
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

// tookEffect checks that the change is in the ruleset in force. For an
// iptables-style contender the ruleset after it must be exactly the one
// before with the change applied, as bpftables' own iptables-restore
// (conformance-tested against iptables') applies a --noflush script;
// both sides go through its parser and printer, so iptables-save's
// spelling (-m tcp added, addresses with /32, a probability's digits)
// does not count. For nftables, whose scripts have no such model here,
// the listing must have changed.
func tookEffect(t restoreTool, update, before, after string) error {
	if after == before {
		return fmt.Errorf("the ruleset in force did not change")
	}
	if t.nft {
		return nil
	}
	rs, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(before), iptables.RestoreOptions{})
	if err != nil {
		return fmt.Errorf("parsing the ruleset before the change: %w", err)
	}
	if rs, err = iptables.Restore(rs, strings.NewReader(update), iptables.RestoreOptions{Noflush: true}); err != nil {
		return fmt.Errorf("applying the change to the ruleset before it: %w", err)
	}
	got, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(after), iptables.RestoreOptions{})
	if err != nil {
		return fmt.Errorf("parsing the ruleset after the change: %w", err)
	}
	var want, have strings.Builder
	if err := iptables.Save(&want, rs, iptables.SaveOptions{}); err != nil {
		return err
	}
	if err := iptables.Save(&have, got, iptables.SaveOptions{}); err != nil {
		return err
	}
	if want.String() != have.String() {
		return fmt.Errorf("the ruleset in force is not the one before with the change: %s", firstDiff(want.String(), have.String()))
	}
	return nil
}

// firstDiff describes the first line where two texts differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d is %q, want %q", i+1, gl, wl)
		}
	}
	return "no line differs"
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
	ns, s, err := newWorkspace("bpftables-update-")
	if err != nil {
		return nil, err
	}
	defer ns.Delete()
	defer os.RemoveAll(s.dir)
	tools := restoreTools(o.Bin)
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
					if _, err := timeTool(ns, t, o.timeout(), file); err != nil {
						return 0, fmt.Errorf("loading the ruleset: %w", err)
					}
					before, err := saved(ns, o.Bin, t.contender)
					if err != nil {
						return 0, err
					}
					took, err := timeTool(ns, t, o.timeout(), update, extra...)
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
				res.Ms = Median(res.Rounds)
			}
			out = append(out, res)
		}
	}
	return out, nil
}
