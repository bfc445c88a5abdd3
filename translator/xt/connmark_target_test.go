package xt_test

import (
	"slices"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestConnmarkTargetParseSave(t *testing.T) {
	// What iptables-legacy 1.8.9 prints (CONNMARK revision 2).
	for _, tc := range []struct{ args, save string }{
		{`-j CONNMARK --set-mark 5`, `-j CONNMARK --set-xmark 0x5/0xffffffff`},
		{`-j CONNMARK --set-mark 5/0xff`, `-j CONNMARK --set-xmark 0x5/0xff`},
		{`-j CONNMARK --and-mark 0xff`, `-j CONNMARK --set-xmark 0x0/0xffffff00`},
		{`-j CONNMARK --or-mark 4`, `-j CONNMARK --set-xmark 0x4/0x4`},
		{`-j CONNMARK --xor-mark 4`, `-j CONNMARK --set-xmark 0x4/0x0`},
		{`-j CONNMARK --set-xmark 1/2`, `-j CONNMARK --set-xmark 0x1/0x2`},
		{`-j CONNMARK --save-mark --mask 0xff`, `-j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff`},
		{`-j CONNMARK --restore-mark --nfmask 1 --ctmask 2`, `-j CONNMARK --restore-mark --nfmask 0x1 --ctmask 0x2`},
		{`-j CONNMARK --save-mark --left-shift-mark 3`, `-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff --left-shift-mark 3`},
		{`-j CONNMARK --restore-mark --right-shift-mark 31`, `-j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff --right-shift-mark 31`},
		{`-j CONNMARK --save-mark --right-shift-mark 0`, `-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff`},
		// the later shift wins
		{`-j CONNMARK --set-mark 1 --left-shift-mark 4 --right-shift-mark 2`, `-j CONNMARK --set-xmark 0x1/0xffffffff --right-shift-mark 2`},
		// --mask and --ctmask override the mask of --set-mark; the order counts
		{`-j CONNMARK --set-mark 1 --mask 7`, `-j CONNMARK --set-xmark 0x1/0x7`},
		{`-j CONNMARK --set-mark 1 --ctmask 7`, `-j CONNMARK --set-xmark 0x1/0x7`},
		{`-j CONNMARK --ctmask 7 --set-mark 1`, `-j CONNMARK --set-xmark 0x1/0xffffffff`},
	} {
		for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
			r := tgRule(t, f, "mangle", "PREROUTING", tc.args)
			if got := tgSave(r, f); got != tc.save {
				t.Errorf("%s %s: saved as %q, want %q", f, tc.args, got, tc.save)
			}
		}
	}
}

func TestConnmarkTargetErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{`-j CONNMARK --mask 5`, `CONNMARK target: No operation specified`},
		{`-j CONNMARK --left-shift-mark 3`, `CONNMARK target: No operation specified`},
		{`-j CONNMARK --save-mark --mask 1 --nfmask 2`, `CONNMARK: option "--nfmask" cannot be used together with "--mask".`},
		{`-j CONNMARK --save-mark --restore-mark`, `CONNMARK: option "--save-mark" cannot be used together with "--restore-mark".`},
		{`-j CONNMARK --save-mark --mask 3 --save-mark`, `CONNMARK: option "--save-mark" can only be used once.`},
		{`-j CONNMARK --set-mark 1 --right-shift-mark 33`, `CONNMARK: bad value for option "--right-shift-mark", or out of range (0-32).`},
		// iptables takes 32, the kernel (6.18) refuses it
		{`-j CONNMARK --restore-mark --right-shift-mark 32`, `kernel: CONNMARK target: shift of 32 bits out of range (0-31)`},
	} {
		if got := tgErr(translator.IPv4, "mangle", "PREROUTING", tc.args); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.args, got, tc.want)
		}
	}
	for _, table := range []string{"filter", "nat", "mangle", "raw", "security"} {
		if got := tgErr(translator.IPv6, table, "OUTPUT", "-j CONNMARK --save-mark"); got != "" {
			t.Errorf("CONNMARK in %s: %s", table, got)
		}
	}
}

func TestConnmarkTargetApply(t *testing.T) {
	for _, tc := range []struct {
		rule             string
		state            packet.CTState
		mark, ctmark     uint32
		wantMark, wantCT uint32
		wantEffects      []string
	}{
		{`-j CONNMARK --set-mark 5`, packet.CTNew, 1, 0xff00, 1, 5, []string{"CONNMARK: ctmark 0xff00 -> 0x5"}},
		{`-j CONNMARK --or-mark 0x10`, packet.CTEstablished, 1, 0x1, 1, 0x11, []string{"CONNMARK: ctmark 0x1 -> 0x11"}},
		{`-j CONNMARK --set-mark 1 --left-shift-mark 4`, packet.CTEstablished, 0, 0xf0, 0, 0x10, []string{"CONNMARK: ctmark 0xf0 -> 0x10"}},
		{`-j CONNMARK --save-mark`, packet.CTRelated, 0x42, 0x7, 0x42, 0x42, []string{"CONNMARK: ctmark 0x7 -> 0x42"}},
		{`-j CONNMARK --save-mark --nfmask 0xf --ctmask 0xff`, packet.CTNew, 0x1234, 0xabcd, 0x1234, 0xab04, []string{"CONNMARK: ctmark 0xabcd -> 0xab04"}},
		{`-j CONNMARK --save-mark --nfmask 0xff00 --ctmask 0xff --right-shift-mark 8`, packet.CTNew, 0x1200, 0xffff, 0x1200, 0xff12, []string{"CONNMARK: ctmark 0xffff -> 0xff12"}},
		{`-j CONNMARK --restore-mark`, packet.CTEstablished, 0x1, 0x99, 0x99, 0x99, []string{"CONNMARK: mark 0x1 -> 0x99"}},
		{`-j CONNMARK --restore-mark --ctmask 0xff00 --nfmask 0xff --right-shift-mark 8`, packet.CTEstablished, 0x1111, 0xab00, 0x11ab, 0xab00, []string{"CONNMARK: mark 0x1111 -> 0x11ab"}},
		// no connection: nothing changes
		{`-j CONNMARK --restore-mark`, packet.CTInvalid, 0x1, 0x99, 0x1, 0x99, nil},
		{`-j CONNMARK --set-mark 5`, packet.CTUntracked, 0x1, 0x99, 0x1, 0x99, nil},
		{`-j CONNMARK --save-mark`, 0, 0x1, 0x99, 0x1, 0x99, nil},
	} {
		for _, fam := range tgFamilies {
			r := tgRule(t, fam.f, "mangle", "PREROUTING", tc.rule)
			p := packet.Spec{Src: fam.src, Dst: fam.dst, Proto: packet.ProtoTCP, SrcPort: 1, DstPort: 2}.Build()
			p.Mark, p.CT.State, p.CT.Mark = tc.mark, tc.state, tc.ctmark
			v, c := tgJudge(r, fam.f, "mangle", "PREROUTING", p)
			if v != translator.Continue || p.Mark != tc.wantMark || p.CT.Mark != tc.wantCT {
				t.Errorf("%s %s (mark 0x%x, ctmark 0x%x): %v, mark 0x%x, ctmark 0x%x; want CONTINUE, 0x%x, 0x%x",
					fam.f, tc.rule, tc.mark, tc.ctmark, v, p.Mark, p.CT.Mark, tc.wantMark, tc.wantCT)
			}
			if got := tgEffects(c); !slices.Equal(got, tc.wantEffects) {
				t.Errorf("%s %s: effects %q, want %q", fam.f, tc.rule, got, tc.wantEffects)
			}
		}
	}
}
