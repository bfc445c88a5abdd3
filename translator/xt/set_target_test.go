package xt_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/xt"
)

// setTargetObjects are the ipsets of the SET target tests.
type setTargetObjects map[string]translator.IPSetInfo

func (o setTargetObjects) IPSet(name string) (translator.IPSetInfo, bool) {
	i, ok := o[name]
	return i, ok
}

func (o setTargetObjects) NFAcct(string) bool { return false }

var setTargetSets = setTargetObjects{
	"s4":    {Name: "s4", Type: "hash:ip", Family: translator.IPv4, Dimension: 1},
	"s6":    {Name: "s6", Type: "hash:ip", Family: translator.IPv6, Dimension: 1},
	"sp":    {Name: "sp", Type: "bitmap:port", Dimension: 1},
	"flows": {Name: "flows", Type: "hash:ip,port", Family: translator.IPv4, Dimension: 2},
}

// How SET options print back; each checked against iptables-legacy.
func TestSETRoundTrip(t *testing.T) {
	tests := []struct{ table, chain, rule, save string }{
		// Only the first three letters of a direction count.
		{"filter", "INPUT", "-j SET --add-set s4 srcx,dstfoo", "-j SET --add-set s4 src,dst"},
		{"filter", "INPUT", "-j SET --add-set s4 src,src,src,src,src,src", ""},
		{"filter", "INPUT", "-j SET --add-set s4 src --del-set s4 dst --exist --timeout 10",
			"-j SET --add-set s4 src --exist --timeout 10 --del-set s4 dst"},
		{"filter", "INPUT", "-j SET --add-set s4 dst --timeout 0x10 --timeout 5", "-j SET --add-set s4 dst --timeout 5"},
		{"filter", "INPUT", "-j SET --add-set s4 dst --exist --exist", "-j SET --add-set s4 dst --exist"},
		{"filter", "INPUT", "-j SET --add-set s4 dst --timeout 4294967294", ""},
		// "!" is ignored, as iptables ignores it.
		{"filter", "INPUT", "-j SET ! --add-set s4 src", "-j SET --add-set s4 src"},
		{"mangle", "FORWARD", "-j SET --map-set s4 src --map-queue --map-prio --map-mark",
			"-j SET --map-set s4 src --map-mark --map-prio --map-queue"},
	}
	for _, tt := range tests {
		want := tt.save
		if want == "" {
			want = tt.rule
		}
		if got := savedRule(t, v4, tt.table, tt.chain, tt.rule); got != want {
			t.Errorf("%s\n saved as %s\n     want %s", tt.rule, got, want)
		}
	}
}

// iptables' refusals while parsing, in iptables 1.8.13's words.
func TestSETParseErrors(t *testing.T) {
	tests := []struct{ rule, msg string }{
		{"-j SET", "You must specify either `--add-set' or `--del-set' or `--map-set'"},
		{"-j SET --add-set s4", "--add-set requires two args."},
		{"-j SET --add-set s4 -p tcp", "--add-set requires two args."},
		{"-j SET --add-set s4 ! src", "--add-set requires two args."},
		{"-j SET --add-set s4 src --add-set s4 dst", "--add-set can be specified only once"},
		{"-j SET --add-set s4 src,", "You must specify (the comma separated list of) 'src' or 'dst'."},
		{"-j SET --del-set s4 source", "You must specify (the comma separated list of) 'src' or 'dst'."},
		{"-j SET --add-set s4 src,src,src,src,src,src,src", "Can't be more src/dst options than 6."},
		{"-j SET --add-set 0123456789012345678901234567890123 src",
			"setname `0123456789012345678901234567890123' too long, max 31 characters."},
		{"-j SET --del-set s4 dst --exist", "Flag `--exist' can be used with `--add-set' only"},
		{"-j SET --del-set s4 dst --timeout 5", "Option `--timeout' can be used with `--add-set' only"},
		{"-j SET --add-set s4 dst --timeout 4294967295", "Invalid value for option --timeout or out of range 0-4294967294"},
		{"-j SET --add-set s4 dst --timeout -1", "Invalid value for option --timeout or out of range 0-4294967294"},
		{"-j SET --map-set s4 src", "You must specify flags `--map-mark' or '--map-prio` or `--map-queue'"},
		{"-j SET --add-set s4 src --map-mark", "Flag `--map-mark' can be used with `--map-set' only"},
		{"-j SET --add-set s4 src --map-queue", "Flag `--map-queue' can be used with `--map-set' only"},
	}
	for _, tt := range tests {
		msg, kernel := natLoadError(v4, oneRule("filter", "INPUT", tt.rule), setTargetSets)
		if msg != tt.msg || kernel {
			t.Errorf("%s: got %q (kernel refusal: %v), want %q from iptables", tt.rule, msg, kernel, tt.msg)
		}
	}
}

