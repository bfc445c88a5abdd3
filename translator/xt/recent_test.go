package xt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestRecentSave(t *testing.T) {
	v4, v6 := translator.IPv4, translator.IPv6
	long := strings.Repeat("y", 250)
	sfRunSaveCases(t, []sfSaveCase{
		{v4, "-m recent ! --set", "-m recent ! --set --name DEFAULT --mask 255.255.255.255 --rsource"},
		{v4, "-m recent --rcheck --seconds 10 --reap", "-m recent --rcheck --seconds 10 --reap --name DEFAULT --mask 255.255.255.255 --rsource"},
		{v4, "-m recent --set --rdest --rsource", "-m recent --set --name DEFAULT --mask 255.255.255.255 --rsource"},
		{v4, "-m recent --set --rsource --rdest", "-m recent --set --name DEFAULT --mask 255.255.255.255 --rdest"},
		// The mask is an address, in inet_aton's forms.
		{v4, "-m recent --set --mask 10.1", "-m recent --set --name DEFAULT --mask 10.0.0.1 --rsource"},
		{v4, "-m recent --set --mask 255.0.255.0", "-m recent --set --name DEFAULT --mask 255.0.255.0 --rsource"},
		// 1.8.13 prints the seconds unsigned.
		{v4, "-m recent --rcheck --seconds 4294967295", "-m recent --rcheck --seconds 4294967295 --name DEFAULT --mask 255.255.255.255 --rsource"},
		// The name is cut to 199 characters.
		{v4, "-m recent --set --name " + long, "-m recent --set --name " + long[:199] + " --mask 255.255.255.255 --rsource"},
		{v6, "-m recent --rcheck --mask ffff:ffff:: --name v6", "-m recent --rcheck --name v6 --mask ffff:ffff:: --rsource"},
		// inet_ntop's dotted tail for IPv4-compatible addresses.
		{v6, "-m recent --rcheck --mask ::1.2.3.4", "-m recent --rcheck --name DEFAULT --mask ::1.2.3.4 --rsource"},
		{v6, "-m recent --rcheck --mask ::ffff:1.2.3.4", "-m recent --rcheck --name DEFAULT --mask ::ffff:1.2.3.4 --rsource"},
		{v6, "-m recent --rcheck --mask ::1", "-m recent --rcheck --name DEFAULT --mask ::1 --rsource"},
	})
}

func TestRecentErrors(t *testing.T) {
	v4 := translator.IPv4
	sfRunErrorCases(t, []sfErrorCase{
		{v4, "-m recent --set --rcheck", `recent: option "--set" cannot be used together with "--rcheck".`},
		{v4, "-m recent --rcheck --reap", `recent: option "--reap" also requires "--seconds".`},
		{v4, "-m recent --remove --rttl", `recent: option "--rttl" cannot be used together with "--remove".`},
		{v4, "-m recent --rcheck --seconds 0", `recent: bad value for option "--seconds", or out of range (1-4294967295).`},
		{v4, "-m recent --rttl", "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'"},
		// What the kernel refuses.
		{v4, "-m recent --set --seconds 5", "go only with --rcheck and --update"},
		{v4, "-m recent --set --hitcount 5", "go only with --rcheck and --update"},
		{v4, "-m recent --remove --reap --seconds 4", "go only with --rcheck and --update"},
		{v4, "-m recent --rcheck --hitcount 65536", "hitcount (65536) is larger than allowed maximum (65535)"},
		{v4, "-m recent --set --name .", `recent: invalid name "."`},
		{v4, "-m recent --set --name ..", `recent: invalid name ".."`},
		{v4, "-m recent --set --name a/b", `recent: invalid name "a/b"`},
		{v4, `-m recent --set --name ""`, `recent: invalid name ""`},
	}, translator.EmptyObjects{})
}

