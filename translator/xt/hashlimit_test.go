package xt_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestHashlimitSave(t *testing.T) {
	v4, v6 := translator.IPv4, translator.IPv6
	const h = "-m hashlimit --hashlimit-name t "
	sfRunSaveCases(t, []sfSaveCase{
		// Inverting one of upto/above gives the other; --hashlimit is the
		// old name of --hashlimit-upto.
		{v4, h + "! --hashlimit-upto 5/sec", "-m hashlimit --hashlimit-above 5/sec --hashlimit-burst 5 --hashlimit-name t"},
		{v4, h + "! --hashlimit-above 5/sec", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name t"},
		{v4, h + "--hashlimit 5", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name t"},
		{v4, h + "--hashlimit-upto 3000/sec", "-m hashlimit --hashlimit-upto 3003/sec --hashlimit-burst 5 --hashlimit-name t"},
		// Modes in a fixed order, "|" or "," between them, empty parts
		// skipped.
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-mode srcip,dstport,srcport,dstip", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-mode srcip,srcport,dstip,dstport --hashlimit-name t"},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-mode dstip|srcip,,", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-mode srcip,dstip --hashlimit-name t"},
		// Masks print when not the whole address.
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-srcmask 255.255.0.0 --hashlimit-dstmask 32", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name t --hashlimit-srcmask 16"},
		{v6, h + "--hashlimit-upto 5/sec --hashlimit-srcmask ffff:ffff:: --hashlimit-dstmask 0", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name t --hashlimit-srcmask 32 --hashlimit-dstmask 0"},
		// The expiry prints when it is not the rate's unit.
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-htable-expire 1000", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name t"},
		{v4, h + "--hashlimit-upto 5/min --hashlimit-htable-expire 1000", "-m hashlimit --hashlimit-upto 5/min --hashlimit-burst 5 --hashlimit-name t --hashlimit-htable-expire 1000"},
		// Burst suffixes multiply packet bursts too.
		{v4, h + "--hashlimit-upto 7/sec --hashlimit-burst 5k", "-m hashlimit --hashlimit-upto 7/sec --hashlimit-burst 5120 --hashlimit-name t"},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-burst 5x", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name t"},
		// Byte rates are kept as a cost per 16-byte chunk: printed in the
		// largest unit that gives the cost back exactly.
		{v4, h + "--hashlimit-upto 100b/s", "-m hashlimit --hashlimit-upto 96b/s --hashlimit-name t"},
		{v4, h + "--hashlimit-upto 1000b/s", "-m hashlimit --hashlimit-upto 992b/s --hashlimit-name t"},
		{v4, h + "--hashlimit-upto 4095mb/s", "-m hashlimit --hashlimit-upto 4095mb/s --hashlimit-name t"},
		{v4, h + "--hashlimit-upto 5000mb/s", "-m hashlimit --hashlimit-upto 5286113568b/s --hashlimit-name t"},
		// A byte burst rounds up to whole rates, and sets the expiry to 60 s.
		{v4, h + "--hashlimit-upto 1kb/s --hashlimit-burst 1500", "-m hashlimit --hashlimit-upto 1kb/s --hashlimit-burst 2kb --hashlimit-name t"},
		{v4, h + "--hashlimit-upto 1kb/s --hashlimit-burst 2k --hashlimit-htable-expire 15000", "-m hashlimit --hashlimit-upto 1kb/s --hashlimit-burst 2kb --hashlimit-name t --hashlimit-htable-expire 15000"},
		{v4, h + "--hashlimit-upto 65536kb/s --hashlimit-burst 4095mb", "-m hashlimit --hashlimit-upto 64mb/s --hashlimit-burst 4100mb --hashlimit-name t"},
		// Rate matching keeps the rate per second and the unit as the
		// interval.
		{v4, h + "--hashlimit-upto 40/min --hashlimit-rate-match", "-m hashlimit --hashlimit-upto 40/sec --hashlimit-burst 5 --hashlimit-name t --hashlimit-htable-expire 60000 --hashlimit-rate-match --hashlimit-rate-interval 60"},
		{v4, h + "--hashlimit-upto 40/min --hashlimit-rate-match --hashlimit-rate-interval 1", "-m hashlimit --hashlimit-upto 40/sec --hashlimit-burst 5 --hashlimit-name t --hashlimit-htable-expire 60000 --hashlimit-rate-match"},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-rate-interval 5x", "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 5 --hashlimit-name t"},
		// The kernel truncates oversized tables.
		{v4, h + "--hashlimit-upto 1/sec --hashlimit-htable-size 4000000 --hashlimit-htable-max 5000000", "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 5 --hashlimit-name t --hashlimit-htable-size 1048576 --hashlimit-htable-max 1048576"},
		{v4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-name " + strings.Repeat("x", 300), "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 5 --hashlimit-name " + strings.Repeat("x", 254)},
	})
}

