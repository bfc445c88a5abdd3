package xt_test

import (
	"encoding/binary"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

func TestLengthSave(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: v4, in: "-m length --length 0x10:020", save: "-m length --length 16"},
		{fam: v4, in: "-m length ! --length 0:0", save: "-m length ! --length 0"},
		{fam: v4, in: "-m length --length 65535:", save: "-m length --length 65535"},
		{fam: v6, in: "-m length --length 40:1500", save: "-m length --length 40:1500"},
		{fam: v4, in: "-m length --length 1:2:3", err: `length: Too many components for option "--length" (max: 2)`},
		{fam: v4, in: "-m length --length 5x", err: `length: Argument to "--length" has unexpected characters near "x".`},
		{fam: v4, in: "-m length --length 65536", err: `length: bad value for option "--length" near "65536", or out of range (0-65535).`},
		{fam: v4, in: "-m length --length 5 --length 6", err: `length: option "--length" can only be used once.`},
	})
}

func TestLengthMatch(t *testing.T) {
	udp4 := func(payload int) *packet.Packet {
		return packet.Spec{Src: v4src, Dst: v4dst, Proto: packet.ProtoUDP, Payload: make([]byte, payload)}.Build()
	}
	udp6 := func(payload int) *packet.Packet {
		return packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoUDP, Payload: make([]byte, payload)}.Build()
	}
	// IPv4 counts the whole packet: 20 + 8 + payload.
	runEvalCases(t, mustRule(t, v4, "-m length --length 100:200"), []evalCase{
		{name: "99 bytes", pkt: udp4(71)},
		{name: "100 bytes", pkt: udp4(72), want: true},
		{name: "200 bytes", pkt: udp4(172), want: true},
		{name: "201 bytes", pkt: udp4(173)},
	})
	// IPv6 counts the payload length plus the fixed header.
	runEvalCases(t, mustRule(t, v6, "-m length ! --length 100"), []evalCase{
		{name: "100 bytes", family: v6, pkt: udp6(52)},
		{name: "101 bytes", family: v6, pkt: udp6(53), want: true},
	})
	// The kernel adds the 40 bytes in 16 bits: a 65535-byte payload length
	// wraps to 39.
	jumbo := packet.Spec{Src: v6src, Dst: v6dst, Proto: packet.ProtoUDP}.Bytes()
	binary.BigEndian.PutUint16(jumbo[4:], 65535)
	p, err := packet.Parse(jumbo)
	if err != nil {
		t.Fatal(err)
	}
	runEvalCases(t, mustRule(t, v6, "-m length --length 39"), []evalCase{
		{name: "payload length 65535", family: v6, pkt: p, want: true},
	})
}
