package xt_test

import (
	"reflect"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/xt"
)

// sfSets are the ipsets that exist for these tests.
type sfSets map[string]translator.IPSetInfo

func (s sfSets) IPSet(name string) (translator.IPSetInfo, bool) {
	i, ok := s[name]
	return i, ok
}

func (sfSets) NFAcct(string) bool { return false }

var sfSetObjects = sfSets{
	"s4":     {Name: "s4", Type: "hash:ip", Family: translator.IPv4, Dimension: 1},
	"n4":     {Name: "n4", Type: "hash:net", Family: translator.IPv4, Dimension: 1},
	"ipport": {Name: "ipport", Type: "hash:ip,port", Family: translator.IPv4, Dimension: 2},
	"ports":  {Name: "ports", Type: "bitmap:port", Dimension: 1},
	"s6":     {Name: "s6", Type: "hash:ip", Family: translator.IPv6, Dimension: 1},
}

// sfRecordingSets is an IPSets holding exact elements that records what it
// is asked.
type sfRecordingSets struct {
	elems  map[string][][]translator.IPSetPart
	tested [][]translator.IPSetPart
}

func (s *sfRecordingSets) Test(set string, key []translator.IPSetPart) bool {
	s.tested = append(s.tested, key)
	for _, e := range s.elems[set] {
		if reflect.DeepEqual(e, key) {
			return true
		}
	}
	return false
}

func (s *sfRecordingSets) Add(string, []translator.IPSetPart) {}
func (s *sfRecordingSets) Del(string, []translator.IPSetPart) {}

// sfMatcherSets is an IPSets with the fuller IPSetMatcher interface.
type sfMatcherSets struct {
	sfRecordingSets
	opts []xt.IPSetMatchOpt
}

func (s *sfMatcherSets) Match(set string, key []translator.IPSetPart, opt xt.IPSetMatchOpt) bool {
	s.opts = append(s.opts, opt)
	return s.Test(set, key)
}

func TestSetSave(t *testing.T) {
	v4, v6 := translator.IPv4, translator.IPv6
	for _, tc := range []sfSaveCase{
		// Directions are known by their first three letters.
		{v4, "-m set --match-set s4 srcxx,dstyy", "-m set --match-set s4 src,dst"},
		{v4, "-m set --set s4 src", "-m set --match-set s4 src"},
		{v4, "-m set ! --match-set s4 src,dst,src,dst,src,dst", "-m set ! --match-set s4 src,dst,src,dst,src,dst"},
		// Flags in a fixed order; --update-counters only counts inverted.
		{v4, "-m set --packets-eq 5 --match-set s4 src --return-nomatch --return-nomatch", "-m set --match-set s4 src --return-nomatch --packets-eq 5"},
		{v4, "-m set --match-set s4 src ! --update-counters ! --update-subcounters --update-counters", "-m set --match-set s4 src ! --update-counters ! --update-subcounters"},
		{v4, "-m set --match-set s4 src --bytes-gt 0x10 ! --packets-eq 010", "-m set --match-set s4 src ! --packets-eq 8 --bytes-gt 16"},
		{v4, "-m set --match-set s4 src --packets-lt 18446744073709551615", "-m set --match-set s4 src --packets-lt 18446744073709551615"},
		// Sets of ports have no family; fewer directions than the set's
		// dimension load (and never match).
		{v6, "-m set --match-set ports dst", "-m set --match-set ports dst"},
		{v4, "-m set --match-set ipport src", "-m set --match-set ipport src"},
	} {
		got, err := sfRestore(tc.fam, tc.args, sfSetObjects)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
		} else if got != tc.want {
			t.Errorf("%q\n saved as %q\n     want %q", tc.args, got, tc.want)
		}
	}
}

