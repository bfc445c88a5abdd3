package xt_test

import (
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/xt"
)

// acctObjects is an Objects with the given nfacct objects and no ipsets.
type acctObjects []string

func (acctObjects) IPSet(string) (translator.IPSetInfo, bool) { return translator.IPSetInfo{}, false }

func (o acctObjects) NFAcct(name string) bool {
	for _, n := range o {
		if n == name {
			return true
		}
	}
	return false
}

func TestNFAcctParse(t *testing.T) {
	for _, tc := range []struct{ args, save, msg string }{
		// nfacct_save prints a space of its own before xtables_save_string's.
		{args: "-m nfacct --nfacct-name http", save: "-m nfacct --nfacct-name  http"},
		{args: `-m nfacct --nfacct-name "web traffic"`, save: `-m nfacct --nfacct-name  "web traffic"`},
		// Names are cut to NFACCT_NAME_MAX-1 bytes.
		{args: "-m nfacct --nfacct-name " + strings.Repeat("n", 40), save: "-m nfacct --nfacct-name  " + strings.Repeat("n", 31)},
		{args: `-m nfacct --nfacct-name ""`, msg: "Argument must have a minimum length of 1 characters"},
		{args: "-m nfacct", msg: `nfacct: option "--nfacct-name" must be specified`},
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

func TestNFAcctNewline(t *testing.T) {
	// The newline check sees the whole argument, not the part kept.
	name := strings.Repeat("n", 40) + "\n"
	_, err := iptables.ParseCommand([]string{"-A", "INPUT", "-m", "nfacct", "--nfacct-name", name}, iptables.ParseOptions{})
	if err == nil || err.Error() != "Newlines not allowed in --nfacct-name" {
		t.Errorf("got %v", err)
	}
}

func TestNFAcctCheck(t *testing.T) {
	for _, tc := range []struct {
		objs translator.Objects
		msg  string
	}{
		{nil, ""}, // unknown objects: the name is not checked
		{acctObjects{"http"}, ""},
		{acctObjects{"dns"}, "nfacct match: accounting object `http' does not exist"},
		{translator.EmptyObjects{}, "nfacct match: accounting object `http' does not exist"},
	} {
		if got := loadError(translator.IPv4, "filter", "INPUT", "-m nfacct --nfacct-name http", tc.objs); got != tc.msg {
			t.Errorf("objects %v: got %q, want %q", tc.objs, got, tc.msg)
		}
	}
}

func TestNFAcctMatch(t *testing.T) {
	r := mustRuleIn(t, translator.IPv4, "filter", "INPUT", "-m nfacct --nfacct-name http")
	m := r.Matches[0]
	p := udp4Packet("12345678") // 36 bytes

	// Without State the packet is only recorded as counted; an object
	// without a quota always matches.
	c := &translator.Context{Packet: p, Family: translator.IPv4}
	if !m.Match(c) {
		t.Error("no state: did not match")
	}
	if len(c.Effects) != 1 || c.Effects[0].Target != "nfacct" || c.Effects[0].Detail != "counted 36 bytes in http" {
		t.Errorf("effects: %+v", c.Effects)
	}

	// Counted into the objects in State; one with a quota of 80 bytes
	// matches once the quota is passed, not when it is reached.
	acct := xt.NFAcctCounters{"http": {HasQuota: true, Quota: 80}}
	st := translator.NewState()
	st.Get(xt.NFAcctStateKey, func() any { return acct })
	for i, want := range []bool{false, false, true, true} {
		c := &translator.Context{Packet: p, Family: translator.IPv4, State: st}
		if got := m.Match(c); got != want {
			t.Errorf("packet %d (%d bytes counted): got %v, want %v", i+1, acct["http"].Bytes, got, want)
		}
	}
	if o := acct["http"]; o.Packets != 4 || o.Bytes != 4*36 {
		t.Errorf("counters: %d packets, %d bytes", o.Packets, o.Bytes)
	}

	// A quota of packets: the third packet passes a quota of 2.
	acct = xt.NFAcctCounters{"http": {HasQuota: true, QuotaPackets: true, Quota: 2}}
	st = translator.NewState()
	st.Get(xt.NFAcctStateKey, func() any { return acct })
	for i, want := range []bool{false, false, true} {
		c := &translator.Context{Packet: p, Family: translator.IPv4, State: st}
		if got := m.Match(c); got != want {
			t.Errorf("packet quota, packet %d: got %v, want %v", i+1, got, want)
		}
	}

	// Objects are made on first use, without a quota.
	st = translator.NewState()
	c = &translator.Context{Packet: p, Family: translator.IPv4, State: st}
	if !m.Match(c) {
		t.Error("new object: did not match")
	}
	if o := st.Get(xt.NFAcctStateKey, nil).(xt.NFAcctCounters)["http"]; o == nil || o.Packets != 1 {
		t.Errorf("new object: %+v", o)
	}
}
