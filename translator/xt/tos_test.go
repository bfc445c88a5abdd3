package xt_test

import (
	"fmt"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestTOSSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		// a symbolic name compares six bits, a number all eight
		{fam: v4, in: "-m tos --tos minimize-delay", save: "-m tos --tos 0x10/0x3f"},
		{fam: v4, in: "-m tos --tos 16", save: "-m tos --tos 0x10/0xff"},
		{fam: v4, in: "-m tos --tos 0x10/0x1f", save: "-m tos --tos 0x10/0x1f"},
		{fam: v4, in: "-m tos --tos 0x3f/0x00", save: "-m tos --tos 0x3f/0x00"},
		{fam: v6, in: "-m tos ! --tos Normal-Service", save: "-m tos ! --tos 0x00/0x3f"},
		{fam: v4, in: "-m tos --tos 0x10/0x1ff", err: `Illegal value: "0x10/0x1ff"`},
		{fam: v4, in: "-m tos --tos 16x", err: `Illegal value: "16x"`},
		{fam: v4, in: "-m tos --tos Maximize-Cost", err: `Symbolic name "Maximize-Cost" is unknown`},
	})
}

func TestTOSMatch(t *testing.T) {
	tos4 := func(tos uint8) *packet.Packet {
		return packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoUDP, TOS: tos}.Build()
	}
	tos6 := func(tc uint8) *packet.Packet {
		return packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoUDP, TOS: tc}.Build()
	}
	cases := []struct {
		rule string
		tos  uint8
		want bool
	}{
		// A name compares the low six bits (mask 0x3f): the precedence
		// bits above are ignored, the two low bits are not.
		{"-m tos --tos Minimize-Delay", 0x10, true},
		{"-m tos --tos Minimize-Delay", 0x50, true},
		{"-m tos --tos Minimize-Delay", 0xd0, true},
		{"-m tos --tos Minimize-Delay", 0x11, false},
		{"-m tos --tos Minimize-Delay", 0x18, false},
		// a number without mask compares the whole byte
		{"-m tos --tos 0x10", 0x11, false},
		{"-m tos ! --tos 0x10", 0x11, true},
		{"-m tos --tos 0x00/0x00", 0xff, true},
	}
	for _, tc := range cases {
		runEvalCases(t, mustRule(t, v4, tc.rule), []evalCase{
			{name: fmt.Sprintf("tos 0x%02x", tc.tos), pkt: tos4(tc.tos), want: tc.want},
		})
		runEvalCases(t, mustRule(t, v6, tc.rule), []evalCase{
			{name: fmt.Sprintf("traffic class 0x%02x", tc.tos), family: v6, pkt: tos6(tc.tos), want: tc.want},
		})
	}
}
