package xt_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

func TestChecksumErrors(t *testing.T) {
	for _, tc := range []struct{ table, args, want string }{
		{"mangle", `-j CHECKSUM`, `CHECKSUM: option "--checksum-fill" must be specified`},
		{"mangle", `-j CHECKSUM --checksum-fill --checksum-fill`, `CHECKSUM: option "--checksum-fill" can only be used once.`},
		{"filter", `-j CHECKSUM --checksum-fill`, `kernel: CHECKSUM target: only valid in mangle table, not filter`},
		{"raw", `-j CHECKSUM --checksum-fill`, `kernel: CHECKSUM target: only valid in mangle table, not raw`},
		// the kernel only warns when the rule is not limited to UDP
		{"mangle", `-p tcp -j CHECKSUM --checksum-fill`, ``},
	} {
		for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
			if got := tgErr(f, tc.table, "OUTPUT", tc.args); got != tc.want {
				t.Errorf("%s -t %s %s: got %q, want %q", f, tc.table, tc.args, got, tc.want)
			}
		}
	}
}

func TestChecksumApply(t *testing.T) {
	for _, fam := range tgFamilies {
		for _, proto := range []uint8{packet.ProtoUDP, packet.ProtoTCP} {
			name := fmt.Sprintf("%s %s", fam.f, translator.ProtoName(proto))
			r := tgRule(t, fam.f, "mangle", "POSTROUTING", "-j CHECKSUM --checksum-fill")
			s := packet.Spec{Src: fam.src, Dst: fam.dst, Proto: proto, SrcPort: 67, DstPort: 68, TCPFlags: packet.ACK, Payload: []byte("offer")}
			want := s.Bytes()
			csumAt := 40 + 6
			if !fam.src.Is6() {
				csumAt = 20 + 6
			}
			if proto == packet.ProtoTCP {
				csumAt += 10
			}

			// A checksum that is right is left alone.
			p := s.Build()
			v, c := tgJudge(r, fam.f, "mangle", "POSTROUTING", p)
			if v != translator.Continue || !bytes.Equal(p.Data, want) || len(c.Effects) != 0 {
				t.Errorf("%s, right checksum: %v, effects %q, bytes changed: %v", name, v, tgEffects(c), !bytes.Equal(p.Data, want))
			}

			// A pending one (here, the pseudo-header sum a device would
			// complete) is filled in.
			p = s.Build()
			binary.BigEndian.PutUint16(p.Data[csumAt:], 0x1234)
			v, c = tgJudge(r, fam.f, "mangle", "POSTROUTING", p)
			wantEffect := fmt.Sprintf("CHECKSUM: %s checksum 0x1234 -> 0x%04x", translator.ProtoName(proto), binary.BigEndian.Uint16(want[csumAt:]))
			if v != translator.Continue || !bytes.Equal(p.Data, want) || !slices.Equal(tgEffects(c), []string{wantEffect}) {
				t.Errorf("%s, pending checksum: %v, effects %q (want %q), bytes\n%x\nwant\n%x", name, v, tgEffects(c), wantEffect, p.Data, want)
			}
		}
	}
	// An IPv4 datagram sent without a UDP checksum keeps none.
	r := tgRule(t, translator.IPv4, "mangle", "POSTROUTING", "-j CHECKSUM --checksum-fill")
	p := packet.Spec{Src: tgAddr("192.0.2.1"), Dst: tgAddr("198.51.100.2"), Proto: packet.ProtoUDP, SrcPort: 1, DstPort: 2}.Build()
	binary.BigEndian.PutUint16(p.Data[26:], 0)
	if _, c := tgJudge(r, translator.IPv4, "mangle", "POSTROUTING", p); binary.BigEndian.Uint16(p.Data[26:]) != 0 || len(c.Effects) != 0 {
		t.Errorf("UDP without checksum got one: effects %q", tgEffects(c))
	}
}