func TestSetErrors(t *testing.T) {
	v4, v6 := translator.IPv4, translator.IPv6
	sfRunErrorCases(t, []sfErrorCase{
		{v4, "-m set --match-set nosuch src", "Set nosuch doesn't exist."},
		{v4, "-m set --match-set s6 src", "The protocol family of set s6 is IPv6, which is not applicable."},
		{v6, "-m set --match-set s4 src", "The protocol family of set s4 is IPv4, which is not applicable."},
		{v4, "-m set --match-set s4 src,,dst", "You must specify (the comma separated list of) 'src' or 'dst'."},
		{v4, "-m set --match-set s4 src,", "You must specify (the comma separated list of) 'src' or 'dst'."},
		{v4, "-m set --match-set s4 src,dst,src,dst,src,dst,src", "Can't be more src/dst options than 6."},
		{v4, "-m set --match-set s4 -src", "--match-set requires two args."},
		{v4, "-m set --match-set s4 src --match-set s4 dst", "--match-set can be specified only once"},
		{v4, "-m set --match-set 0123456789012345678901234567890123 src", "setname `0123456789012345678901234567890123' too long, max 31 characters."},
		{v4, "-m set --return-nomatch", "You must specify `--match-set' with proper arguments"},
		{v4, "-m set --match-set s4 src ! --return-nomatch", "--return-nomatch flag cannot be inverted"},
		{v4, "-m set --match-set s4 src ! --packets-lt 5", "--packets-lt option cannot be inverted"},
		{v4, "-m set --match-set s4 src ! --bytes-gt 5", "--bytes-gt option cannot be inverted"},
		{v4, "-m set --match-set s4 src --bytes-lt 5 --bytes-eq 3", "only one of the --bytes-[eq|lt|gt] is allowed"},
		{v4, "-m set --match-set s4 src --packets-eq -1", "Cannot parse -1 as a counter value"},
	}, sfSetObjects)
}

// sfCheckedRule parses a rule and makes the kernel's checks on it with the
// sets of sfSetObjects, which binds a set match to its set.
func sfCheckedRule(t *testing.T, fam translator.Family, args string) *translator.Rule {
	t.Helper()
	r := sfRule(t, fam, args)
	cc := &translator.CheckContext{Family: fam, Table: "filter", Chain: "INPUT", Hooks: translator.Input.Mask(), Rule: r, Objects: sfSetObjects}
	for _, m := range r.Matches {
		if err := m.Check(cc); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
	}
	return r
}

func TestSetElements(t *testing.T) {
	v4 := translator.IPv4
	a, b := sfAddr("10.0.0.1"), sfAddr("10.0.0.2")
	udp := sfUDP4("10.0.0.1", "10.0.0.2", 1000, 53)
	ping := packet.Spec{Src: a, Dst: b, Proto: packet.ProtoICMP, ICMPType: 8, ICMPCode: 0}
	later := packet.Spec{Src: a, Dst: b, Proto: packet.ProtoUDP, FragOffset: 100, Payload: make([]byte, 16)}
	elem := func(parts ...translator.IPSetPart) [][]translator.IPSetPart { return [][]translator.IPSetPart{parts} }
	ip := func(x string) translator.IPSetPart { return translator.IPSetPart{Addr: sfAddr(x)} }
	port := func(proto uint8, p uint16) translator.IPSetPart { return translator.IPSetPart{Proto: proto, Port: p} }

	for _, tc := range []struct {
		name string
		rule *translator.Rule
		pkt  packet.Spec
		// elems are the elements of the rule's set.
		elems [][]translator.IPSetPart
		// tested is the element the set is asked about; nil when the
		// kernel does not ask.
		tested []translator.IPSetPart
		want   bool
	}{
		{"source address", sfCheckedRule(t, v4, "-m set --match-set s4 src"), udp, elem(ip("10.0.0.1")), []translator.IPSetPart{ip("10.0.0.1")}, true},
		{"destination address", sfCheckedRule(t, v4, "-m set --match-set s4 dst"), udp, elem(ip("10.0.0.1")), []translator.IPSetPart{ip("10.0.0.2")}, false},
		{"inverted", sfCheckedRule(t, v4, "-m set ! --match-set n4 dst"), udp, elem(ip("10.0.0.1")), []translator.IPSetPart{ip("10.0.0.2")}, true},
		// Directions beyond the set's dimension are not used.
		{"extra directions", sfCheckedRule(t, v4, "-m set --match-set s4 dst,src,src"), udp, nil, []translator.IPSetPart{ip("10.0.0.2")}, false},
		{"address and port", sfCheckedRule(t, v4, "-m set --match-set ipport src,dst"), udp, elem(ip("10.0.0.1"), port(packet.ProtoUDP, 53)), []translator.IPSetPart{ip("10.0.0.1"), port(packet.ProtoUDP, 53)}, true},
		{"source port", sfCheckedRule(t, v4, "-m set --match-set ports src"), udp, elem(port(packet.ProtoUDP, 53)), []translator.IPSetPart{port(packet.ProtoUDP, 1000)}, false},
		// ICMP type and code are the "port" of both directions.
		{"icmp", sfCheckedRule(t, v4, "-m set --match-set ipport dst,src"), ping, nil, []translator.IPSetPart{ip("10.0.0.2"), port(packet.ProtoICMP, 8<<8)}, false},
		// Fewer directions than the set's dimension: never a match.
		{"too few directions", sfCheckedRule(t, v4, "-m set --match-set ipport src"), udp, elem(ip("10.0.0.1")), nil, false},
		{"too few, inverted", sfCheckedRule(t, v4, "-m set ! --match-set ipport src"), udp, elem(ip("10.0.0.1")), nil, true},
		// A later fragment has no ports for a port dimension, but its
		// addresses still count.
		{"fragment, port set", sfCheckedRule(t, v4, "-m set --match-set ports dst"), later, nil, nil, false},
		{"fragment, address set", sfCheckedRule(t, v4, "-m set --match-set s4 src"), later, elem(ip("10.0.0.1")), []translator.IPSetPart{ip("10.0.0.1")}, true},
		// A rule not checked against known sets gives each part both the
		// address and the protocol and port of its side.
		{"unbound", sfRule(t, v4, "-m set --match-set ipport src,dst"), udp, nil,
			[]translator.IPSetPart{{Addr: a, Proto: packet.ProtoUDP, Port: 1000}, {Addr: b, Proto: packet.ProtoUDP, Port: 53}}, false},
	} {
		sets := &sfRecordingSets{elems: map[string][][]translator.IPSetPart{}}
		m := tc.rule.Matches[0].(*xt.Set)
		sets.elems[m.SetName] = tc.elems
		c := &translator.Context{Packet: tc.pkt.Build(), Family: v4, Hook: translator.Input, Now: sfT0, IPSets: sets}
		got, _ := sfJudge(tc.rule, c)
		if got != tc.want {
			t.Errorf("%s: match %v, want %v", tc.name, got, tc.want)
		}
		var want [][]translator.IPSetPart
		if tc.tested != nil {
			want = [][]translator.IPSetPart{tc.tested}
		}
		if !reflect.DeepEqual(sets.tested, want) {
			t.Errorf("%s: tested %v, want %v", tc.name, sets.tested, want)
		}
	}
}

