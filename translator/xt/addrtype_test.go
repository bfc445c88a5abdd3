package xt_test

import (
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/xt"
)

func TestAddrtypeSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		// types print in the kernel's order, whatever the input's
		{fam: v4, in: "-m addrtype --src-type local,unicast,BROADCAST", save: "-m addrtype --src-type UNICAST,LOCAL,BROADCAST"},
		{fam: v4, in: "-m addrtype --src-type local,local", save: "-m addrtype --src-type LOCAL"},
		// a word is the first type it begins: "U" is UNSPEC
		{fam: v4, in: "-m addrtype ! --src-type LOC ! --dst-type U", save: "-m addrtype ! --src-type LOCAL ! --dst-type UNSPEC"},
		{fam: v4, in: "-m addrtype --src-type ANY --dst-type BLACK", save: "-m addrtype --src-type ANYCAST --dst-type BLACKHOLE"},
		{fam: v4, in: "-m addrtype --src-type xresolve,nat,throw,prohibit,unreachable,blackhole,multicast,anycast", save: "-m addrtype --src-type ANYCAST,MULTICAST,BLACKHOLE,UNREACHABLE,PROHIBIT,THROW,NAT,XRESOLVE"},
		{fam: v6, in: "-m addrtype --dst-type LOCAL,UNREACHABLE,ANYCAST,MULTICAST,UNICAST,UNSPEC", save: "-m addrtype --dst-type UNSPEC,UNICAST,LOCAL,ANYCAST,MULTICAST,UNREACHABLE"},
		{fam: v4, chain: "FORWARD", in: "-m addrtype --src-type LOCAL --limit-iface-out", save: "-m addrtype --src-type LOCAL --limit-iface-out"},

		// a bad word before a comma is quoted `so', with the rest of the list
		{fam: v4, in: "-m addrtype --src-type FOO,LOCAL", err: "addrtype: bad type `FOO,LOCAL'"},
		{fam: v4, in: "-m addrtype --src-type ,LOCAL", err: "addrtype: bad type `,LOCAL'"},
		{fam: v4, in: "-m addrtype --dst-type ,", err: "addrtype: bad type `,'"},
		{fam: v4, in: "-m addrtype --src-type LOCAL,FOO", err: `addrtype: bad type "FOO"`},
		{fam: v4, in: "-m addrtype --src-type LOCAL,", err: `addrtype: bad type ""`},
		{fam: v4, in: "-m addrtype --src-type LOCALX", err: `addrtype: bad type "LOCALX"`},
		{fam: v4, in: "-m addrtype --src-type LOCAL --src-type UNICAST", err: `addrtype: option "--src-type" can only be used once.`},
		{fam: v4, in: "-m addrtype ! --limit-iface-in --src-type LOCAL", err: `addrtype: option "--limit-iface-in" cannot be inverted.`},
		{fam: v4, in: "-m addrtype --limit-iface-in", err: "addrtype: you must specify --src-type or --dst-type"},
		{fam: v4, in: "-m addrtype --src-type LOCAL --limit-iface-in --limit-iface-out", err: `addrtype: option "--limit-iface-in" cannot be used together with "--limit-iface-out".`},

		// the kernel's refusals
		{fam: v4, chain: "OUTPUT", in: "-m addrtype --src-type LOCAL --limit-iface-in", err: "addrtype match: input interface limitation not valid in POSTROUTING and OUTPUT"},
		{fam: v4, in: "-m addrtype --src-type LOCAL --limit-iface-out", err: "addrtype match: output interface limitation not valid in PREROUTING and INPUT"},
		{fam: v6, in: "-m addrtype --src-type BROADCAST", err: "addrtype match: ipv6 does not support BROADCAST matching"},
		{fam: v6, in: "-m addrtype --src-type BLACKHOLE", err: "addrtype match: ipv6 BLACKHOLE matching not supported"},
		{fam: v6, in: "-m addrtype --dst-type PROHIBIT", err: "addrtype match: ipv6 PROHIBIT (THROW, NAT ..) matching not supported"},
		{fam: v6, in: "-m addrtype --dst-type THROW", err: "addrtype match: ipv6 PROHIBIT (THROW, NAT ..) matching not supported"},
	})
}