// Rules of one name share a list: a port knock style sequence.
func TestRecentSharedList(t *testing.T) {
	v4 := translator.IPv4
	a := sfUDP4("10.0.0.1", "10.0.0.9", 1000, 22)
	b := sfUDP4("10.0.0.2", "10.0.0.9", 1000, 22)
	s := time.Second
	rules := []*translator.Rule{
		sfRule(t, v4, "-m recent --set --name ssh"),
		sfRule(t, v4, "-m recent --rcheck --seconds 60 --hitcount 3 --name ssh"),
		sfRule(t, v4, "-m recent --rcheck --name other"),
		sfRule(t, v4, "-m recent --remove --name ssh"),
	}
	sfRunSteps(t, v4, rules, []sfStep{
		{rule: 1, at: 0, pkt: a, want: false},
		{rule: 0, at: 0, pkt: a, want: true},
		{rule: 0, at: 10 * s, pkt: a, want: true},
		{rule: 1, at: 10 * s, pkt: a, want: false},
		{rule: 0, at: 20 * s, pkt: a, want: true},
		{rule: 1, at: 20 * s, pkt: a, want: true},
		// Each address has its own entry, each name its own list.
		{rule: 1, at: 20 * s, pkt: b, want: false},
		{rule: 2, at: 20 * s, pkt: a, want: false},
		// The stamp of 0 s leaves the window at 60 s plus a jiffy.
		{rule: 1, at: 60 * s, pkt: a, want: true},
		{rule: 1, at: 60*s + 4*time.Millisecond, pkt: a, want: false},
		{rule: 3, at: 61 * s, pkt: a, want: true},
		{rule: 3, at: 61 * s, pkt: a, want: false},
		{rule: 1, at: 61 * s, pkt: a, want: false},
	})
}

// --update refreshes the entry only when it matches, after inversion.
func TestRecentUpdate(t *testing.T) {
	v4 := translator.IPv4
	a := sfUDP4("10.0.0.1", "10.0.0.9", 1000, 22)
	s := time.Second
	rules := []*translator.Rule{
		sfRule(t, v4, "-m recent --set"),
		sfRule(t, v4, "-m recent --update --seconds 10"),
		sfRule(t, v4, "-m recent ! --update --seconds 10 --name inv"),
		sfRule(t, v4, "-m recent --set --name inv"),
	}
	sfRunSteps(t, v4, rules, []sfStep{
		{rule: 0, at: 0, pkt: a, want: true},
		// Seen 8 s ago: a match, which moves the last sighting to 8 s.
		{rule: 1, at: 8 * s, pkt: a, want: true},
		{rule: 1, at: 17 * s, pkt: a, want: true},
		// 13 s after the last update: no match, no refresh.
		{rule: 1, at: 30 * s, pkt: a, want: false},
		{rule: 1, at: 31 * s, pkt: a, want: false},
		// Inverted: the refresh happens when the inverted result is true.
		{rule: 3, at: 0, pkt: a, want: true},
		{rule: 2, at: 20 * s, pkt: a, want: true},
		{rule: 2, at: 25 * s, pkt: a, want: false},
	})
}

// With --rttl the TTL must be the one remembered; the kernel adds one to
// the TTL of forwarded packets, as they were before the router.
func TestRecentTTL(t *testing.T) {
	v4 := translator.IPv4
	ttl := func(n uint8) packet.Spec {
		p := sfUDP4("10.0.0.1", "10.0.0.9", 1000, 22)
		p.TTL = n
		return p
	}
	rules := []*translator.Rule{
		sfRule(t, v4, "-m recent --set"),
		sfRule(t, v4, "-m recent --rcheck --rttl"),
		sfRule(t, v4, "-m recent --rcheck"),
	}
	sfRunSteps(t, v4, rules, []sfStep{
		{rule: 0, pkt: ttl(64), hook: translator.Forward, want: true},
		{rule: 1, pkt: ttl(63), want: false},
		{rule: 2, pkt: ttl(63), want: true},
		{rule: 1, pkt: ttl(65), want: true},
		{rule: 1, pkt: ttl(64), hook: translator.Forward, want: true},
	})
}