func TestHashlimitErrors(t *testing.T) {
	v4, v6 := translator.IPv4, translator.IPv6
	const h = "-m hashlimit --hashlimit-name t "
	sfRunErrorCases(t, []sfErrorCase{
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-above 5/sec", `hashlimit: option "--hashlimit-upto" cannot be used together with "--hashlimit-above".`},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit 5/sec", `hashlimit: option "--hashlimit-upto" can only be used once.`},
		{v4, h + "--hashlimit 5/x", `hashlimit: Bad value for "--hashlimit-upto" option: "5/x"`},
		{v4, h + "--hashlimit-above b/s", `hashlimit: Bad value for "--hashlimit-above" option: "b/s"`},
		{v4, h + "--hashlimit-upto 2000000/sec", `Rate too fast "2000000/sec"`},
		// iptables keeps these and prints them as 0b/s, which does not
		// parse back; bpftables refuses them ("g" is no unit: 1 byte).
		{v4, h + "--hashlimit-upto 1gb/s", `Rate too low "1gb/s" (the smallest byte rate is 16b/s)`},
		{v4, h + "--hashlimit-upto 15b/s", `Rate too low "15b/s" (the smallest byte rate is 16b/s)`},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-mode foo", `hashlimit: Bad value for "--hashlimit-mode" option: "foo"`},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-burst 0", `bad value for option "--hashlimit-burst", or out of range (1-1000000).`},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-burst 1m", `bad value for option "--hashlimit-burst", or out of range (1-1000000).`},
		{v4, h + "--hashlimit-upto 1kb/s --hashlimit-burst 1", "burst cannot be smaller than 1024b"},
		{v4, h + "--hashlimit-upto 3mb/s --hashlimit-burst 1m", "burst cannot be smaller than 3145760b"},
		{v4, h + "--hashlimit-upto 1/sec --hashlimit-rate-interval 0", `hashlimit: Bad value for "--hashlimit-rate-interval" option: "0"`},
		{v4, `-m hashlimit --hashlimit-upto 1/sec --hashlimit-name ""`, "Argument must have a minimum length of 1 characters"},
		{v6, h + "--hashlimit-upto 1/sec --hashlimit-srcmask 255.255.0.0", `hashlimit: bad value for option "--hashlimit-srcmask", neither a valid network mask nor valid CIDR (0-128).`},
		// What the kernel refuses.
		{v4, h + "--hashlimit-upto 1/day", "hashlimit: overflow, try lower: 86400000000/5"},
		{v4, h + "--hashlimit-upto 2000000/min --hashlimit-rate-match", "hashlimit: invalid rate"},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-htable-gcinterval 0", "must not be 0"},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-htable-expire 0", "must not be 0"},
		{v4, h + "--hashlimit-upto 5/sec --hashlimit-srcmask 255.0.255.0", "prefix lengths of at most 32"},
		{v6, h + "--hashlimit-upto 5/sec --hashlimit-dstmask ffff:0:ffff::", "prefix lengths of at most 128"},
		{v4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-name ..", `hashlimit: invalid name ".."`},
		{v4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-name a/b", `hashlimit: invalid name "a/b"`},
	}, translator.EmptyObjects{})
}