// Sets must exist and be of the rule's family (iptables asks the kernel
// while parsing); --map-set only in mangle, and mapping the priority or
// queue only from FORWARD, OUTPUT and POSTROUTING.
func TestSETChecks(t *testing.T) {
	tests := []struct {
		fam   translator.Family
		input string
		objs  translator.Objects
		msg   string
	}{
		{v4, oneRule("filter", "INPUT", "-j SET --add-set s4 src"), setTargetSets, ""},
		{v4, oneRule("filter", "INPUT", "-j SET --add-set foo src,dst"), setTargetSets, "Set foo doesn't exist."},
		{v4, oneRule("filter", "INPUT", "-j SET --add-set foo src,dst"), nil, ""},
		{v4, oneRule("filter", "INPUT", "-j SET --add-set s4 src --del-set bar src"), setTargetSets, "Set bar doesn't exist."},
		{v4, oneRule("filter", "INPUT", "-j SET --add-set s6 src"), setTargetSets,
			"The protocol family of set s6 is IPv6, which is not applicable."},
		{v6, oneRule("filter", "INPUT", "-j SET --add-set s4 src"), setTargetSets,
			"The protocol family of set s4 is IPv4, which is not applicable."},
		{v6, oneRule("filter", "INPUT", "-j SET --add-set sp src"), setTargetSets, ""},
		{v4, oneRule("filter", "INPUT", "-j SET --map-set s4 src --map-mark"), setTargetSets,
			"SET target: --map-set only usable from mangle table"},
		{v4, oneRule("mangle", "INPUT", "-j SET --map-set s4 src --map-mark"), setTargetSets, ""},
		{v4, oneRule("mangle", "INPUT", "-j SET --map-set s4 src --map-prio"), setTargetSets,
			"SET target: mapping of prio or/and queue is allowed only from OUTPUT/FORWARD/POSTROUTING chains"},
		{v4, oneRule("mangle", "FORWARD", "-j SET --map-set s4 src --map-prio --map-queue"), setTargetSets, ""},
		{v4, "*mangle\n:q - [0:0]\n-A FORWARD -j q\n-A PREROUTING -j q\n-A q -j SET --map-set s4 dst --map-queue\nCOMMIT\n", setTargetSets,
			"SET target: mapping of prio or/and queue is allowed only from OUTPUT/FORWARD/POSTROUTING chains"},
		{v4, "*mangle\n:q - [0:0]\n-A FORWARD -j q\n-A POSTROUTING -j q\n-A q -j SET --map-set s4 dst --map-queue\nCOMMIT\n", setTargetSets, ""},
	}
	for _, tt := range tests {
		msg, kernel := natLoadError(tt.fam, tt.input, tt.objs)
		if msg != tt.msg || (msg != "" && !kernel) {
			t.Errorf("%s %q: got %q (refused at load: %v), want %q", tt.fam, tt.input, msg, kernel, tt.msg)
		}
	}
}

// recordingSets is the content of the sets during an evaluation: what
// was added and deleted, and elements to find, with their skbinfo.
type recordingSets struct {
	calls    []string
	elements map[string]xt.SkbInfo // "set key" -> skbinfo
}

func (s *recordingSets) Test(set string, key []translator.IPSetPart) bool {
	_, ok := s.elements[set+" "+fmt.Sprint(key)]
	return ok
}

func (s *recordingSets) Add(set string, key []translator.IPSetPart) {
	s.calls = append(s.calls, "add "+set+" "+fmt.Sprint(key))
}

