package xt_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// rtPacket is an IPv6 UDP packet behind a routing header of the given type
// and segments left carrying the addresses.
func rtPacket(typ, segsLeft uint8, reserved uint32, addrs ...string) *packet.Packet {
	base := packet.Spec{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}.Bytes()
	rh := make([]byte, 8+16*len(addrs))
	rh[0] = packet.ProtoUDP
	rh[1] = uint8(2 * len(addrs)) // length in 8-byte units after the first 8
	rh[2], rh[3] = typ, segsLeft
	binary.BigEndian.PutUint32(rh[4:], reserved)
	for i, a := range addrs {
		copy(rh[8+16*i:], netip.MustParseAddr(a).AsSlice())
	}
	d := append(append(append([]byte(nil), base[:40]...), rh...), base[40:]...)
	d[6] = 43
	binary.BigEndian.PutUint16(d[4:], uint16(len(d)-40))
	p, err := packet.Parse(d)
	if err != nil {
		panic(err)
	}
	return p
}

func TestRT(t *testing.T) {
	plain := packet.Spec{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: packet.ProtoUDP}.Build()
	tests := []struct {
		rule string
		p    *packet.Packet
		want bool
	}{
		{"-m rt --rt-type 0", rtPacket(0, 1, 0, "2001:db8::9"), true},
		{"-m rt --rt-type 0", rtPacket(2, 1, 0, "2001:db8::9"), false},
		{"-m rt --rt-type 0", plain, false}, // no routing header
		{"-m rt ! --rt-type 0", plain, false},
		{"-m rt ! --rt-type 0", rtPacket(2, 1, 0, "2001:db8::9"), true},
		{"-m rt --rt-segsleft 2:5", rtPacket(0, 3, 0, "2001:db8::9"), true},
		{"-m rt ! --rt-segsleft 2:5", rtPacket(0, 3, 0, "2001:db8::9"), false},
		{"-m rt --rt-len 24", rtPacket(0, 1, 0, "2001:db8::9"), true},
		{"-m rt --rt-len 40", rtPacket(0, 1, 0, "2001:db8::9"), false},
		{"-m rt --rt-type 0 --rt-0-res", rtPacket(0, 1, 7, "2001:db8::9"), false},
		{"-m rt --rt-type 0 --rt-0-res", rtPacket(0, 1, 0, "2001:db8::9"), true},
		{"-m rt --rt-type 0 --rt-0-addrs 2001:db8::9,2001:db8::a", rtPacket(0, 2, 0, "2001:db8::9", "2001:db8::a"), true},
		{"-m rt --rt-type 0 --rt-0-addrs 2001:db8::9", rtPacket(0, 2, 0, "2001:db8::9", "2001:db8::a"), false}, // strict: all of them
		{"-m rt --rt-type 0 --rt-0-addrs 2001:db8::a --rt-0-not-strict", rtPacket(0, 2, 0, "2001:db8::9", "2001:db8::a"), true},
	}
	for _, tt := range tests {
		r := mustRule(t, translator.IPv6, tt.rule)
		if got, _ := matchRule(r, translator.IPv6, tt.p); got != tt.want {
			t.Errorf("%s: matched %v, want %v", tt.rule, got, tt.want)
		}
	}
}

func TestRTParse(t *testing.T) {
	runSaveCases(t, []saveCase{
		{fam: translator.IPv6, in: "-m rt --rt-type 0 --rt-0-addrs 2001:DB8::9,::1.2.3.4 --rt-0-not-strict", save: "-m rt --rt-type 0 --rt-0-addrs 2001:db8::9,::1.2.3.4 --rt-0-not-strict"},
		{fam: translator.IPv6, in: "-m rt --rt-0-res", err: "`--rt-type 0' required before `--rt-0-res'"},
		{fam: translator.IPv6, in: "-m rt ! --rt-type 0 --rt-0-addrs ::1", err: "`--rt-type 0' required before `--rt-0-addrs'"},
		{fam: translator.IPv6, in: "-m rt --rt-type 0 --rt-0-not-strict", err: "`--rt-0-addr ...' required before `--rt-0-not-strict'"},
		{fam: translator.IPv6, in: "-m rt --rt-type 0 --rt-0-addrs nothost", err: "bad address: nothost"},
	})
}
