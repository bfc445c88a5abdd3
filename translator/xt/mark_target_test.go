package xt_test

import (
	"slices"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestMarkTargetParseSave(t *testing.T) {
	// What iptables-legacy 1.8.9 prints for each form.
	for _, tc := range []struct{ args, save string }{
		{`-j MARK --set-mark 5`, `-j MARK --set-xmark 0x5/0xffffffff`},
		{`-j MARK --set-mark 5/0xff`, `-j MARK --set-xmark 0x5/0xff`},
		{`-j MARK --set-mark 0x100/0xff`, `-j MARK --set-xmark 0x100/0x1ff`},
		{`-j MARK --and-mark 0xff`, `-j MARK --set-xmark 0x0/0xffffff00`},
		{`-j MARK --or-mark 0x4000`, `-j MARK --set-xmark 0x4000/0x4000`},
		{`-j MARK --xor-mark 1`, `-j MARK --set-xmark 0x1/0x0`},
		{`-j MARK --set-xmark 1/2`, `-j MARK --set-xmark 0x1/0x2`},
	} {
		for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
			r := tgRule(t, f, "mangle", "PREROUTING", tc.args)
			if got := tgSave(r, f); got != tc.save {
				t.Errorf("%s %s: saved as %q, want %q", f, tc.args, got, tc.save)
			}
		}
	}
}

func TestMarkTargetErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{`-j MARK`, `MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required`},
		{`-j MARK --set-mark 1 --or-mark 2`, `MARK: option "--set-mark" cannot be used together with "--or-mark".`},
		{`-j MARK --set-mark 1 --set-mark 2`, `MARK: option "--set-mark" can only be used once.`},
		{`-j MARK --set-xmark 1/`, `MARK: bad integer value for option "--set-xmark", or out of range.`},
		{`-j MARK --set-xmark 1x`, `MARK: trailing garbage after value for option "--set-xmark".`},
		{`-j MARK --and-mark 1/2`, `MARK: bad value for option "--and-mark", or out of range (0-4294967295).`},
	} {
		if got := tgErr(translator.IPv4, "mangle", "PREROUTING", tc.args); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.args, got, tc.want)
		}
	}
	// Since revision 2 the kernel allows MARK in every table.
	for _, table := range []string{"filter", "nat", "mangle", "raw", "security"} {
		if got := tgErr(translator.IPv4, table, "OUTPUT", "-j MARK --set-mark 1"); got != "" {
			t.Errorf("MARK in %s: %s", table, got)
		}
	}
}

func TestMarkTargetApply(t *testing.T) {
	// mark = (mark & ^mask) ^ value
	for _, tc := range []struct {
		rule     string
		mark     uint32
		want     uint32
		wantText string
	}{
		{`-j MARK --set-mark 5`, 0xffff0000, 0x5, "MARK: mark 0xffff0000 -> 0x5"},
		{`-j MARK --set-mark 0x5/0xf`, 0xffff00ff, 0xffff00f5, "MARK: mark 0xffff00ff -> 0xffff00f5"},
		{`-j MARK --and-mark 0xff`, 0x12345678, 0x78, "MARK: mark 0x12345678 -> 0x78"},
		{`-j MARK --or-mark 0x4000`, 0x1, 0x4001, "MARK: mark 0x1 -> 0x4001"},
		{`-j MARK --xor-mark 0x3`, 0x5, 0x6, "MARK: mark 0x5 -> 0x6"},
		{`-j MARK --set-xmark 0x1/0x3`, 0x7, 0x5, "MARK: mark 0x7 -> 0x5"},
		// with the mask 0, --set-xmark is a plain XOR
		{`-j MARK --set-xmark 0xf0/0x0`, 0xff, 0x0f, "MARK: mark 0xff -> 0xf"},
	} {
		for _, fam := range tgFamilies {
			r := tgRule(t, fam.f, "mangle", "PREROUTING", tc.rule)
			p := packet.Spec{Src: fam.src, Dst: fam.dst, Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}.Build()
			p.Mark = tc.mark
			v, c := tgJudge(r, fam.f, "mangle", "PREROUTING", p)
			if v != translator.Continue || p.Mark != tc.want {
				t.Errorf("%s %s on 0x%x: %v, mark 0x%x; want CONTINUE, 0x%x", fam.f, tc.rule, tc.mark, v, p.Mark, tc.want)
			}
			if got := tgEffects(c); !slices.Equal(got, []string{tc.wantText}) {
				t.Errorf("%s %s: effects %q, want %q", fam.f, tc.rule, got, tc.wantText)
			}
		}
	}
}
