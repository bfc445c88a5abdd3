package xt_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestDSCPTargetParseSave(t *testing.T) {
	// Checked against iptables-legacy 1.8.9: a class name is matched by
	// its beginning, so trailing characters are ignored.
	for _, tc := range []struct{ args, save string }{
		{`-j DSCP --set-dscp 10`, `-j DSCP --set-dscp 0x0a`},
		{`-j DSCP --set-dscp-class af11`, `-j DSCP --set-dscp 0x0a`},
		{`-j DSCP --set-dscp-class AF111x`, `-j DSCP --set-dscp 0x0a`},
		{`-j DSCP --set-dscp-class cs7`, `-j DSCP --set-dscp 0x38`},
		{`-j DSCP --set-dscp-class EFx`, `-j DSCP --set-dscp 0x2e`},
		{`-j DSCP --set-dscp-class AF43`, `-j DSCP --set-dscp 0x26`},
	} {
		for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
			r := tgRule(t, f, "mangle", "POSTROUTING", tc.args)
			if got := tgSave(r, f); got != tc.save {
				t.Errorf("%s %s: saved as %q, want %q", f, tc.args, got, tc.save)
			}
		}
	}
}

func TestDSCPTargetErrors(t *testing.T) {
	for _, tc := range []struct {
		table, args, want string
	}{
		{"mangle", `-j DSCP --set-dscp-class AF1`, "Invalid DSCP value `AF1'"},
		{"mangle", `-j DSCP --set-dscp 64`, `DSCP: bad value for option "--set-dscp", or out of range (0-63).`},
		{"mangle", `-j DSCP --set-dscp-class be --set-dscp-class ef`, `DSCP: option "--set-dscp-class" can only be used once.`},
		{"mangle", `-j DSCP --set-dscp-class be --set-dscp 1`, `DSCP: option "--set-dscp" cannot be used together with "--set-dscp-class".`},
		{"filter", `-j DSCP --set-dscp 1`, `kernel: DSCP target: only valid in mangle table, not filter`},
		{"raw", `-j DSCP --set-dscp 1`, `kernel: DSCP target: only valid in mangle table, not raw`},
	} {
		for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
			if got := tgErr(f, tc.table, "OUTPUT", tc.args); got != tc.want {
				t.Errorf("%s -t %s %s: got %q, want %q", f, tc.table, tc.args, got, tc.want)
			}
		}
	}
}

func TestDSCPTargetApply(t *testing.T) {
	for _, tc := range []struct {
		rule    string
		tos     uint8
		wantTOS uint8
		effects []string
	}{
		{`-j DSCP --set-dscp-class EF`, 0x00, 0xb8, []string{"DSCP: dscp 0x00 -> 0x2e"}},
		// the ECN bits stay
		{`-j DSCP --set-dscp-class EF`, 0x03, 0xbb, []string{"DSCP: dscp 0x00 -> 0x2e"}},
		{`-j DSCP --set-dscp 0`, 0xb9, 0x01, []string{"DSCP: dscp 0x2e -> 0x00"}},
		// already right: the packet is not touched
		{`-j DSCP --set-dscp 0x0a`, 0x2a, 0x2a, nil},
	} {
		for _, fam := range tgFamilies {
			r := tgRule(t, fam.f, "mangle", "FORWARD", tc.rule)
			s := packet.Spec{Src: fam.src, Dst: fam.dst, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2, TOS: tc.tos, Payload: []byte("x")}
			p := s.Build()
			buf := p.Data
			v, c := tgJudge(r, fam.f, "mangle", "FORWARD", p)
			if v != translator.Continue || p.TOS != tc.wantTOS {
				t.Errorf("%s %s on TOS 0x%02x: %v, TOS 0x%02x; want CONTINUE, 0x%02x", fam.f, tc.rule, tc.tos, v, p.TOS, tc.wantTOS)
			}
			if got := tgEffects(c); !slices.Equal(got, tc.effects) {
				t.Errorf("%s %s: effects %q, want %q", fam.f, tc.rule, got, tc.effects)
			}
			// The bytes are the packet built with the new TOS, checksums
			// included, and the caller's buffer is left alone.
			want := s
			want.TOS = tc.wantTOS
			if !bytes.Equal(p.Data, want.Bytes()) {
				t.Errorf("%s %s: bytes\n%x\nwant\n%x", fam.f, tc.rule, p.Data, want.Bytes())
			}
			if !bytes.Equal(buf, s.Bytes()) {
				t.Errorf("%s %s: the original bytes changed", fam.f, tc.rule)
			}
		}
	}
}