// The list applies the mask of the rule that created it.
func TestRecentMaskAndDest(t *testing.T) {
	v4, v6 := translator.IPv4, translator.IPv6
	rules := []*translator.Rule{
		sfRule(t, v4, "-m recent --set --mask 255.255.255.0 --rdest"),
		sfRule(t, v4, "-m recent --rcheck --rdest"),
		sfRule(t, v4, "-m recent --rcheck"),
	}
	sfRunSteps(t, v4, rules, []sfStep{
		{rule: 0, pkt: sfUDP4("10.0.0.1", "192.168.1.7", 1, 2), want: true},
		{rule: 1, pkt: sfUDP4("10.0.0.1", "192.168.1.200", 1, 2), want: true},
		{rule: 1, pkt: sfUDP4("10.0.0.1", "192.168.2.7", 1, 2), want: false},
		{rule: 2, pkt: sfUDP4("192.168.1.9", "10.0.0.1", 1, 2), want: true},
	})
	six := func(src string) packet.Spec {
		return packet.Spec{Src: sfAddr(src), Dst: sfAddr("2001:db8::1"), Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}
	}
	rules6 := []*translator.Rule{
		sfRule(t, v6, "-m recent --set --mask ffff:ffff:ffff:ffff::"),
		sfRule(t, v6, "-m recent --rcheck"),
	}
	sfRunSteps(t, v6, rules6, []sfStep{
		{rule: 0, pkt: six("2001:db8:0:1::5"), want: true},
		{rule: 1, pkt: six("2001:db8:0:1::77"), want: true},
		{rule: 1, pkt: six("2001:db8:0:2::5"), want: false},
	})
}

// A list holds 100 addresses; a new one evicts the least recently used.
// --reap drops the least recently used address when it is stale.
func TestRecentEvictionAndReap(t *testing.T) {
	v4 := translator.IPv4
	s := time.Second
	from := func(i int) packet.Spec { return sfUDP4(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), "10.9.9.9", 1, 2) }
	set := sfRule(t, v4, "-m recent --set")
	check := sfRule(t, v4, "-m recent --rcheck")
	reap := sfRule(t, v4, "-m recent --rcheck --seconds 5 --reap")
	rules := []*translator.Rule{set, check, reap}
	var steps []sfStep
	for i := 0; i < 100; i++ {
		steps = append(steps, sfStep{rule: 0, pkt: from(i), want: true})
	}
	steps = append(steps,
		sfStep{rule: 0, pkt: from(0), want: true}, // 0 is now the most recent
		sfStep{rule: 0, pkt: from(100), want: true},
		sfStep{rule: 1, pkt: from(1), want: false}, // evicted
		sfStep{rule: 1, pkt: from(0), want: true},
		sfStep{rule: 1, pkt: from(2), want: true},
		// Ten seconds on: a check of any address reaps the oldest.
		sfStep{rule: 2, at: 10 * s, pkt: from(50), want: false},
		sfStep{rule: 1, at: 10 * s, pkt: from(2), want: false},
		sfStep{rule: 1, at: 10 * s, pkt: from(3), want: true},
	)
	sfRunSteps(t, v4, rules, steps)
}

// A hit count above the kernel's default of 32 remembered packets works,
// as the kernel sizes the list for the largest hit count of its rules.
func TestRecentLargeHitCount(t *testing.T) {
	v4 := translator.IPv4
	a := sfUDP4("10.0.0.1", "10.0.0.9", 1000, 22)
	rules := []*translator.Rule{
		sfRule(t, v4, "-m recent --set"),
		sfRule(t, v4, "-m recent --rcheck --hitcount 40"),
	}
	var steps []sfStep
	for i := 0; i < 40; i++ {
		steps = append(steps, sfStep{rule: 1, pkt: a, want: false}, sfStep{rule: 0, pkt: a, want: true})
	}
	steps = append(steps, sfStep{rule: 1, pkt: a, want: true})
	sfRunSteps(t, v4, rules, steps)
}
