package xt_test

import (
	"fmt"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestHLSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: v6, in: "-m hl --hl 5", save: "-m hl --hl-eq 5"},
		{fam: v6, in: "-m hl ! --hl 2", save: "-m hl ! --hl-eq 2"},
		{fam: v6, in: "-m hl --hl-lt 5 --hl-eq 3", err: `hl: option "--hl-lt" cannot be used together with "--hl-eq".`},
		{fam: v6, in: "-m hl --hl-eq 1 --hl 2", err: `hl: option "--hl-eq" can only be used once.`},
		{fam: v6, in: "-m hl ! --hl-gt 5", err: `hl: option "--hl-gt" cannot be inverted.`},
		{fam: v6, in: "-m hl", err: "HL match: You must specify one of `--hl-eq', `--hl-lt', `--hl-gt'"},
	})
}

func TestHLMatch(t *testing.T) {
	cases := []struct {
		rule string
		hl   uint8
		want bool
	}{
		{"-m hl --hl-eq 64", 64, true},
		{"-m hl --hl-eq 64", 63, false},
		{"-m hl ! --hl-eq 64", 64, false},
		{"-m hl ! --hl-eq 64", 255, true},
		{"-m hl --hl-lt 2", 1, true},
		{"-m hl --hl-lt 2", 2, false},
		{"-m hl --hl-gt 2", 3, true},
		{"-m hl --hl-gt 2", 2, false},
	}
	for _, tc := range cases {
		p := packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoUDP, TTL: tc.hl}.Build()
		runEvalCases(t, mustRule(t, v6, tc.rule), []evalCase{
			{name: fmt.Sprintf("hop limit %d", tc.hl), family: v6, pkt: p, want: tc.want},
		})
	}
}
