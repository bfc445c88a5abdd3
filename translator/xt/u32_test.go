package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestU32Parse(t *testing.T) {
	for _, tc := range []struct{ args, save, msg string }{
		// Every number prints in hex, without the spaces.
		{args: `-m u32 --u32 "0>>22&0x3C@12>>26&0x3C@0=0x10:0x20,5 && 6&0xff=6"`,
			save: `-m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x1a&0x3c@0x0=0x10:0x20,0x5&&0x6&0xff=0x6"`},
		{args: `-m u32 ! --u32 " 1 << 2 = 3 : 4 "`, save: `-m u32 ! --u32 "0x1<<0x2=0x3:0x4"`},
		{args: `-m u32 --u32 "0=5:3"`, save: `-m u32 --u32 "0x0=0x5:0x3"`},
		// The messages count characters from 0.
		{args: `-m u32 --u32 ""`, msg: "u32: abrupt end of input after location specifier"},
		{args: `-m u32 --u32 "=1"`, msg: "u32: at char 0: location spec missing"},
		{args: `-m u32 --u32 "0="`, msg: "u32: test ended with no value specified"},
		{args: `-m u32 --u32 "0=1&"`, msg: "u32: at char 4: a second '&' was expected"},
		{args: `-m u32 --u32 "0=&&1=1"`, msg: "u32: at char 3: value spec missing"},
		{args: `-m u32 --u32 "0<1=1"`, msg: "u32: at char 2: a second '<' was expected"},
		{args: `-m u32 --u32 "0+1=1"`, msg: "u32: at char 1: operator expected"},
		{args: `-m u32 --u32 "0=1;2"`, msg: `u32: at char 3: expected "," or "&&"`},
		{args: `-m u32 --u32 "0=0x100000000"`, msg: "u32: at char 2: not a number or out of range"},
		{args: `-m u32 --u32 "0 = - 1"`, msg: "u32: at char 4: not a number or out of range"},
		{args: `-m u32 --u32 "0&1&2&3&4&5&6&7&8&9&10=1"`, msg: "u32: at char 22: too many operators"},
		{args: `-m u32 --u32 "0=1,2,3,4,5,6,7,8,9,10,11"`, msg: `u32: at char 25: too many ","s`},
		{args: `-m u32 --u32 "0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1"`, msg: `u32: at char 53: too many "&&"s`},
		{args: `-m u32 --u32 "0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1&&0=1"`, msg: `u32: at char 54: too many "&&"s`},
		// The kernel refuses shifts of 32 bits or more.
		{args: `-m u32 --u32 "0<<31=1"`, save: `-m u32 --u32 "0x0<<0x1f=0x1"`},
		{args: `-m u32 --u32 "0>>32=1"`, msg: "u32 match: shift by 32 is out of range (0-31)"},
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

func TestU32Match(t *testing.T) {
	// A 40-byte TCP/IPv4 packet: 20 bytes of IP header, 20 of TCP.
	syn := tcp4Packet(1234, 80)
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"0>>28=4", true},
		{"6&0xFF=6", true},
		{"6&0xFF=17", false},
		{"6&0xFF=1,17,6", true},
		// The destination port, reached through the header length.
		{"0>>22&0x3C@0&0xFFFF=80", true},
		{"0>>22&0x3C@0>>16=1234", true},
		{"0>>22&0x3C@0>>16=1235:0xffff", false},
		// Every test must hold.
		{"0>>28=4&&6&0xFF=17", false},
		// A reversed range holds nothing.
		{"6&0xFF=7:5", false},
		// The last word that fits starts 4 bytes before the end; reading
		// beyond fails the whole match.
		{"36=0:0xffffffff", true},
		{"37=0:0xffffffff", false},
		{"0>>22&0x3C@16=0:0xffffffff", true},
		{"0>>22&0x3C@17=0:0xffffffff", false},
		// An offset that wraps around fails too.
		{"0@0xfffffff0=0:0xffffffff", false},
		{"0x20@0xffffffff=0:0xffffffff", false},
	} {
		r := mustRuleIn(t, translator.IPv4, "filter", "INPUT", `-m u32 --u32 "`+tc.expr+`"`)
		if got, drop := judge(r, translator.IPv4, syn); got != tc.want || drop {
			t.Errorf("%s: got %v (hotdrop %v), want %v", tc.expr, got, drop, tc.want)
		}
		r = mustRuleIn(t, translator.IPv4, "filter", "INPUT", `-m u32 ! --u32 "`+tc.expr+`"`)
		if got, _ := judge(r, translator.IPv4, syn); got == tc.want {
			t.Errorf("! %s: got %v, want %v", tc.expr, got, !tc.want)
		}
	}
}

func TestU32MatchOverflow(t *testing.T) {
	// The payload leads from offset 28 to 32, where the next step is
	// 0xfffffffc: adding it to the base wraps around to 28, which the
	// kernel refuses instead of reading there (verified on Linux 6.18).
	p := udp4Packet("\x00\x00\x00\x20\xff\xff\xff\xfc")
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"4&0@28@0=0:0xffffffff", true},
		{"4&0@28@0@0=0:0xffffffff", false},
	} {
		r := mustRuleIn(t, translator.IPv4, "filter", "INPUT", `-m u32 --u32 "`+tc.expr+`"`)
		if got, _ := judge(r, translator.IPv4, p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestU32MatchIPv6(t *testing.T) {
	// The words are read from the IPv6 header on: version 6, next header
	// at byte 6, the UDP header at 40.
	p := packet.Spec{Src: v6a, Dst: v6b, Proto: packet.ProtoUDP, SrcPort: 5353, DstPort: 53}.Build()
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"0>>28=6", true},
		{"4>>8&0xFF=17", true},
		{"40&0xFFFF=53", true},
		{"40>>16=5353", true},
		{"44=0:0xffffffff", true},
		{"45=0:0xffffffff", false},
	} {
		r := mustRuleIn(t, translator.IPv6, "filter", "INPUT", `-m u32 --u32 "`+tc.expr+`"`)
		if got, _ := judge(r, translator.IPv6, p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.expr, got, tc.want)
		}
	}
}