func TestAddrtypeCheck(t *testing.T) {
	pre := translator.PreRouting.Mask()
	post := translator.PostRouting.Mask()
	cases := []struct {
		name  string
		m     xt.Addrtype
		fam   translator.Family
		hooks translator.HookMask
		ok    bool
	}{
		{"both limits", xt.Addrtype{Dest: xt.AddrTypeLocal, LimitIn: true, LimitOut: true}, v4, 0, false},
		{"input limit in PREROUTING", xt.Addrtype{Dest: xt.AddrTypeLocal, LimitIn: true}, v4, pre, true},
		{"input limit in POSTROUTING", xt.Addrtype{Dest: xt.AddrTypeLocal, LimitIn: true}, v4, post, false},
		{"output limit in POSTROUTING", xt.Addrtype{Dest: xt.AddrTypeLocal, LimitOut: true}, v4, post, true},
		{"output limit in PREROUTING", xt.Addrtype{Dest: xt.AddrTypeLocal, LimitOut: true}, v4, pre, false},
		// a chain no hook reaches is not checked against hooks
		{"output limit unreachable", xt.Addrtype{Dest: xt.AddrTypeLocal, LimitOut: true}, v4, 0, true},
		{"IPv4 broadcast", xt.Addrtype{Source: xt.AddrTypeBroadcast}, v4, pre, true},
		{"IPv6 XRESOLVE", xt.Addrtype{Dest: xt.AddrTypeXResolve}, v6, pre, false},
		{"IPv6 UNREACHABLE", xt.Addrtype{Dest: xt.AddrTypeUnreachable}, v6, pre, true},
	}
	for _, tc := range cases {
		c := &translator.CheckContext{Family: tc.fam, Table: "filter", Hooks: tc.hooks, Rule: &translator.Rule{}}
		if err := tc.m.Check(c); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// hostView is a host's addresses and routes, as a test gives them to the
// addrtype match.
type hostView struct {
	local map[netip.Addr]string // the host's addresses and their devices
	bcast map[netip.Addr]string // IPv4 subnet broadcast addresses
	// routed6 holds the IPv6 destinations there is a route to.
	routed6 netip.Prefix
}

func onDev(m map[netip.Addr]string, a netip.Addr, dev string) bool {
	d, ok := m[a]
	return ok && (dev == "" || dev == d)
}

func (v hostView) Type4(a netip.Addr, dev string) xt.AddrType {
	switch {
	case onDev(v.local, a, dev):
		return xt.AddrTypeLocal
	case onDev(v.bcast, a, dev):
		return xt.AddrTypeBroadcast
	}
	return xt.AddrTypeUnicast
}

func (v hostView) Route6(a netip.Addr, dev string) xt.AddrType {
	if !v.routed6.Contains(a) {
		return xt.AddrTypeUnreachable
	}
	if onDev(v.local, a, dev) {
		return xt.AddrTypeLocal
	}
	return 0
}

var testHost = hostView{
	local: map[netip.Addr]string{
		netip.MustParseAddr("127.0.0.1"):   "lo",
		netip.MustParseAddr("10.0.0.1"):    "eth0",
		netip.MustParseAddr("::1"):         "lo",
		netip.MustParseAddr("2001:db8::1"): "eth0",
	},
	bcast:   map[netip.Addr]string{netip.MustParseAddr("10.0.0.255"): "eth0"},
	routed6: netip.MustParsePrefix("2001:db8::/32"),
}

// withAddrTypes runs f with the view in place.
func withAddrTypes(v xt.AddrTypes, f func()) {
	old := xt.LocalAddrTypes
	xt.LocalAddrTypes = v
	defer func() { xt.LocalAddrTypes = old }()
	f()
}

func to(dst string) *packet.Packet { return udpFromTo(dstFamilySource(dst), dst) }

func dstFamilySource(dst string) string {
	if netip.MustParseAddr(dst).Is4() {
		return "192.0.2.1"
	}
	return "2001:db8::99"
}

func via(in string, p *packet.Packet) *packet.Packet {
	p.InIface = in
	return p
}

func TestAddrtypeMatchFromAddresses(t *testing.T) {
	withAddrTypes(nil, func() {
		runEvalCases(t, mustRule(t, v4, "-m addrtype --dst-type BROADCAST"), []evalCase{
			{name: "255.255.255.255", pkt: to("255.255.255.255"), want: true},
			{name: "0.0.0.0", pkt: to("0.0.0.0"), want: true},
			// only 0.0.0.0 of 0.0.0.0/8, as on Linux 6.18
			{name: "0.1.2.3", pkt: to("0.1.2.3")},
			// a subnet broadcast needs the host's view
			{name: "10.0.0.255", pkt: to("10.0.0.255")},
		})
		// IPv4 types are one per address: a list is any of them.
		runEvalCases(t, mustRule(t, v4, "-m addrtype --dst-type UNICAST,MULTICAST"), []evalCase{
			{name: "224.0.0.1", pkt: to("224.0.0.1"), want: true},
			{name: "239.255.255.255", pkt: to("239.255.255.255"), want: true},
			{name: "240.0.0.1", pkt: to("240.0.0.1"), want: true},
			{name: "10.0.0.1", pkt: to("10.0.0.1"), want: true},
			{name: "255.255.255.255", pkt: to("255.255.255.255")},
		})
		// Without a view the host owns no address.
		runEvalCases(t, mustRule(t, v4, "-m addrtype --dst-type LOCAL"), []evalCase{
			{name: "127.0.0.1", pkt: to("127.0.0.1")},
		})
		runEvalCases(t, mustRule(t, v6, "-m addrtype --src-type UNSPEC"), []evalCase{
			{name: "from ::", family: v6, pkt: udpFromTo("::", "ff02::1:2"), want: true},
			{name: "from ::1", family: v6, pkt: udpFromTo("::1", "::1")},
		})
		runEvalCases(t, mustRule(t, v6, "-m addrtype --dst-type UNICAST"), []evalCase{
			{name: "global", family: v6, pkt: to("2001:db8::1"), want: true},
			{name: "link-local", family: v6, pkt: to("fe80::1"), want: true},
			{name: "loopback", family: v6, pkt: to("::1"), want: true},
			{name: "IPv4-compatible", family: v6, pkt: to("::10.0.0.1"), want: true},
			{name: "IPv4-mapped", family: v6, pkt: to("::ffff:10.0.0.1")},
			{name: "unspecified", family: v6, pkt: to("::")},
			{name: "multicast", family: v6, pkt: to("ff02::1")},
		})
		// IPv6 types are flags that must all hold: no address is both
		// unicast and multicast.
		runEvalCases(t, mustRule(t, v6, "-m addrtype --dst-type UNICAST,MULTICAST"), []evalCase{
			{name: "multicast", family: v6, pkt: to("ff02::1")},
			{name: "unicast", family: v6, pkt: to("2001:db8::1")},
		})
		runEvalCases(t, mustRule(t, v6, "-m addrtype ! --dst-type LOCAL"), []evalCase{
			{name: "::1", family: v6, pkt: to("::1"), want: true},
		})
	})
}

func TestAddrtypeMatchWithView(t *testing.T) {
	withAddrTypes(testHost, func() {
		runEvalCases(t, mustRule(t, v4, "-m addrtype --dst-type LOCAL"), []evalCase{
			{name: "own address", pkt: to("10.0.0.1"), want: true},
			{name: "loopback", pkt: to("127.0.0.1"), want: true},
			{name: "other address", pkt: to("10.0.0.2")},
		})
		runEvalCases(t, mustRule(t, v4, "-m addrtype --dst-type BROADCAST"), []evalCase{
			{name: "subnet broadcast", pkt: to("10.0.0.255"), want: true},
		})
		// With a device limit an address of another device is unicast.
		runEvalCases(t, mustRule(t, v4, "-m addrtype --dst-type LOCAL --limit-iface-in"), []evalCase{
			{name: "arrived on its device", pkt: via("eth0", to("10.0.0.1")), want: true},
			{name: "arrived on another", pkt: via("eth1", to("10.0.0.1"))},
		})
		runEvalCases(t, mustRule(t, v4, "-m addrtype --dst-type UNICAST --limit-iface-in"), []evalCase{
			{name: "arrived on another", pkt: via("eth1", to("10.0.0.1")), want: true},
		})
		// Source and destination are both tested.
		runEvalCases(t, mustRule(t, v4, "-m addrtype ! --src-type LOCAL --dst-type LOCAL"), []evalCase{
			{name: "from outside to us", pkt: udpFromTo("192.0.2.1", "10.0.0.1"), want: true},
			{name: "from us to us", pkt: udpFromTo("10.0.0.1", "10.0.0.1")},
			{name: "from outside to outside", pkt: udpFromTo("192.0.2.1", "192.0.2.2")},
		})

		runEvalCases(t, mustRule(t, v6, "-m addrtype --dst-type LOCAL"), []evalCase{
			{name: "own address", family: v6, pkt: to("2001:db8::1"), want: true},
			{name: "other address", family: v6, pkt: to("2001:db8::2")},
		})
		// UNICAST must hold and then LOCAL be found.
		runEvalCases(t, mustRule(t, v6, "-m addrtype --dst-type UNICAST,LOCAL"), []evalCase{
			{name: "own address", family: v6, pkt: to("2001:db8::1"), want: true},
			{name: "other unicast", family: v6, pkt: to("2001:db8::2")},
		})
		runEvalCases(t, mustRule(t, v6, "-m addrtype --dst-type UNREACHABLE"), []evalCase{
			{name: "unrouted", family: v6, pkt: to("2001:db9::1"), want: true},
			{name: "routed", family: v6, pkt: to("2001:db8::2")},
		})
		runEvalCases(t, mustRule(t, v6, "-m addrtype --dst-type LOCAL --limit-iface-in"), []evalCase{
			{name: "arrived on its device", family: v6, pkt: via("eth0", to("2001:db8::1")), want: true},
			{name: "arrived on another", family: v6, pkt: via("eth1", to("2001:db8::1"))},
		})
	})
}
