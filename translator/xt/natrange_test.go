package xt_test

import (
	"testing"

	"github.com/bpftables/bpftables/translator"
)

// The range syntax of DNAT, SNAT, MASQUERADE and REDIRECT, in the forms
// the corpus does not pin down. Every line was checked against
// iptables-legacy: what it loads and how iptables-save prints it back.
func TestNATRangeRoundTrip(t *testing.T) {
	tests := []struct {
		fam         translator.Family
		chain, rule string
		save        string // "" for the rule itself
	}{
		// Ports are numbers in any base, or a single service name.
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:0x50-0120", "-p tcp -j DNAT --to-destination 1.1.1.1:80"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination \"1.1.1.1: 80\"", "-p tcp -j DNAT --to-destination 1.1.1.1:80"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:80-+90", "-p tcp -j DNAT --to-destination 1.1.1.1:80-90"},
		{v4, "OUTPUT", "-p udp -j REDIRECT --to-ports domain", "-p udp -j REDIRECT --to-ports 53"},
		{v4, "OUTPUT", "-p udp -j REDIRECT --to-ports \"5- 6\"", "-p udp -j REDIRECT --to-ports 5-6"},
		// The base port of a shifted range may be followed by anything.
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/65535x", "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/65535"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/0x10", "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/16"},
		// SNAT and MASQUERADE keep no base port: it prints as 0.
		{v4, "POSTROUTING", "-p tcp -j SNAT --to-source 1.1.1.1:1000-2000/50", "-p tcp -j SNAT --to-source 1.1.1.1:1000-2000/0"},
		{v6, "POSTROUTING", "-p tcp -j SNAT --to-source [::1]:1000-2000/50", "-p tcp -j SNAT --to-source [::1]:1000-2000/0"},
		{v4, "POSTROUTING", "-p tcp -j MASQUERADE --to-ports 1000-2000/50", "-p tcp -j MASQUERADE --to-ports 1000-2000/0"},
		// ICMP counts as a protocol with ports (the echo id), inverted
		// protocols too.
		{v4, "PREROUTING", "-p icmp -j DNAT --to-destination 1.1.1.1:5", ""},
		{v6, "PREROUTING", "-p icmp -j DNAT --to-destination [::1]:5", ""},
		{v4, "PREROUTING", "! -p tcp -j DNAT --to-destination 1.1.1.1:5", ""},
		// Address ranges are not ordered.
		{v4, "PREROUTING", "-j DNAT --to-destination 1.1.1.10-1.1.1.1", ""},
		// A colon at offset 2 means "no address", whatever precedes it.
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.:80", "-p tcp -j DNAT --to-destination :80"},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination []:80", "-p tcp -j DNAT --to-destination :80"},
		// IPv6: brackets only before ports; two colons without brackets
		// are an address; text around the brackets is ignored.
		{v6, "PREROUTING", "-j DNAT --to-destination [dead::beef]", "-j DNAT --to-destination dead::beef"},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination dead::beef:80", ""},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination [dead::1]x:80", "-p tcp -j DNAT --to-destination [dead::1]:80"},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination x[::1]:80", "-p tcp -j DNAT --to-destination [::1]:80"},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination [::ffff:1.2.3.4]:80", ""},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination [dead::1-dead::5]:80-90/85", ""},
		// glibc's inet_ntop prints IPv4-compatible addresses dotted.
		{v6, "PREROUTING", "-j DNAT --to-destination ::1:2", "-j DNAT --to-destination ::0.1.0.2"},
		{v6, "PREROUTING", "-j DNAT --to-destination 0:0:0:0:0:1:0:0", "-j DNAT --to-destination ::1:0:0"},
		// Flags print in a fixed order.
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1 --persistent --random", "-p tcp -j DNAT --to-destination 1.1.1.1 --random --persistent"},
		{v4, "POSTROUTING", "-j SNAT --random --to-source 1.1.1.1 --persistent --random-fully", "-j SNAT --to-source 1.1.1.1 --random --random-fully --persistent"},
		{v4, "PREROUTING", "-p tcp -j REDIRECT --random --to-ports 5", "-p tcp -j REDIRECT --to-ports 5 --random"},
		{v6, "POSTROUTING", "-p udp -j MASQUERADE --to-ports 5-6 --random --random-fully", ""},
	}
	for _, tt := range tests {
		want := tt.save
		if want == "" {
			want = tt.rule
		}
		if got := savedRule(t, tt.fam, "nat", tt.chain, tt.rule); got != want {
			t.Errorf("%s -A %s %s\n saved as %s\n     want %s", tt.fam, tt.chain, tt.rule, got, want)
		}
	}
}

