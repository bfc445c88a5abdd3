package xt_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

// ruleIn loads one rule, written as iptables-restore takes it after
// "-A CHAIN", into a table of the family and returns it: parsed, and
// checked as the kernel would with the given objects (nil checks no
// names).
func ruleIn(fam translator.Family, table, chain, args string, objs translator.Objects) (*translator.Rule, error) {
	in := "*" + table + "\n-A " + chain + " " + args + "\nCOMMIT\n"
	rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader(in), iptables.RestoreOptions{Objects: objs})
	if err != nil {
		return nil, err
	}
	return rs.Table(table).Chain(chain).Rules[0], nil
}

// mustRule is ruleIn that fails the test on error.
func mustRuleIn(t *testing.T, fam translator.Family, table, chain, args string) *translator.Rule {
	t.Helper()
	r, err := ruleIn(fam, table, chain, args, nil)
	if err != nil {
		t.Fatalf("%s: %v", args, err)
	}
	return r
}

// loadError returns the message of the error that refuses a rule, as
// iptables or the kernel's check words it, or "" if the rule loads.
func loadError(fam translator.Family, table, chain, args string, objs translator.Objects) string {
	_, err := ruleIn(fam, table, chain, args, objs)
	if err == nil {
		return ""
	}
	var ce *translator.CheckError
	if errors.As(err, &ce) {
		return ce.Msg
	}
	var ie *iptables.Error
	if errors.As(err, &ie) {
		return ie.Msg
	}
	return err.Error()
}

// judge evaluates the rule's matches on the packet, in order, as the
// kernel does: the first that fails ends the evaluation. It returns
// whether all matched and whether one hot-dropped the packet.
func judge(r *translator.Rule, fam translator.Family, p *packet.Packet) (matched, hotdrop bool) {
	c := &translator.Context{Packet: p, Family: fam}
	for _, m := range r.Matches {
		if !m.Match(c) {
			return false, c.HotDrop
		}
	}
	return true, c.HotDrop
}

var (
	v4a = netip.MustParseAddr("192.0.2.1")
	v4b = netip.MustParseAddr("198.51.100.7")
	v6a = netip.MustParseAddr("2001:db8::1")
	v6b = netip.MustParseAddr("2001:db8:1::7")
)

// udp4 is a UDP/IPv4 packet from v4a to v4b carrying payload.
func udp4Packet(payload string) *packet.Packet {
	return packet.Spec{Src: v4a, Dst: v4b, Proto: packet.ProtoUDP, SrcPort: 1024, DstPort: 53, Payload: []byte(payload)}.Build()
}

// tcp4 is a TCP/IPv4 packet from v4a to v4b.
func tcp4Packet(sport, dport uint16) *packet.Packet {
	return packet.Spec{Src: v4a, Dst: v4b, Proto: packet.ProtoTCP, SrcPort: sport, DstPort: dport, TCPFlags: packet.SYN}.Build()
}
