package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestSocketCheck(t *testing.T) {
	for _, tc := range []struct {
		table, chain string
		ok           bool
	}{
		{"mangle", "PREROUTING", true},
		{"mangle", "INPUT", true},
		// Any table will do: only the hooks are restricted.
		{"filter", "INPUT", true},
		{"nat", "PREROUTING", true},
		{"filter", "OUTPUT", false},
		{"mangle", "FORWARD", false},
		{"mangle", "POSTROUTING", false},
	} {
		msg := loadError(translator.IPv4, tc.table, tc.chain, "-m socket --transparent", nil)
		if (msg == "") != tc.ok {
			t.Errorf("%s %s: error %q, want ok=%v", tc.table, tc.chain, msg, tc.ok)
		}
	}
	if msg := loadError(translator.IPv4, "mangle", "INPUT", "-m socket ! --nowildcard", nil); msg != `socket: option "--nowildcard" cannot be inverted.` {
		t.Errorf("inverted --nowildcard: %q", msg)
	}
}

func TestSocketMatch(t *testing.T) {
	bound := &packet.Socket{Mark: 7}
	wildcard := &packet.Socket{Wildcard: true, Mark: 7}
	transparent := &packet.Socket{Transparent: true, Mark: 7}
	transparentAny := &packet.Socket{Transparent: true, Wildcard: true, Mark: 7}
	for _, tc := range []struct {
		args string
		sock *packet.Socket
		want bool
		mark uint32 // the packet's mark afterwards; it starts as 1
	}{
		{"", nil, false, 1},
		{"", bound, true, 1},
		// A socket bound to the wildcard address does not count, unless
		// --nowildcard.
		{"", wildcard, false, 1},
		{"--nowildcard", wildcard, true, 1},
		{"--transparent", bound, false, 1},
		{"--transparent", transparent, true, 1},
		{"--transparent", transparentAny, false, 1},
		{"--transparent --nowildcard", transparentAny, true, 1},
		// The mark is taken only from a socket that counts.
		{"--restore-skmark", bound, true, 7},
		{"--restore-skmark", wildcard, false, 1},
		{"--restore-skmark --transparent", bound, false, 1},
		{"--restore-skmark --nowildcard --transparent", transparentAny, true, 7},
	} {
		r := mustRuleIn(t, translator.IPv4, "mangle", "PREROUTING", "-m socket "+tc.args)
		p := tcp4Packet(1, 2)
		p.Sock, p.Mark = tc.sock, 1
		if got, _ := judge(r, translator.IPv4, p); got != tc.want || p.Mark != tc.mark {
			t.Errorf("%q on %+v: got %v mark %d, want %v mark %d", tc.args, tc.sock, got, p.Mark, tc.want, tc.mark)
		}
	}
}
