package xt_test

import (
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestConntrackSave(t *testing.T) {
	for _, tc := range []struct {
		fam        translator.Family
		args, save string
	}{
		// A word is the first state or status it is a prefix of, in
		// libxt_conntrack's order; print_state has its own order.
		{translator.IPv4, "-m conntrack --ctstate e,n,r", "-m conntrack --ctstate NEW,RELATED,ESTABLISHED"},
		{translator.IPv4, "-m conntrack --ctstate s,d,u,i", "-m conntrack --ctstate INVALID,UNTRACKED,SNAT,DNAT"},
		{translator.IPv4, "-m conntrack ! --ctstatus assured,SEEN_REPLY,n", "-m conntrack ! --ctstatus SEEN_REPLY,ASSURED"},
		// Addresses are kept as given, unmasked; a mask that is not a
		// prefix prints as an address.
		{translator.IPv4, "-m conntrack --ctorigsrc 10.1.2.3/8 ! --ctrepldst 10.0.0.9/255.0.255.0",
			"-m conntrack --ctorigsrc 10.1.2.3/8 ! --ctrepldst 10.0.0.9/255.0.255.0"},
		{translator.IPv4, "-m conntrack --ctreplsrc 10.1 --ctorigdst 0/0", "-m conntrack --ctorigdst 0.0.0.0/0 --ctreplsrc 10.0.0.1"},
		{translator.IPv6, "-m conntrack --ctorigsrc 2001:db8::1/64 --ctreplsrc 2001:db8::1/ffff::ffff",
			"-m conntrack --ctorigsrc 2001:db8::1/64 --ctreplsrc 2001:db8::1/ffff::ffff"},
		// Options print in conntrack_dump's order, whatever the input's.
		{translator.IPv4, "-m conntrack --ctdir ORIGINAL --ctexpire 10: --ctorigdstport 80 --ctproto tcp --ctstate NEW",
			"-m conntrack --ctstate NEW --ctproto 6 --ctorigdstport 80 --ctexpire 10:4294967295 --ctdir ORIGINAL"},
		{translator.IPv4, "-m conntrack --ctdir reply ! --ctreplsrcport ssh:http", "-m conntrack ! --ctreplsrcport 22:80 --ctdir REPLY"},
	} {
		r := mustRuleIn(t, tc.fam, "filter", "INPUT", tc.args)
		if got := r.Spec(tc.fam); got != " "+tc.save {
			t.Errorf("%s:\n got %q\nwant %q", tc.args, got, " "+tc.save)
		}
	}
}

func TestConntrackErrors(t *testing.T) {
	for _, tc := range []struct{ args, msg string }{
		{"-m conntrack --ctstate NEW,bogus", `Bad ctstate "bogus"`},
		{"-m conntrack --ctstate NEW,", `Bad ctstate ""`},
		{"-m conntrack --ctstate ,NEW", `Bad ctstate ",NEW"`},
		{"-m conntrack --ctstatus ASSURED,x,NONE", `Bad ctstatus "x,NONE"`},
		{"-m conntrack --ctproto all", "conntrack: rule would never match protocol"},
		{"-m conntrack ! --ctproto 0", "conntrack: condition would always match protocol"},
		{"-m conntrack --ctdir sideways", `conntrack: Bad value for "--ctdir" option: "sideways"`},
		{"-m conntrack ! --ctdir REPLY", `conntrack: option "--ctdir" cannot be inverted.`},
		{"-m conntrack --ctdir REPLY --ctdir ORIGINAL", `conntrack: option "--ctdir" can only be used once.`},
		{"-m conntrack", "conntrack: At least one option is required"},
	} {
		if got := loadError(translator.IPv4, "filter", "INPUT", tc.args, nil); got != tc.msg {
			t.Errorf("%s:\n got %q\nwant %q", tc.args, got, tc.msg)
		}
	}
}

// established is the conntrack entry of a TCP connection from
// 10.0.0.1:40000 to 192.0.2.1:80, seen from its original direction.
var established = packet.Conntrack{
	State:   packet.CTEstablished,
	Status:  1<<1 | 1<<2 | 1<<3, // SEEN_REPLY, ASSURED, CONFIRMED
	Proto:   packet.ProtoTCP,
	Orig:    packet.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.1"), SrcPort: 40000, DstPort: 80},
	Repl:    packet.Tuple{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.0.0.1"), SrcPort: 80, DstPort: 40000},
	Expires: 300,
}

func TestConntrackMatch(t *testing.T) {
	with := func(f func(*packet.Conntrack)) packet.Conntrack {
		ct := established
		f(&ct)
		return ct
	}
	reply := with(func(ct *packet.Conntrack) { ct.Reply = true })
	snat := with(func(ct *packet.Conntrack) { ct.Status |= 1 << 4 })
	untracked := packet.Conntrack{State: packet.CTUntracked}
	invalid := packet.Conntrack{}

	for _, tc := range []struct {
		args string
		ct   packet.Conntrack
		want bool
	}{
		{"--ctstate ESTABLISHED", established, true},
		{"--ctstate NEW,RELATED", established, false},
		{"! --ctstate NEW", established, true},
		{"--ctstate INVALID", invalid, true},
		{"! --ctstate INVALID", invalid, false},
		{"--ctstate UNTRACKED", untracked, true},
		{"--ctstate INVALID", untracked, false},
		// Without a conntrack entry only the state test is made: the
		// match holds exactly when there is one and it held.
		{"--ctproto 6", invalid, false},
		{"! --ctproto 6", invalid, false},
		{"--ctstate INVALID --ctproto 17 --ctorigsrc 1.2.3.4", invalid, true},
		{"--ctstate UNTRACKED ! --ctstatus NONE", untracked, true},
		// SNAT and DNAT come from the entry's NAT status bits.
		{"--ctstate SNAT", snat, true},
		{"--ctstate SNAT", established, false},
		{"--ctstate DNAT,ESTABLISHED", snat, true},
		{"--ctdir ORIGINAL", established, true},
		{"--ctdir ORIGINAL", reply, false},
		{"--ctdir REPLY", reply, true},
		// The mask applies to the rule's address too.
		{"--ctorigsrc 10.9.9.9/8", established, true},
		{"--ctorigsrc 10.0.0.2", established, false},
		{"! --ctorigsrc 10.0.0.2", established, true},
		{"--ctrepldst 10.5.5.1/255.0.0.255", established, true},
		{"--ctreplsrc 192.0.2.0/24 --ctorigdst 192.0.2.1", established, true},
		{"--ctproto tcp --ctorigdstport 80", established, true},
		{"--ctproto udp", established, false},
		{"--ctorigdstport 81:90", established, false},
		{"! --ctorigdstport 81:90", established, true},
		{"--ctreplsrcport 80 --ctrepldstport 40000 --ctorigsrcport 1024:", established, true},
		{"--ctstatus ASSURED,EXPECTED", established, true},
		{"--ctstatus EXPECTED", established, false},
		// NONE is no bit: it never matches, and inverted always does.
		{"--ctstatus NONE", established, false},
		{"! --ctstatus NONE", established, true},
		{"--ctexpire 100:300", established, true},
		{"--ctexpire 301:", established, false},
		{"! --ctexpire 0:299", established, true},
	} {
		r := mustRuleIn(t, translator.IPv4, "filter", "INPUT", "-m conntrack "+tc.args)
		p := tcp4Packet(40000, 80)
		p.CT = tc.ct
		if got, drop := judge(r, translator.IPv4, p); got != tc.want || drop {
			t.Errorf("%s on %+v: got %v (hotdrop %v), want %v", tc.args, tc.ct, got, drop, tc.want)
		}
	}
}

func TestConntrackMatchIPv6(t *testing.T) {
	ct := packet.Conntrack{
		State: packet.CTNew,
		Proto: packet.ProtoUDP,
		Orig:  packet.Tuple{Src: v6a, Dst: v6b, SrcPort: 5000, DstPort: 53},
		Repl:  packet.Tuple{Src: v6b, Dst: v6a, SrcPort: 53, DstPort: 5000},
	}
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"--ctorigsrc 2001:db8::/32", true},
		{"--ctorigsrc 2001:db8::1", true},
		{"--ctorigsrc 2001:db8::2", false},
		{"--ctreplsrc 2001:db8:1::/48 --ctrepldst 2001:db8::1", true},
		// Only the words of the mask that are set count.
		{"--ctorigdst 2001:db8:2::7/ffff:ffff:0:ffff::", true},
		{"--ctorigdst 2001:db9:1::7/ffff:ffff:0:ffff::", false},
	} {
		r := mustRuleIn(t, translator.IPv6, "filter", "INPUT", "-m conntrack "+tc.args)
		p := packet.Spec{Src: v6a, Dst: v6b, Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 53}.Build()
		p.CT = ct
		if got, _ := judge(r, translator.IPv6, p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.args, got, tc.want)
		}
	}
}