// The refusals of the range syntax, with iptables' words; each was checked
// against iptables-legacy.
func TestNATRangeErrors(t *testing.T) {
	tests := []struct {
		fam         translator.Family
		chain, rule string
		msg         string
	}{
		{v4, "PREROUTING", "-p udplite -j DNAT --to-destination 1.1.1.1:5", "Need TCP, UDP, SCTP or DCCP with port specification"},
		{v6, "PREROUTING", "-p icmpv6 -j DNAT --to-destination [::1]:5", "Need TCP, UDP, SCTP or DCCP with port specification"},
		// The protocol must come before the target's options.
		{v4, "PREROUTING", "-j DNAT --to-destination 1.1.1.1:80 -p tcp", "Need TCP, UDP, SCTP or DCCP with port specification"},
		{v4, "OUTPUT", "-j REDIRECT --to-ports 42", "Need TCP, UDP, SCTP or DCCP with port specification"},
		{v6, "POSTROUTING", "-j MASQUERADE --to-ports 5", "Need TCP, UDP, SCTP or DCCP with port specification"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:80:90", `Bad IP address "1.1.1.1:80:90"`},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:80abc", "Garbage after port value: `abc'"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:1/2", "Garbage after port value: `/2'"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:90-80", "Port range `80' funky"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:", "Port `' not valid"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/", "Port `' not valid"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:ssh-80", "Port `ssh-80' not valid"},
		{v4, "PREROUTING", "-j DNAT --to-destination 01.1.1.1", `Bad IP address "01.1.1.1"`},
		{v4, "PREROUTING", "-j DNAT --to-destination \"\"", `Bad IP address ""`},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1-:1", `Bad IP address ""`},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1-1.1.1.2-1.1.1.3", `Bad IP address "1.1.1.2-1.1.1.3"`},
		{v4, "PREROUTING", "-j DNAT --to-destination [1.1.1.1]", "Invalid address format"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination x[]:80", "Invalid address format"},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination [dead::beef:80", "Invalid address format"},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination x[]:80", `Bad IP address ""`},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination [fe80::1%eth0]:80", `Bad IP address "fe80::1%eth0"`},
		{v6, "PREROUTING", "-j DNAT --to-destination 1.2.3.4", `Bad IP address "1.2.3.4"`},
		{v6, "PREROUTING", "-p tcp -j DNAT --to-destination [dead::1]-[dead::2]:80", "Port `:2]:80' not valid"},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1 --random --persistent --random", `DNAT: option "--random" can only be used once.`},
		{v4, "PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1 --random-fully", `unknown option "--random-fully"`},
		{v4, "PREROUTING", "-p tcp -j DNAT --random", `DNAT: option "--to-destination" must be specified`},
		{v4, "POSTROUTING", "-p tcp -j MASQUERADE --to-ports 1000-2000 --to-ports 5", `MASQUERADE: option "--to-ports" can only be used once.`},
		{v4, "POSTROUTING", "-p tcp -j MASQUERADE --to-ports 80:90", "Invalid port:port syntax - use dash"},
		{v4, "OUTPUT", "-p udp -j REDIRECT --to-ports 5-6/", "Port `' not valid"},
		{v4, "OUTPUT", "-p udp -j REDIRECT --to-ports 5-6x", "Garbage after port range: `x'"},
		{v4, "OUTPUT", "-p udp -j REDIRECT --to-ports 5-", "Port `' not valid"},
		{v4, "OUTPUT", "-p udp -j REDIRECT --to-ports -5", "Port `-5' not valid"},
		{v4, "OUTPUT", "-p udp -j REDIRECT --to-ports 70000", "Port `70000' not valid"},
		{v4, "OUTPUT", "-p tcp -j REDIRECT --to-ports 1000-2000/50", "Shifted portmap ranges not supported with this kernel"},
		{v6, "OUTPUT", "-p udp -j REDIRECT --to-ports 5-6/5", "Shifted portmap ranges not supported with this kernel"},
		{v4, "POSTROUTING", "-j SNAT --to-source 1.1.1.1 --to-source 2.2.2.2", `SNAT: option "--to-source" can only be used once.`},
	}
	for _, tt := range tests {
		msg, kernel := natLoadError(tt.fam, oneRule("nat", tt.chain, tt.rule), nil)
		if msg != tt.msg || kernel {
			t.Errorf("%s -A %s %s\n got %q (kernel refusal: %v)\nwant %q from iptables", tt.fam, tt.chain, tt.rule, msg, kernel, tt.msg)
		}
	}
}
