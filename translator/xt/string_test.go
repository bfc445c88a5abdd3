package xt_test

import (
	"encoding/hex"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestStringParse(t *testing.T) {
	for _, tc := range []struct{ args, save, msg string }{
		// Quotes and backslashes are escaped; a pattern with a byte that
		// is not printable ASCII, or ending in a backslash, prints in hex.
		{args: `-m string --string "a\"b\\c" --algo kmp --from 10 --to 100 --icase`,
			save: `-m string --string "a\"b\\c" --algo kmp --from 10 --to 100 --icase`},
		{args: `-m string --string "ab\\" --algo bm`, save: `-m string --hex-string "|61625c|" --algo bm`},
		{args: "-m string --string \"tab\tx\" --algo bm", save: `-m string --hex-string "|7461620978|" --algo bm`},
		{args: `-m string ! --string "é" --algo bm`, save: `-m string ! --hex-string "|c3a9|" --algo bm`},
		// --hex-string mixes text, |hex| blocks with spaces, and \c
		// literals; what is printable prints as a string.
		{args: `-m string --hex-string "ab|41 42|c\\|d" --algo bm`, save: `-m string --string "abABc|d" --algo bm`},
		{args: `-m string --hex-string "|  41 42 |" --algo bm`, save: `-m string --string "AB" --algo bm`},
		{args: `-m string --hex-string "|41||42|" --algo bm`, save: `-m string --string "A|42" --algo bm`},
		{args: `-m string --hex-string "|00ff|" --algo bm --from 0 --to 65535`, save: `-m string --hex-string "|00ff|" --algo bm`},
		{args: `-m string --hex-string "|414|" --algo bm`, msg: "Invalid hex block"},
		{args: `-m string --hex-string "|4" --algo bm`, msg: "Odd number of hex digits"},
		{args: `-m string --hex-string "|4g|" --algo bm`, msg: "Invalid hex char 'g'"},
		{args: `-m string --hex-string "|41\\|" --algo bm`, msg: "Cannot include literals in hex data"},
		{args: `-m string --hex-string "a\\" --algo bm`, msg: "Bad literal placement at end of string"},
		{args: `-m string --hex-string "" --algo bm`, msg: "STRING must contain at least one char"},
		{args: `-m string --string x --hex-string y --algo bm`, msg: `string: option "--string" cannot be used together with "--hex-string".`},
		{args: `-m string --string x --algo bm --from 65536`, msg: `string: bad value for option "--from", or out of range (0-65535).`},
		{args: `-m string --algo bm`, msg: "STRING match: You must specify `--string' or `--hex-string'"},
		// The kernel's refusals.
		{args: `-m string --string "" --algo bm`, msg: "string match: empty pattern"},
		{args: `-m string --string x --algo bm --from 10 --to 5`, msg: "string match: --from 10 is beyond --to 5"},
		{args: `-m string --string x --algo kmpxxxxxxxxxxxxxxxxxxxxx`, msg: `string match: unknown algorithm "kmpxxxxxxxxxxxx"`},
		{args: `-m string --string x --algo fsm`, msg: "string match: algorithm fsm is not supported by bpftables"},
	} {
		if tc.msg != "" {
			if got := loadError(translator.IPv4, "filter", "INPUT", tc.args, nil); got != tc.msg {
				t.Errorf("%s:\n got %q\nwant %q", tc.args, got, tc.msg)
			}
			continue
		}
		if got := mustRuleIn(t, translator.IPv4, "filter", "INPUT", tc.args).Spec(translator.IPv4); got != " "+tc.save {
			t.Errorf("%s:\n got %q\nwant %q", tc.args, got, " "+tc.save)
		}
	}
}

func TestStringMatch(t *testing.T) {
	mustHex := func(s string) string {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// The UDP payload starts at offset 28 of an IPv4 packet.
	for _, tc := range []struct {
		args, payload string
		want          bool
	}{
		{`--string "GET /" --algo bm`, "GET /index.html", true},
		{`--string "GET /" --algo kmp`, "POST /", false},
		{`! --string "GET /" --algo kmp`, "POST /", true},
		// The pattern must lie within [--from, --to).
		{`--string abc --algo bm --from 28 --to 31`, "abc", true},
		{`--string abc --algo kmp --from 28 --to 30`, "abc", false},
		{`--string abc --algo bm --from 29`, "abc", false},
		{`--string abc --algo kmp --from 29`, "xabc", true},
		{`--string abc --algo bm --from 40`, "abc", false},
		{`! --string abc --algo bm --from 40`, "abc", true},
		// The search sees the headers too.
		{`--hex-string "|0035|" --algo bm --from 20 --to 28`, "", true},
		{`--string get --algo bm`, "GET", false},
		{`--string get --algo bm --icase`, "GET", true},
		{`--string GeT --algo kmp --icase`, "gEt", true},
		// The kernel folds case as Latin-1, except that it counts 0xdf as
		// a lower case letter whose upper case is 0xbf.
		{`--hex-string "|e9|" --algo kmp --icase`, mustHex("c9"), true},
		{`--hex-string "|ff|" --algo bm --icase`, mustHex("df"), false},
		{`--hex-string "|ff|" --algo bm --icase`, mustHex("ff"), true},
		{`--hex-string "|df|" --algo kmp --icase`, mustHex("bf"), true},
		{`--hex-string "|df|" --algo kmp`, mustHex("bf"), false},
		// The kernel's Boyer-Moore looks its bad-character shift up with
		// the text byte unfolded, and with --icase skips this match that
		// Knuth-Morris-Pratt finds (both verified on Linux 6.18).
		{`--hex-string "|e9dfff4161|" --algo bm --icase --from 29`, mustHex("4161df41c961c9e9dfff4161e9bfbfffdf61"), false},
		{`--hex-string "|e9dfff4161|" --algo kmp --icase --from 29`, mustHex("4161df41c961c9e9dfff4161e9bfbfffdf61"), true},
		{`--hex-string "|e9dfff4161|" --algo bm --from 29`, mustHex("4161df41c961c9e9dfff4161e9bfbfffdf61"), true},
	} {
		r := mustRuleIn(t, translator.IPv4, "filter", "INPUT", "-m string "+tc.args)
		if got, _ := judge(r, translator.IPv4, udp4Packet(tc.payload)); got != tc.want {
			t.Errorf("%s on %q: got %v, want %v", tc.args, tc.payload, got, tc.want)
		}
	}
}

func TestStringMatchIPv6(t *testing.T) {
	// The UDP payload of an IPv6 packet without extension headers starts
	// at offset 48.
	p := packet.Spec{Src: v6a, Dst: v6b, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: []byte("needle")}.Build()
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"--string needle --algo bm", true},
		{"--string needle --algo kmp --from 48 --to 54", true},
		{"--string needle --algo kmp --from 49", false},
	} {
		r := mustRuleIn(t, translator.IPv6, "filter", "INPUT", "-m string "+tc.args)
		if got, _ := judge(r, translator.IPv6, p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.args, got, tc.want)
		}
	}
}