// Buckets per key of the mode, grouped by the masks, in a table shared by
// the rules of one name.
func TestHashlimitBuckets(t *testing.T) {
	v4 := translator.IPv4
	rules := []*translator.Rule{
		sfRule(t, v4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-srcmask 24 --hashlimit-name a"),
		sfRule(t, v4, "-m hashlimit --hashlimit-above 1/sec --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-srcmask 24 --hashlimit-name a"),
		sfRule(t, v4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 1 --hashlimit-mode dstport --hashlimit-name ports"),
	}
	p := func(src string, dport uint16) packet.Spec { return sfUDP4(src, "10.9.9.9", 1000, dport) }
	sfRunSteps(t, v4, rules, []sfStep{
		{rule: 0, pkt: p("10.0.0.1", 1), want: true},
		{rule: 0, pkt: p("10.0.0.2", 1), want: true}, // same /24
		{rule: 0, pkt: p("10.0.0.3", 1), want: false},
		{rule: 0, pkt: p("10.0.1.1", 1), want: true}, // another /24
		// The rule of the same name counts in the same buckets; above is
		// the inverse of upto.
		{rule: 1, pkt: p("10.0.0.4", 1), want: true},
		{rule: 1, pkt: p("10.0.1.1", 1), want: false},
		{rule: 1, pkt: p("10.0.1.1", 1), want: true},
		{rule: 0, at: time.Second, pkt: p("10.0.1.9", 1), want: true},
		// Port buckets.
		{rule: 2, pkt: p("10.0.0.1", 53), want: true},
		{rule: 2, pkt: p("10.0.0.2", 53), want: false},
		{rule: 2, pkt: p("10.0.0.2", 54), want: true},
	})
}

// Idle entries are freed by the garbage collection, every gc_interval,
// once they have expired; a freed bucket comes back full, while a kept one
// only earns credit for the time gone.
func TestHashlimitExpiry(t *testing.T) {
	v4 := translator.IPv4
	ms := time.Millisecond
	rules := []*translator.Rule{
		sfRule(t, v4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name gc"),
		sfRule(t, v4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name kept --hashlimit-htable-expire 10000"),
	}
	p := sfUDP4("10.0.0.1", "10.9.9.9", 1, 2)
	var steps []sfStep
	for r := range rules {
		for i := 0; i < 4; i++ {
			steps = append(steps, sfStep{rule: r, pkt: p, want: i < 3})
		}
	}
	steps = append(steps,
		// gc ran at 1 s and freed the entry that expired at 1 s.
		sfStep{rule: 0, at: 1500 * ms, pkt: p, want: true},
		sfStep{rule: 0, at: 1500 * ms, pkt: p, want: true},
		sfStep{rule: 0, at: 1500 * ms, pkt: p, want: true},
		sfStep{rule: 0, at: 1500 * ms, pkt: p, want: false},
		// The kept entry has 1.5 packets of credit.
		sfStep{rule: 1, at: 1500 * ms, pkt: p, want: true},
		sfStep{rule: 1, at: 1500 * ms, pkt: p, want: false},
	)
	sfRunSteps(t, v4, rules, steps)
}

// Byte rates cost by 16-byte chunks; the burst is the number of extra
// refills of the bucket.
func TestHashlimitBytes(t *testing.T) {
	v4 := translator.IPv4
	rules := []*translator.Rule{
		sfRule(t, v4, "-m hashlimit --hashlimit-upto 1kb/s --hashlimit-burst 2kb --hashlimit-name b"),
	}
	big := sfUDP4("10.0.0.1", "10.9.9.9", 1, 2)
	big.Payload = make([]byte, 1000-28) // a 1000-byte packet
	steps := []sfStep{
		{rule: 0, pkt: big, want: true},
		{rule: 0, pkt: big, want: true},
		{rule: 0, pkt: big, want: true},
		{rule: 0, pkt: big, want: false},
		{rule: 0, at: time.Second, pkt: big, want: true},
		{rule: 0, at: time.Second, pkt: big, want: false},
	}
	sfRunSteps(t, v4, rules, steps)
}

// With --hashlimit-rate-match the rate is measured over each interval:
// a window over the rate makes the whole next window fail.
func TestHashlimitRateMatch(t *testing.T) {
	v4 := translator.IPv4
	s := time.Second
	rules := []*translator.Rule{
		sfRule(t, v4, "-m hashlimit --hashlimit-upto 2/sec --hashlimit-burst 1 --hashlimit-rate-match --hashlimit-name rm --hashlimit-htable-expire 10000"),
	}
	p := sfUDP4("10.0.0.1", "10.9.9.9", 1, 2)
	sfRunSteps(t, v4, rules, []sfStep{
		// rate 2 plus burst 1 packets in the first window
		{rule: 0, pkt: p, want: true},
		{rule: 0, pkt: p, want: true},
		{rule: 0, pkt: p, want: true},
		{rule: 0, pkt: p, want: false},
		// 4 packets in 1 s were over 2/s: the next second fails.
		{rule: 0, at: 1 * s, pkt: p, want: false},
		{rule: 0, at: 1500 * time.Millisecond, pkt: p, want: false},
		// 2 packets in that second were not over: matches again.
		{rule: 0, at: 2 * s, pkt: p, want: true},
	})
}

// A full table drops packets of new keys.
func TestHashlimitTableFull(t *testing.T) {
	r := sfRule(t, translator.IPv4, "-m hashlimit --hashlimit-upto 1/sec --hashlimit-mode srcip --hashlimit-name full --hashlimit-htable-size 1 --hashlimit-htable-max 1")
	st := translator.NewState()
	for i, tc := range []struct {
		src  string
		drop bool
	}{{"10.0.0.1", false}, {"10.0.0.1", false}, {"10.0.0.2", true}} {
		c := &translator.Context{Packet: sfUDP4(tc.src, "10.9.9.9", 1, 2).Build(), Family: translator.IPv4, Now: sfT0, State: st}
		if _, drop := sfJudge(r, c); drop != tc.drop {
			t.Errorf("packet %d from %s: dropped %v, want %v", i, tc.src, drop, tc.drop)
		}
	}
}

// Port keys come from the 32 bits proto_ports_offset names (an SPI for
// ESP), from the raw bytes even of later fragments; for IPv6 the walk of
// ipv6_skip_exthdr stops at a later fragment's header, which has no ports.
func TestHashlimitPortKeys(t *testing.T) {
	v4, v6 := translator.IPv4, translator.IPv6
	r4 := []*translator.Rule{sfRule(t, v4, "-m hashlimit --hashlimit-upto 1/min --hashlimit-burst 1 --hashlimit-mode srcport,dstport --hashlimit-name p")}
	esp := func(spi byte) packet.Spec {
		return packet.Spec{Src: sfAddr("10.0.0.1"), Dst: sfAddr("10.0.0.2"), Proto: packet.ProtoESP, Payload: []byte{0, 0, 0, spi, 0, 0, 0, 1}}
	}
	frag := func(b byte) packet.Spec {
		return packet.Spec{Src: sfAddr("10.0.0.1"), Dst: sfAddr("10.0.0.2"), Proto: packet.ProtoUDP, FragOffset: 10, Payload: []byte{0, b, 0, b, 9, 9, 9, 9}}
	}
	sfRunSteps(t, v4, r4, []sfStep{
		{pkt: esp(1), want: true},
		{pkt: esp(1), want: false},
		{pkt: esp(2), want: true},
		{pkt: frag(7), want: true},
		{pkt: frag(7), want: false},
		{pkt: frag(8), want: true},
		// ICMP has no ports: every ICMP packet shares the zero key.
		{pkt: packet.Spec{Src: sfAddr("10.0.0.1"), Dst: sfAddr("10.0.0.2"), Proto: packet.ProtoICMP, ICMPType: 8}, want: true},
		{pkt: packet.Spec{Src: sfAddr("10.0.0.3"), Dst: sfAddr("10.0.0.2"), Proto: packet.ProtoICMP, ICMPType: 0}, want: false},
	})
	r6 := []*translator.Rule{sfRule(t, v6, "-m hashlimit --hashlimit-upto 1/min --hashlimit-burst 1 --hashlimit-mode dstport --hashlimit-name p6")}
	udp6 := func(dport uint16, fragOff uint16) packet.Spec {
		return packet.Spec{Src: sfAddr("2001:db8::1"), Dst: sfAddr("2001:db8::2"), Proto: packet.ProtoUDP, DstPort: dport, FragOffset: fragOff, Payload: []byte{0, 1, 0, 2, 0, 3, 0, 4}}
	}
	sfRunSteps(t, v6, r6, []sfStep{
		{pkt: udp6(53, 0), want: true},
		{pkt: udp6(53, 0), want: false},
		{pkt: udp6(0, 0), want: true},
		// A later fragment's key has port 0, the bucket just used.
		{pkt: udp6(0, 5), want: false},
	})
}
