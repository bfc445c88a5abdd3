package iptables

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/corpus"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/xt"
)

// Extensions whose iptables test files (libxt_/libipt_/libip6t_NAME.t) must
// pass in full: the ones bpftables implements, as listed in the
// foundation issue.
var conformanceExtensions = strings.Fields(`standard rt tcp udp comment mark icmp icmp6 multiport iprange length ttl hl tos dscp pkttype mac addrtype conntrack state connmark owner physdev socket string u32 nfacct limit hashlimit statistic recent set REJECT LOG NFLOG MARK CONNMARK DSCP TCPMSS CHECKSUM DNAT SNAT MASQUERADE REDIRECT NOTRACK CT SET`)

// conformanceFile is the result of one .t file.
type conformanceFile struct {
	name          string
	lines         int // test lines in the file
	cases, passed int // lines x chains x families
	failures      []string
}

// TestConformance runs iptables' own extension tests (iptables-test.py's
// .t files) through the restore parser and the printer: every OK line,
// appended to each of its chains, must print back as its SAVE text; every
// FAIL line must be refused; NOMATCH lines must load and not print as SAVE.
// Where a line's result depends on the iptables variant, bpftables is held
// to iptables-legacy, the one it is compared with end to end.
func TestConformance(t *testing.T) {
	dir := corpus.Path(t, "iptables", "extensions")
	files, err := filepath.Glob(filepath.Join(dir, "*.t"))
	if err != nil {
		t.Fatal(err)
	}
	inScope := map[string]bool{}
	for _, e := range conformanceExtensions {
		for _, p := range []string{"libxt_", "libipt_", "libip6t_"} {
			inScope[p+e+".t"] = true
		}
	}
	var results []*conformanceFile
	var unsupported []string
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasPrefix(base, "libxt_") && !strings.HasPrefix(base, "libipt_") && !strings.HasPrefix(base, "libip6t_") {
			continue
		}
		if !inScope[base] {
			unsupported = append(unsupported, strings.TrimSuffix(base, ".t"))
			continue
		}
		results = append(results, runConformanceFile(t, f))
	}
	sort.Slice(results, func(i, j int) bool { return results[i].name < results[j].name })

	var b strings.Builder
	total, passed, lines := 0, 0, 0
	fmt.Fprintf(&b, "\niptables extension conformance (%s)\n", dir)
	fmt.Fprintf(&b, "%-24s %6s %6s %6s %8s\n", "file", "lines", "cases", "passed", "result")
	for _, r := range results {
		status := "100%"
		if r.passed != r.cases {
			status = fmt.Sprintf("%.1f%%", 100*float64(r.passed)/float64(r.cases))
		}
		fmt.Fprintf(&b, "%-24s %6d %6d %6d %8s\n", r.name, r.lines, r.cases, r.passed, status)
		total += r.cases
		passed += r.passed
		lines += r.lines
	}
	fmt.Fprintf(&b, "%-24s %6d %6d %6d %7.1f%%\n", "total", lines, total, passed, 100*float64(passed)/float64(total))
	fmt.Fprintf(&b, "not supported, not counted (%d files): %s\n", len(unsupported), strings.Join(unsupported, " "))
	t.Log(b.String())
	if out := os.Getenv("BPFTABLES_CONFORMANCE_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, r := range results {
		for _, f := range r.failures {
			t.Errorf("%s: %s", r.name, f)
		}
	}
}

func runConformanceFile(t *testing.T, path string) *conformanceFile {
	base := filepath.Base(path)
	res := &conformanceFile{name: strings.TrimSuffix(base, ".t")}
	var families []translator.Family
	switch {
	case strings.HasPrefix(base, "libipt_"):
		families = []translator.Family{translator.IPv4}
	case strings.HasPrefix(base, "libip6t_"):
		families = []translator.Family{translator.IPv6}
	default:
		families = []translator.Family{translator.IPv4, translator.IPv6}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	table := "filter"
	var chains []string
	s := bufio.NewScanner(f)
	lineno := 0
	for s.Scan() {
		lineno++
		line := s.Text()
		switch {
		case strings.TrimSpace(line) == "", line[0] == '#':
			continue
		case line[0] == '*':
			table = strings.TrimSpace(line[1:])
			continue
		case line[0] == ':':
			chains = strings.Split(strings.TrimSpace(line[1:]), ",")
			continue
		case line[0] == '@' || line[0] == '%':
			// setup commands (nfacct, nfct, ipset objects) for lines
			// that the files themselves leave commented out
			continue
		}
		item := strings.Split(line, ";")
		if len(item) < 3 {
			res.failures = append(res.failures, fmt.Sprintf("line %d: malformed test line %q", lineno, line))
			continue
		}
		res.lines++
		args, save, want := item[0], item[1], strings.TrimSpace(item[2])
		if save == "=" {
			save = args
		}
		if len(item) > 3 {
			want = variantResult(want, strings.TrimSpace(item[3]), item[4:])
		}
		for _, fam := range families {
			for _, chain := range chains {
				res.cases++
				if msg := conformanceCase(fam, table, chain, args, save, want); msg != "" {
					res.failures = append(res.failures, fmt.Sprintf("line %d (%s %s %s): %s", lineno, fam, table, chain, msg))
					continue
				}
				res.passed++
			}
		}
	}
	return res
}

// variantResult maps a result scoped to one iptables variant to what
// bpftables, held to iptables-legacy, must do (iptables-test.py's
// variant_res).
func variantResult(res, variant string, alt []string) string {
	if variant == "LEGACY" {
		return res
	}
	if len(alt) > 0 && strings.TrimSpace(alt[0]) != "" {
		return strings.TrimSpace(alt[0])
	}
	switch res {
	case "OK":
		return "FAIL"
	case "FAIL":
		return "OK"
	}
	return "OK" // NOMATCH
}

func conformanceCase(fam translator.Family, table, chain, args, save, want string) string {
	in := fmt.Sprintf("*%s\n-A %s %s\nCOMMIT\n", table, chain, args)
	rs, err := Restore(translator.NewRuleset(fam), strings.NewReader(in), RestoreOptions{Objects: translator.EmptyObjects{}})
	if err != nil {
		if want == "FAIL" {
			return ""
		}
		return fmt.Sprintf("cannot load %q: %v", args, err)
	}
	if want == "FAIL" {
		return fmt.Sprintf("should fail: %q", args)
	}
	var b strings.Builder
	if err := Save(&b, rs, SaveOptions{}); err != nil {
		return err.Error()
	}
	found := strings.Contains("\n"+b.String(), fmt.Sprintf("\n-A %s %s\n", chain, save))
	switch {
	case want == "OK" && !found:
		return fmt.Sprintf("cannot find %q in:\n%s", save, b.String())
	case want == "NOMATCH" && found:
		return fmt.Sprintf("should not match %q", save)
	}
	return ""
}

// TestConformanceExtensionsRegistered guards the list above: every
// extension it holds must be registered (or, for u32, refused by name).
func TestConformanceExtensionsRegistered(t *testing.T) {
	for _, e := range conformanceExtensions {
		if e == "standard" {
			continue
		}
		if xt.LookupMatch(e, translator.IPv4) == nil && xt.LookupMatch(e, translator.IPv6) == nil &&
			xt.LookupTarget(e, translator.IPv4) == nil && xt.LookupTarget(e, translator.IPv6) == nil {
			t.Errorf("extension %s is not registered", e)
		}
	}
}