// IPSets that model counters and nomatch elements get the rule's options.
func TestSetMatcherOptions(t *testing.T) {
	v4 := translator.IPv4
	r := sfCheckedRule(t, v4, "-m set ! --match-set s4 src --return-nomatch ! --update-counters --packets-gt 2 ! --bytes-eq 100")
	sets := &sfMatcherSets{sfRecordingSets: sfRecordingSets{elems: map[string][][]translator.IPSetPart{
		"s4": {{{Addr: sfAddr("10.0.0.1")}}},
	}}}
	p := sfUDP4("10.0.0.1", "10.0.0.2", 1000, 53)
	p.Payload = make([]byte, 12) // 20 + 8 + 12 bytes
	c := &translator.Context{Packet: p.Build(), Family: v4, Hook: translator.Input, Now: sfT0, IPSets: sets}
	if got, _ := sfJudge(r, c); got {
		t.Errorf("inverted match of a member matched")
	}
	want := []xt.IPSetMatchOpt{{
		ReturnNomatch:   true,
		NoCounterUpdate: true,
		Packets:         xt.SetCounterMatch{Op: xt.SetCounterGt, Value: 2},
		Bytes:           xt.SetCounterMatch{Op: xt.SetCounterNe, Value: 100},
		Len:             40,
	}}
	if !reflect.DeepEqual(sets.opts, want) {
		t.Errorf("options %+v\nwant %+v", sets.opts, want)
	}
}

// Without set contents every set is empty.
func TestSetWithoutIPSets(t *testing.T) {
	for args, want := range map[string]bool{
		"-m set --match-set s4 src":   false,
		"-m set ! --match-set s4 src": true,
	} {
		r := sfCheckedRule(t, translator.IPv4, args)
		c := &translator.Context{Packet: sfUDP4("10.0.0.1", "10.0.0.2", 1, 2).Build(), Family: translator.IPv4, Now: sfT0}
		if got, _ := sfJudge(r, c); got != want {
			t.Errorf("%q: match %v, want %v", args, got, want)
		}
	}
}
