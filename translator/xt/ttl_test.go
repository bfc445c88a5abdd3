package xt_test

import (
	"fmt"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestTTLSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: v4, in: "-m ttl --ttl 5", save: "-m ttl --ttl-eq 5"},
		// "--ttl" takes the flags of "--ttl-eq", the first entry with its
		// ID, as in libxtables: it may be inverted.
		{fam: v4, in: "-m ttl ! --ttl 5", save: "-m ttl ! --ttl-eq 5"},
		{fam: v4, in: "-m ttl --ttl-eq 0x10", save: "-m ttl --ttl-eq 16"},
		{fam: v4, in: "-m ttl --ttl-lt 1", save: "-m ttl --ttl-lt 1"},
		{fam: v4, in: "-m ttl --ttl-lt 5 --ttl-gt 3", err: `ttl: option "--ttl-lt" cannot be used together with "--ttl-gt".`},
		{fam: v4, in: "-m ttl --ttl-gt 5 --ttl-lt 4", err: `ttl: option "--ttl-lt" cannot be used together with "--ttl-gt".`},
		{fam: v4, in: "-m ttl --ttl-gt 5 --ttl 3", err: `ttl: option "--ttl-gt" cannot be used together with "--ttl-eq".`},
		{fam: v4, in: "-m ttl --ttl-eq 5 --ttl 3", err: `ttl: option "--ttl-eq" can only be used once.`},
		{fam: v4, in: "-m ttl ! --ttl-lt 5", err: `ttl: option "--ttl-lt" cannot be inverted.`},
		{fam: v4, in: "-m ttl --ttl-lt 256", err: `ttl: bad value for option "--ttl-lt", or out of range (0-255).`},
		{fam: v4, in: "-m ttl", err: "TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt"},
	})
}

func TestTTLMatch(t *testing.T) {
	cases := []struct {
		rule string
		ttl  uint8
		want bool
	}{
		{"-m ttl --ttl-eq 5", 5, true},
		{"-m ttl --ttl-eq 5", 6, false},
		{"-m ttl ! --ttl-eq 5", 5, false},
		{"-m ttl ! --ttl-eq 5", 4, true},
		{"-m ttl --ttl-lt 5", 4, true},
		{"-m ttl --ttl-lt 5", 5, false},
		{"-m ttl --ttl-gt 5", 6, true},
		{"-m ttl --ttl-gt 5", 5, false},
		{"-m ttl --ttl-gt 254", 255, true},
	}
	for _, tc := range cases {
		p := packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoUDP, TTL: tc.ttl}.Build()
		runEvalCases(t, mustRule(t, v4, tc.rule), []evalCase{
			{name: fmt.Sprintf("ttl %d", tc.ttl), pkt: p, want: tc.want},
		})
	}
	// packet.Spec takes TTL 0 for its default, 64: set it in the bytes.
	b := packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoUDP}.Bytes()
	b[8] = 0
	zero, err := packet.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	runEvalCases(t, mustRule(t, v4, "-m ttl --ttl-eq 0"), []evalCase{{name: "ttl 0", pkt: zero, want: true}})
	runEvalCases(t, mustRule(t, v4, "-m ttl --ttl-lt 1"), []evalCase{{name: "ttl 0", pkt: zero, want: true}})
}
