package xt_test

import (
	"fmt"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestDSCPSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: v4, in: "-m dscp --dscp 10", save: "-m dscp --dscp 0x0a"},
		{fam: v4, in: "-m dscp ! --dscp 0", save: "-m dscp ! --dscp 0x00"},
		{fam: v4, in: "-m dscp ! --dscp-class af11", save: "-m dscp ! --dscp 0x0a"},
		// a class name need only begin the argument
		{fam: v4, in: "-m dscp --dscp-class AF11xyz", save: "-m dscp --dscp 0x0a"},
		{fam: v6, in: "-m dscp --dscp-class cs7", save: "-m dscp --dscp 0x38"},
		{fam: v4, in: "-m dscp --dscp-class AF1", err: "Invalid DSCP value `AF1'"},
		{fam: v4, in: `-m dscp --dscp-class ""`, err: "Invalid DSCP value `'"},
		{fam: v4, in: "-m dscp --dscp-class CS0 --dscp 3", err: `dscp: option "--dscp" cannot be used together with "--dscp-class".`},
		{fam: v4, in: "-m dscp --dscp 64", err: `dscp: bad value for option "--dscp", or out of range (0-63).`},
		{fam: v4, in: "-m dscp --dscp-class EF --dscp-class CS1", err: `dscp: option "--dscp-class" can only be used once.`},
	})
}

func TestDSCPMatch(t *testing.T) {
	cases := []struct {
		rule string
		tos  uint8
		want bool
	}{
		{"-m dscp --dscp-class EF", 0xb8, true},
		// the two ECN bits are not part of the codepoint
		{"-m dscp --dscp-class EF", 0xbb, true},
		{"-m dscp --dscp-class EF", 0xb4, false},
		{"-m dscp ! --dscp 0", 0x03, false},
		{"-m dscp ! --dscp 0", 0x04, true},
		{"-m dscp --dscp 0x3f", 0xfc, true},
	}
	for _, tc := range cases {
		p4 := packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoUDP, TOS: tc.tos}.Build()
		p6 := packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoUDP, TOS: tc.tos}.Build()
		runEvalCases(t, mustRule(t, v4, tc.rule), []evalCase{
			{name: fmt.Sprintf("tos 0x%02x", tc.tos), pkt: p4, want: tc.want},
		})
		runEvalCases(t, mustRule(t, v6, tc.rule), []evalCase{
			{name: fmt.Sprintf("traffic class 0x%02x", tc.tos), family: v6, pkt: p6, want: tc.want},
		})
	}
}
