package iptables_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/corpus"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
)

// FuzzRestore feeds arbitrary text to the restore parser. It must never
// panic or hang; what it accepts must print, and the printed form must
// parse back to the same text (so printer and parser agree on every
// ruleset the parser can produce).
//
// Seeds: the corpus rulesets, every test line of iptables' .t files as a
// one-rule table, and the restore cases. Run for real with
//
//	go test ./translator/iptables -run '^$' -fuzz FuzzRestore -fuzztime 10m
//
// Crashers land in testdata/fuzz/FuzzRestore and then run in every `go
// test` as regression tests.
func FuzzRestore(f *testing.F) {
	for _, c := range corpusRulesets(&testing.T{}) {
		if data, err := os.ReadFile(c.path); err == nil {
			f.Add(string(data), c.family == translator.IPv6)
		}
	}
	tfiles, _ := filepath.Glob(filepath.Join(corpus.ModuleRoot(), "..", "shared", "corpus", "iptables", "extensions", "lib*.t"))
	for _, tf := range tfiles {
		seedTestFile(f, tf)
	}
	cases, _ := filepath.Glob("testdata/restore/*.txt")
	for _, path := range cases {
		c := readCase(f, path)
		f.Add(c.sections["input"], strings.Contains(c.sections["flags"], "-6"))
	}
	f.Fuzz(func(t *testing.T, input string, v6 bool) {
		if len(input) > 1<<16 {
			return
		}
		fam := translator.IPv4
		if v6 {
			fam = translator.IPv6
		}
		rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(input), iptables.RestoreOptions{KeepCounters: true})
		if err != nil {
			if msg, status := iptables.FormatError("iptables-restore", err); msg == "" || status == 0 {
				t.Fatalf("error without message or status: %v", err)
			}
			return
		}
		var first strings.Builder
		if err := iptables.Save(&first, rs, iptables.SaveOptions{Counters: true}); err != nil {
			t.Fatal(err)
		}
		again, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(first.String()), iptables.RestoreOptions{KeepCounters: true})
		if err != nil && iptablesCannotReread(err) {
			return // iptables itself cannot re-read this
		}
		if err != nil {
			t.Fatalf("printed form does not parse: %v\ninput:\n%q\nprinted:\n%s", err, input, first.String())
		}
		var second strings.Builder
		_ = iptables.Save(&second, again, iptables.SaveOptions{Counters: true})
		if first.String() != second.String() {
			t.Fatalf("print/parse is not the identity\ninput:\n%q\nfirst:\n%s\nsecond:\n%s", input, first.String(), second.String())
		}
	})
}

// iptablesCannotReread reports the printed forms iptables-legacy 1.8.9
// cannot read back either (checked against it); the printer keeps
// iptables' bytes rather than save something iptables would not:
//
//   - a 128-byte string pattern with an unprintable byte saves as
//     --hex-string "|...|", and parse_hex_string still has the closing '|'
//     to read when the pattern is full: "STRING too long";
//   - a NAT port range of one port with an offset (--to :80-80/1) saves as
//     ":80/1", and parse_ports takes an offset only after a range.
func iptablesCannotReread(err error) bool {
	msg := err.Error()
	if strings.Contains(msg, "Garbage after port value: `/") {
		return true
	}
	i := strings.Index(msg, `STRING too long "|`)
	if i < 0 || !strings.HasSuffix(msg, `|"`) {
		return false
	}
	hex := msg[i+len(`STRING too long "|`) : len(msg)-2]
	return len(hex) == 2*128 && strings.Trim(hex, "0123456789abcdef") == ""
}

// seedTestFile adds each test line of an iptables .t file as a one-rule
// table in its first chain.
func seedTestFile(f *testing.F, path string) {
	fh, err := os.Open(path)
	if err != nil {
		return
	}
	defer fh.Close()
	table, chain := "filter", "INPUT"
	v6 := strings.HasPrefix(filepath.Base(path), "libip6t_")
	s := bufio.NewScanner(fh)
	for s.Scan() {
		line := s.Text()
		switch {
		case line == "" || line[0] == '#' || line[0] == '@' || line[0] == '%':
		case line[0] == '*':
			table = line[1:]
		case line[0] == ':':
			chain = strings.Split(line[1:], ",")[0]
		default:
			args := strings.Split(line, ";")[0]
			f.Add("*"+table+"\n-A "+chain+" "+args+"\nCOMMIT\n", v6)
		}
	}
}
