package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// icmpName is a symbolic ICMP or ICMPv6 type, with the range of codes it
// stands for (libxt_icmp.h's struct xt_icmp_names).
type icmpName struct {
	name             string
	typ              uint8
	codeMin, codeMax uint8
}

// icmpNames are the names --icmp-type accepts, in iptables' order: the
// order decides which of two matching abbreviations an ambiguity message
// names.
var icmpNames = []icmpName{
	{"any", 0xFF, 0, 0xFF},
	{"echo-reply", 0, 0, 0xFF},
	{"pong", 0, 0, 0xFF},

	{"destination-unreachable", 3, 0, 0xFF},
	{"network-unreachable", 3, 0, 0},
	{"host-unreachable", 3, 1, 1},
	{"protocol-unreachable", 3, 2, 2},
	{"port-unreachable", 3, 3, 3},
	{"fragmentation-needed", 3, 4, 4},
	{"source-route-failed", 3, 5, 5},
	{"network-unknown", 3, 6, 6},
	{"host-unknown", 3, 7, 7},
	{"network-prohibited", 3, 9, 9},
	{"host-prohibited", 3, 10, 10},
	{"TOS-network-unreachable", 3, 11, 11},
	{"TOS-host-unreachable", 3, 12, 12},
	{"communication-prohibited", 3, 13, 13},
	{"host-precedence-violation", 3, 14, 14},
	{"precedence-cutoff", 3, 15, 15},

	{"source-quench", 4, 0, 0xFF},

	{"redirect", 5, 0, 0xFF},
	{"network-redirect", 5, 0, 0},
	{"host-redirect", 5, 1, 1},
	{"TOS-network-redirect", 5, 2, 2},
	{"TOS-host-redirect", 5, 3, 3},

	{"echo-request", 8, 0, 0xFF},
	{"ping", 8, 0, 0xFF},

	{"router-advertisement", 9, 0, 0xFF},

	{"router-solicitation", 10, 0, 0xFF},

	{"time-exceeded", 11, 0, 0xFF},
	{"ttl-exceeded", 11, 0, 0xFF},
	{"ttl-zero-during-transit", 11, 0, 0},
	{"ttl-zero-during-reassembly", 11, 1, 1},

	{"parameter-problem", 12, 0, 0xFF},
	{"ip-header-bad", 12, 0, 0},
	{"required-option-missing", 12, 1, 1},

	{"timestamp-request", 13, 0, 0xFF},

	{"timestamp-reply", 14, 0, 0xFF},

	{"info-request", 15, 0, 0xFF},
	{"info-reply", 16, 0, 0xFF},

	{"address-mask-request", 17, 0, 0xFF},

	{"address-mask-reply", 18, 0, 0xFF},
}

// icmpv6Names are the names --icmpv6-type accepts, in ip6tables' order.
var icmpv6Names = []icmpName{
	{"destination-unreachable", 1, 0, 0xFF},
	{"no-route", 1, 0, 0},
	{"communication-prohibited", 1, 1, 1},
	{"beyond-scope", 1, 2, 2},
	{"address-unreachable", 1, 3, 3},
	{"port-unreachable", 1, 4, 4},
	{"failed-policy", 1, 5, 5},
	{"reject-route", 1, 6, 6},

	{"packet-too-big", 2, 0, 0xFF},

	{"time-exceeded", 3, 0, 0xFF},
	{"ttl-exceeded", 3, 0, 0xFF},
	{"ttl-zero-during-transit", 3, 0, 0},
	{"ttl-zero-during-reassembly", 3, 1, 1},

	{"parameter-problem", 4, 0, 0xFF},
	{"bad-header", 4, 0, 0},
	{"unknown-header-type", 4, 1, 1},
	{"unknown-option", 4, 2, 2},

	{"echo-request", 128, 0, 0xFF},
	{"ping", 128, 0, 0xFF},

	{"echo-reply", 129, 0, 0xFF},
	{"pong", 129, 0, 0xFF},

	{"mld-listener-query", 130, 0, 0xFF},

	{"mld-listener-report", 131, 0, 0xFF},

	{"mld-listener-done", 132, 0, 0xFF},
	{"mld-listener-reduction", 132, 0, 0xFF},

	{"router-solicitation", 133, 0, 0xFF},

	{"router-advertisement", 134, 0, 0xFF},

	{"neighbour-solicitation", 135, 0, 0xFF},
	{"neighbor-solicitation", 135, 0, 0xFF},

	{"neighbour-advertisement", 136, 0, 0xFF},
	{"neighbor-advertisement", 136, 0, 0xFF},

	{"redirect", 137, 0, 0xFF},
}

// parseICMPRange parses "n" or "n:m", each 0-255, as libxt_icmp.h's
// parse_range, and returns what follows.
func parseICMPRange(s string) (r [2]uint8, rest string, ok bool) {
	v, rest, ok := translator.ParseUintPrefix(s, 0, 255)
	if !ok {
		return r, s, false
	}
	r[0], r[1] = uint8(v), uint8(v)
	if strings.HasPrefix(rest, ":") {
		v, rest, ok = translator.ParseUintPrefix(rest[1:], 0, 255)
		if !ok {
			return r, rest, false
		}
		r[1] = uint8(v)
	}
	return r, rest, true
}

// parseICMPType parses an ICMP or ICMPv6 type as ipt_parse_icmp does: a
// name or an unambiguous abbreviation of one (any case), or a number with
// an optional "/code" where code may be a range "min:max". what is "ICMP"
// or "ICMPv6", for messages.
func parseICMPType(names []icmpName, what, s string) (typ uint8, code [2]uint8, err error) {
	match := -1
	for i, n := range names {
		if len(s) > len(n.name) || !strings.EqualFold(n.name[:len(s)], s) {
			continue
		}
		if match >= 0 {
			return 0, code, Errorf("Ambiguous %s type `%s': `%s' or `%s'?", what, s, names[match].name, n.name)
		}
		match = i
	}
	if match >= 0 {
		n := names[match]
		return n.typ, [2]uint8{n.codeMin, n.codeMax}, nil
	}
	types, rest, ok := parseICMPRange(s)
	if !ok {
		return 0, code, Errorf("Unknown %s type `%s'", what, s)
	}
	switch {
	case rest == "":
		code = [2]uint8{0, 0xFF}
	case rest[0] == '/':
		code, rest, ok = parseICMPRange(rest[1:])
		if !ok {
			return 0, code, Errorf("Unknown %s code `%s'", what, s)
		}
		if rest != "" {
			return 0, code, Errorf("unknown character %s", rest[:1])
		}
	default:
		return 0, code, Errorf("unknown character %s", rest[:1])
	}
	// iptables takes a type range ("3:5") apart only to refuse it.
	if types[0] != types[1] {
		return 0, code, Errorf("%s type range not supported", what)
	}
	return types[0], code, nil
}
