package xt_test

import (
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestOwnerParse(t *testing.T) {
	for _, tc := range []struct{ args, save, msg string }{
		// Names are looked up in /etc/passwd and /etc/group; ids print
		// as numbers, ranges as min-max whichever separator was given.
		{args: "-m owner --uid-owner root ! --gid-owner root", save: "-m owner --uid-owner 0 ! --gid-owner 0"},
		{args: "-m owner --uid-owner 5:10 --gid-owner 0x10", save: "-m owner --uid-owner 5-10 --gid-owner 16"},
		{args: "-m owner --gid-owner 3 --suppl-groups ! --socket-exists --uid-owner 4294967294",
			save: "-m owner ! --socket-exists --uid-owner 4294967294 --gid-owner 3 --suppl-groups"},
		// (uid_t)-1 is no user.
		{args: "-m owner --uid-owner 4294967295", msg: `owner: Bad value for "--uid-owner" option: "4294967295"`},
		{args: "-m owner --uid-owner no-such-user-here", msg: `owner: Bad value for "--uid-owner" option: "no-such-user-here"`},
		{args: "-m owner --gid-owner 1-", msg: `owner: Bad value for "--gid-owner" option: "1-"`},
		{args: "-m owner --suppl-groups --gid-owner 1", msg: `owner: Bad value for "--suppl-groups" option: "you need to use --gid-owner first"`},
		{args: "-m owner --uid-owner 1 --uid-owner 2", msg: `owner: option "--uid-owner" can only be used once.`},
		{args: "-m owner", msg: "owner: At least one of --uid-owner, --gid-owner or --socket-exists is required"},
	} {
		if tc.msg != "" {
			if got := loadError(translator.IPv4, "mangle", "OUTPUT", tc.args, nil); got != tc.msg {
				t.Errorf("%s:\n got %q\nwant %q", tc.args, got, tc.msg)
			}
			continue
		}
		if got := mustRuleIn(t, translator.IPv4, "mangle", "OUTPUT", tc.args).Spec(translator.IPv4); got != " "+tc.save {
			t.Errorf("%s: got %q, want %q", tc.args, got, " "+tc.save)
		}
	}
}

func TestOwnerCheck(t *testing.T) {
	for _, tc := range []struct {
		table, chain, args string
		ok                 bool
	}{
		{"filter", "OUTPUT", "-m owner --uid-owner 1", true},
		{"nat", "POSTROUTING", "-m owner --socket-exists", true},
		{"filter", "INPUT", "-m owner --uid-owner 1", false},
		{"mangle", "FORWARD", "-m owner --socket-exists", false},
		// The kernel refuses a reversed range, which iptables lets
		// through.
		{"filter", "OUTPUT", "-m owner --uid-owner 10-5", false},
		{"filter", "OUTPUT", "-m owner --gid-owner 10:5", false},
	} {
		msg := loadError(translator.IPv4, tc.table, tc.chain, tc.args, nil)
		if (msg == "") != tc.ok {
			t.Errorf("%s in %s %s: error %q, want ok=%v", tc.args, tc.table, tc.chain, msg, tc.ok)
		}
	}
	// A user chain is checked for the hooks it is reached from; one no
	// rule jumps to is checked for none.
	for _, tc := range []struct {
		from string
		ok   bool
	}{{"", true}, {"-A OUTPUT -j mine\n", true}, {"-A INPUT -j mine\n", false}} {
		in := "*filter\n:mine - [0:0]\n" + tc.from + "-A mine -m owner --uid-owner 1\nCOMMIT\n"
		_, err := iptables.Restore(translator.NewRuleset(translator.IPv4), strings.NewReader(in), iptables.RestoreOptions{})
		if (err == nil) != tc.ok {
			t.Errorf("user chain reached by %q: error %v, want ok=%v", tc.from, err, tc.ok)
		}
	}
}

func TestOwnerMatch(t *testing.T) {
	user := &packet.Socket{UID: 1000, GID: 100, SupplGroups: []uint32{27, 999}}
	for _, tc := range []struct {
		args string
		sock *packet.Socket
		want bool
	}{
		{"--uid-owner 1000", user, true},
		{"--uid-owner 0-999", user, false},
		{"! --uid-owner 0-999", user, true},
		{"--gid-owner 100", user, true},
		{"--gid-owner 27", user, false},
		{"--gid-owner 27 --suppl-groups", user, true},
		{"--gid-owner 101-998 --suppl-groups", user, false},
		{"--gid-owner 101-998", user, false},
		{"--gid-owner 28-998", user, true},
		{"! --gid-owner 999 --suppl-groups", user, false},
		{"--socket-exists", user, true},
		{"! --socket-exists", user, false},
		{"! --socket-exists --uid-owner 0", user, false},
		// Without a socket only inverted options hold, and the match
		// holds when every option given is inverted.
		{"--socket-exists", nil, false},
		{"! --socket-exists", nil, true},
		{"! --uid-owner 0 ! --gid-owner 0", nil, true},
		{"! --uid-owner 0 --gid-owner 0", nil, false},
		// --suppl-groups cannot be inverted, so with it nothing matches a
		// packet without a socket.
		{"! --gid-owner 0 --suppl-groups", nil, false},
	} {
		r := mustRuleIn(t, translator.IPv4, "filter", "OUTPUT", "-m owner "+tc.args)
		p := tcp4Packet(1, 2)
		p.Sock = tc.sock
		if got, _ := judge(r, translator.IPv4, p); got != tc.want {
			t.Errorf("%s (socket %v): got %v, want %v", tc.args, tc.sock != nil, got, tc.want)
		}
	}
}