func (s *recordingSets) Del(set string, key []translator.IPSetPart) {
	s.calls = append(s.calls, "del "+set+" "+fmt.Sprint(key))
}

func (s *recordingSets) SkbInfo(set string, key []translator.IPSetPart) (xt.SkbInfo, bool) {
	i, ok := s.elements[set+" "+fmt.Sprint(key)]
	return i, ok
}

// The elements are built from the packet, one part per direction given;
// the target never decides the packet's fate.
func TestSETApply(t *testing.T) {
	tcp := packet.Spec{Src: addr("192.0.2.7"), Dst: addr("198.51.100.1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22, TCPFlags: packet.SYN}
	ping := packet.Spec{Src: addr("192.0.2.7"), Dst: addr("198.51.100.1"), Proto: packet.ProtoICMP, ICMPType: 8, ICMPID: 1}
	tests := []struct {
		rule    string
		pkt     packet.Spec
		calls   []string
		effects []string
	}{
		{"-j SET --add-set flows src,dst", tcp,
			[]string{"add flows [{192.0.2.7 6 40000} {198.51.100.1 6 22}]"},
			[]string{"SET: add 192.0.2.7/tcp:40000,198.51.100.1/tcp:22 to flows"}},
		{"-j SET --add-set s4 dst --exist --timeout 600 --del-set flows dst,src", tcp,
			[]string{"add s4 [{198.51.100.1 6 22}]", "del flows [{198.51.100.1 6 22} {192.0.2.7 6 40000}]"},
			[]string{"SET: add 198.51.100.1/tcp:22 to s4 with timeout 600 (exist)", "SET: del 198.51.100.1/tcp:22,192.0.2.7/tcp:40000 from flows"}},
		// ICMP's "port" is type and code, whichever the direction.
		{"-j SET --add-set flows src,src", ping,
			[]string{"add flows [{192.0.2.7 1 2048} {192.0.2.7 1 2048}]"},
			[]string{"SET: add 192.0.2.7/icmp:2048,192.0.2.7/icmp:2048 to flows"}},
	}
	for _, tt := range tests {
		r := ruleOf(t, v4, "filter", "INPUT", tt.rule)
		sets := &recordingSets{}
		c, v := runTarget(r, v4, "filter", translator.Input, tt.pkt.Build(), sets)
		if v != translator.Continue || !reflect.DeepEqual(sets.calls, tt.calls) || !reflect.DeepEqual(effects(c), tt.effects) {
			t.Errorf("%s: %v\n calls %q\n effects %q\nwant CONTINUE\n calls %q\n effects %q", tt.rule, v, sets.calls, effects(c), tt.calls, tt.effects)
		}
	}
}

// --map-set applies the mark of the element the packet matches: the
// mask's bits are cleared and the mark is xored in, as the kernel does
// (here a mark bit outside the mask flips a bit the packet has).
// A packet that matches no element is left alone.
func TestSETMapMark(t *testing.T) {
	r := ruleOf(t, v4, "mangle", "FORWARD", "-j SET --map-set s4 src --map-mark --map-prio")
	sets := &recordingSets{elements: map[string]xt.SkbInfo{
		"s4 [{192.0.2.7 6 40000}]": {Mark: 0x10, MarkMask: 0x0f, Prio: 0x10002},
	}}
	for _, tt := range []struct {
		src     string
		mark    uint32
		effects []string
	}{
		{"192.0.2.7", 0x12345678, []string{"SET: map 192.0.2.7/tcp:40000 from s4: mark 0x12345660, priority 0x10002"}},
		{"192.0.2.8", 0x12345678, nil},
	} {
		p := packet.Spec{Src: addr(tt.src), Dst: addr("198.51.100.1"), Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22}.Build()
		p.Mark = 0x12345678
		c, v := runTarget(r, v4, "mangle", translator.Forward, p, sets)
		want := tt.mark
		if tt.effects != nil {
			want = 0x12345660
		}
		if v != translator.Continue || p.Mark != want || !reflect.DeepEqual(effects(c), tt.effects) {
			t.Errorf("from %s: %v mark %#x %q, want CONTINUE mark %#x %q", tt.src, v, p.Mark, effects(c), want, tt.effects)
		}
	}
}
