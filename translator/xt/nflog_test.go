package xt_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestNFLogParseSave(t *testing.T) {
	// Checked against iptables-legacy 1.8.9.
	long := strings.Repeat("p", 70)
	for _, tc := range []struct{ args, save string }{
		{`-j NFLOG --nflog-range 0`, `-j NFLOG`},
		{`-j NFLOG --nflog-range 5`, `-j NFLOG --nflog-range 5`},
		{`-j NFLOG --nflog-size 0`, `-j NFLOG --nflog-size 0`},
		{`-j NFLOG --nflog-threshold 0`, `-j NFLOG`},
		{`-j NFLOG --nflog-group 0x10`, `-j NFLOG --nflog-group 16`},
		{`-j NFLOG --nflog-threshold 3 --nflog-size 128 --nflog-group 3 --nflog-prefix "x y"`,
			`-j NFLOG --nflog-prefix "x y" --nflog-group 3 --nflog-size 128 --nflog-threshold 3`},
		// the prefix buffer holds 63 characters
		{`-j NFLOG --nflog-prefix ` + long, `-j NFLOG --nflog-prefix ` + long[:63]},
	} {
		for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
			r := tgRule(t, f, "filter", "INPUT", tc.args)
			if got := tgSave(r, f); got != tc.save {
				t.Errorf("%s %s: saved as %q, want %q", f, tc.args, got, tc.save)
			}
		}
	}
}

func TestNFLogErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{`-j NFLOG --nflog-size 5 --nflog-range 6`, `NFLOG: option "--nflog-range" cannot be used together with "--nflog-size".`},
		{`-j NFLOG --nflog-prefix ""`, `Argument must have a minimum length of 1 characters`},
		{`-j NFLOG --nflog-group 65536`, `NFLOG: bad value for option "--nflog-group", or out of range (0-65535).`},
		{`-j NFLOG --nflog-threshold 1 --nflog-threshold 2`, `NFLOG: option "--nflog-threshold" can only be used once.`},
	} {
		if got := tgErr(translator.IPv4, "filter", "INPUT", tc.args); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := tgCmdErr(translator.IPv6, "-A", "INPUT", "-j", "NFLOG", "--nflog-prefix", "a\nb"); got != "Newlines not allowed in --log-prefix" {
		t.Errorf("newline in --nflog-prefix: got %q", got)
	}
	for _, table := range []string{"filter", "nat", "mangle", "raw", "security"} {
		if got := tgErr(translator.IPv4, table, "OUTPUT", "-j NFLOG"); got != "" {
			t.Errorf("NFLOG in %s: %s", table, got)
		}
	}
}

func TestNFLogApply(t *testing.T) {
	spec := packet.Spec{Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: make([]byte, 100)}
	for _, tc := range []struct{ rule, want string }{
		{`-j NFLOG`, `NFLOG: group 0 packet %d bytes`},
		{`-j NFLOG --nflog-group 5 --nflog-prefix "dropped: "`, `NFLOG: group 5 prefix "dropped: " packet %d bytes`},
		{`-j NFLOG --nflog-size 64`, `NFLOG: group 0 packet 64 bytes`},
		{`-j NFLOG --nflog-size 4096`, `NFLOG: group 0 packet %d bytes`},
		// --nflog-range never set the copy length
		{`-j NFLOG --nflog-range 64`, `NFLOG: group 0 packet %d bytes`},
	} {
		for _, fam := range tgFamilies {
			r := tgRule(t, fam.f, "filter", "FORWARD", tc.rule)
			s := spec
			s.Src, s.Dst = fam.src, fam.dst
			p := s.Build()
			want := tc.want
			if strings.Contains(want, "%d") {
				want = strings.Replace(want, "%d", strconv.Itoa(len(p.Data)), 1)
			}
			v, c := tgJudge(r, fam.f, "filter", "FORWARD", p)
			if v != translator.Continue {
				t.Errorf("%s %s: verdict %v, want CONTINUE", fam.f, tc.rule, v)
			}
			if got := tgEffects(c); !slices.Equal(got, []string{want}) {
				t.Errorf("%s %s: effects %q, want %q", fam.f, tc.rule, got, want)
			}
		}
	}
}
