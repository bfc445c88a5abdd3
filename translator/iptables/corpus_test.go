package iptables_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/corpus"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
)

// corpusRuleset is one real ruleset of the shared corpus.
type corpusRuleset struct {
	path   string
	family translator.Family
	// save is set for iptables-save output, which must print back
	// exactly (comment and blank lines aside).
	save bool
	// fragment is set for input meant for --noflush into tables that
	// already hold the chains it jumps to (ufw's rules files).
	fragment bool
}

func corpusRulesets(t *testing.T) []corpusRuleset {
	var out []corpusRuleset
	add := func(pattern string, save, fragment bool) {
		files, err := filepath.Glob(corpus.Path(t, pattern))
		if err != nil || len(files) == 0 {
			t.Fatalf("no corpus files match %s", pattern)
		}
		for _, f := range files {
			base := filepath.Base(f)
			if strings.HasSuffix(base, ".xml") {
				continue // iptables-xml output, not restore text
			}
			fam := translator.IPv4
			if strings.Contains(base, "ip6tables") || strings.HasSuffix(base, "6.rules") {
				fam = translator.IPv6
			}
			out = append(out, corpusRuleset{path: f, family: fam, save: save, fragment: fragment})
		}
	}
	add("iptables/dumps/ipt-save/dumps/*", true, false)
	add("iptables/dumps/ipt-restore/dumps/*", true, false)
	add("iptables/dumps/firewalld-restore/dumps/*", true, false)
	add("rulesets/kube-proxy/*.txt", false, false)
	add("rulesets/docker/iptables/*", true, false)
	add("rulesets/ufw/*", false, true)
	return out
}

var jumpRE = regexp.MustCompile(`-[jg] ([^ ]+)`)

// prepareFragment returns a ruleset holding the chains a fragment jumps to
// without declaring them, as ufw creates them before restoring its files.
func prepareFragment(t *testing.T, fam translator.Family, text string) *translator.Ruleset {
	rs := translator.NewRuleset(fam)
	var table *translator.Table
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			var err error
			if table, err = rs.EnsureTable(strings.TrimSpace(line[1:])); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(line, "-A") && table != nil:
			for _, m := range jumpRE.FindAllStringSubmatch(line, -1) {
				name := m[1]
				if strings.Contains(text, ":"+name+" ") || strings.ToUpper(name) == name && !strings.Contains(name, "-") {
					continue // declared in the file, or a target
				}
				if table.Chain(name) == nil {
					_ = table.NewChain(name)
				}
			}
		}
	}
	return rs
}

// TestCorpusRulesets parses every real ruleset of the corpus (iptables'
// dumps, kube-proxy's payload, Docker's and ufw's rules): each must parse,
// printing and parsing again must give the same text, and iptables-save
// output must print back as it was.
func TestCorpusRulesets(t *testing.T) {
	for _, c := range corpusRulesets(t) {
		rel, _ := filepath.Rel(corpus.Dir(t), c.path)
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(c.path)
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			start := translator.NewRuleset(c.family)
			opts := iptables.RestoreOptions{KeepCounters: true}
			if c.fragment {
				start = prepareFragment(t, c.family, text)
				opts.Noflush = true
			}
			rs, err := iptables.Restore(start, strings.NewReader(text), opts)
			if err != nil {
				msg, _ := iptables.FormatError("iptables-restore", err)
				t.Fatalf("does not parse:\n%s", msg)
			}
			counters := hasRuleCounters(text)
			var first strings.Builder
			if err := iptables.Save(&first, rs, iptables.SaveOptions{Counters: counters}); err != nil {
				t.Fatal(err)
			}
			again, err := iptables.Restore(translator.NewRuleset(c.family), strings.NewReader(first.String()), iptables.RestoreOptions{KeepCounters: true})
			if err != nil {
				t.Fatalf("printed form does not parse: %v\n%s", err, first.String())
			}
			var second strings.Builder
			_ = iptables.Save(&second, again, iptables.SaveOptions{Counters: counters})
			if first.String() != second.String() {
				t.Errorf("print and parse is not the identity:\nfirst:\n%s\nsecond:\n%s", first.String(), second.String())
			}
			if c.save {
				want := significantLines(text)
				got := significantLines(first.String())
				if d := lineDiff(want, got); d != "" {
					t.Errorf("iptables-save output does not print back as it was:\n%s", d)
				}
			}
		})
	}
}

func hasRuleCounters(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "[") {
			return true
		}
	}
	return false
}

// significantLines drops comments and blank lines, which iptables-save
// output carries (dates, versions) and restore ignores.
func significantLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func lineDiff(want, got []string) string {
	var b strings.Builder
	n := len(want)
	if len(got) > n {
		n = len(got)
	}
	shown := 0
	for i := 0; i < n && shown < 10; i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			b.WriteString("line " + itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g + "\n")
			shown++
		}
	}
	return b.String()
}

func itoa(i int) string {
	s := []byte{}
	for {
		s = append([]byte{byte('0' + i%10)}, s...)
		i /= 10
		if i == 0 {
			return string(s)
		}
	}
}

// TestCorpusRulesetsListed keeps the corpus lists honest: every directory
// the issue names must contribute files.
func TestCorpusRulesetsListed(t *testing.T) {
	dirs := map[string]int{}
	for _, c := range corpusRulesets(t) {
		rel, _ := filepath.Rel(corpus.Dir(t), filepath.Dir(c.path))
		dirs[rel]++
	}
	var names []string
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, want := range []string{"iptables/dumps/ipt-save/dumps", "rulesets/docker/iptables", "rulesets/kube-proxy", "rulesets/ufw"} {
		if dirs[want] == 0 {
			t.Errorf("no rulesets from %s (have %v)", want, names)
		}
	}
}
