package xt_test

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

const tcpSYNOnly = `-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN`

func TestTCPMSSTargetParseSave(t *testing.T) {
	for _, tc := range []struct {
		f          translator.Family
		args, save string
	}{
		{translator.IPv4, `-p tcp --syn -j TCPMSS --set-mss 1000`, tcpSYNOnly + ` -j TCPMSS --set-mss 1000`},
		{translator.IPv4, `-p tcp --syn -j TCPMSS --set-mss 65515`, tcpSYNOnly + ` -j TCPMSS --set-mss 65515`},
		{translator.IPv6, `-p tcp --syn -j TCPMSS --set-mss 65495`, tcpSYNOnly + ` -j TCPMSS --set-mss 65495`},
		// both given: the later one wins, as in iptables
		{translator.IPv4, `-p tcp --syn -j TCPMSS --set-mss 100 --clamp-mss-to-pmtu`, tcpSYNOnly + ` -j TCPMSS --clamp-mss-to-pmtu`},
		{translator.IPv6, `-p tcp --syn -j TCPMSS --clamp-mss-to-pmtu --set-mss 100`, tcpSYNOnly + ` -j TCPMSS --set-mss 100`},
		// any tcp match that requires SYN will do
		{translator.IPv4, `-p tcp --tcp-flags ALL SYN,ACK -j TCPMSS --set-mss 100`, `-p tcp -m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG SYN,ACK -j TCPMSS --set-mss 100`},
	} {
		r := tgRule(t, tc.f, "mangle", "POSTROUTING", tc.args)
		if got := tgSave(r, tc.f); got != tc.save {
			t.Errorf("%s %s: saved as %q, want %q", tc.f, tc.args, got, tc.save)
		}
	}
}

func TestTCPMSSTargetErrors(t *testing.T) {
	for _, tc := range []struct {
		f            translator.Family
		table, chain string
		args, want   string
	}{
		{translator.IPv4, "mangle", "POSTROUTING", `-p tcp --syn -j TCPMSS`, `TCPMSS target: At least one parameter is required`},
		{translator.IPv4, "mangle", "POSTROUTING", `-p tcp --syn -j TCPMSS --set-mss 65516`, `TCPMSS: bad value for option "--set-mss", or out of range (0-65515).`},
		{translator.IPv6, "mangle", "POSTROUTING", `-p tcp --syn -j TCPMSS --set-mss 65496`, `TCPMSS: bad value for option "--set-mss", or out of range (0-65495).`},
		// the kernel's checks, as Linux 6.18 applies them
		{translator.IPv4, "mangle", "POSTROUTING", `-j TCPMSS --set-mss 100`, `kernel: TCPMSS target: only valid for protocol 6`},
		{translator.IPv6, "mangle", "POSTROUTING", `! -p tcp -j TCPMSS --set-mss 100`, `kernel: TCPMSS target: only valid for protocol 6`},
		{translator.IPv4, "mangle", "POSTROUTING", `-p tcp -j TCPMSS --set-mss 100`, `kernel: Only works on TCP SYN packets`},
		{translator.IPv4, "mangle", "POSTROUTING", `-p tcp ! --syn -j TCPMSS --set-mss 100`, `kernel: Only works on TCP SYN packets`},
		{translator.IPv6, "mangle", "POSTROUTING", `-p tcp --tcp-flags SYN,ACK ACK -j TCPMSS --set-mss 100`, `kernel: Only works on TCP SYN packets`},
		{translator.IPv4, "mangle", "PREROUTING", `-p tcp --syn -j TCPMSS --clamp-mss-to-pmtu`, `kernel: path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks`},
		{translator.IPv6, "filter", "INPUT", `-p tcp --syn -j TCPMSS --clamp-mss-to-pmtu`, `kernel: path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks`},
		// no table restriction, and a set MSS works in any hook
		{translator.IPv4, "filter", "INPUT", `-p tcp --syn -j TCPMSS --set-mss 1000`, ``},
		{translator.IPv4, "mangle", "PREROUTING", `-p tcp --syn -j TCPMSS --set-mss 1000`, ``},
		{translator.IPv6, "mangle", "FORWARD", `-p tcp --syn -j TCPMSS --clamp-mss-to-pmtu`, ``},
	} {
		if got := tgErr(tc.f, tc.table, tc.chain, tc.args); got != tc.want {
			t.Errorf("%s -t %s -A %s %s: got %q, want %q", tc.f, tc.table, tc.chain, tc.args, got, tc.want)
		}
	}
	// Clamping is refused in a user chain as soon as PREROUTING reaches it.
	for _, tc := range []struct {
		input string
		ok    bool
	}{
		{"*mangle\n:clamp - [0:0]\n-A clamp -p tcp --syn -j TCPMSS --clamp-mss-to-pmtu\nCOMMIT\n", true},
		{"*mangle\n:clamp - [0:0]\n-A FORWARD -j clamp\n-A clamp -p tcp --syn -j TCPMSS --clamp-mss-to-pmtu\nCOMMIT\n", true},
		{"*mangle\n:clamp - [0:0]\n-A PREROUTING -j clamp\n-A clamp -p tcp --syn -j TCPMSS --clamp-mss-to-pmtu\nCOMMIT\n", false},
	} {
		if _, err := tgLoad(translator.IPv4, tc.input); (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.input, err, tc.ok)
		}
	}
}

func TestTCPMSSTargetApply(t *testing.T) {
	mss := func(v uint16) []byte { return []byte{2, 4, byte(v >> 8), byte(v)} }
	opts := func(o ...[]byte) []byte { return slices.Concat(o...) }
	sackOK := []byte{1, 1, 4, 2}
	for _, tc := range []struct {
		name   string
		rule   string
		spec   packet.Spec // the segment, without addresses
		want   packet.Spec // what it becomes
		effect string      // "" for none; {def}: the default MSS of the family, {hdrs}: its header bytes
	}{
		{"lowered", `-j TCPMSS --set-mss 1400`,
			packet.Spec{TCPOptions: opts(mss(1460), sackOK)},
			packet.Spec{TCPOptions: opts(mss(1400), sackOK)},
			"TCPMSS: MSS 1460 -> 1400"},
		{"found after other options", `-j TCPMSS --set-mss 1200`,
			packet.Spec{TCPOptions: opts(sackOK, mss(1460))},
			packet.Spec{TCPOptions: opts(sackOK, mss(1200))},
			"TCPMSS: MSS 1460 -> 1200"},
		{"never raised", `-j TCPMSS --set-mss 1400`,
			packet.Spec{TCPOptions: mss(1300)},
			packet.Spec{TCPOptions: mss(1300)},
			""},
		{"added when missing, at most the default", `-j TCPMSS --set-mss 1400`,
			packet.Spec{TCPOptions: sackOK},
			packet.Spec{TCPOptions: opts(mss(0), sackOK)},
			"TCPMSS: MSS option {def} added"},
		{"added below the default", `-j TCPMSS --set-mss 500`,
			packet.Spec{},
			packet.Spec{TCPOptions: mss(500)},
			"TCPMSS: MSS option 500 added"},
		{"not added before a payload", `-j TCPMSS --set-mss 500`,
			packet.Spec{Payload: []byte("data")},
			packet.Spec{Payload: []byte("data")},
			""},
		{"clamped", `-j TCPMSS --clamp-mss-to-pmtu`,
			packet.Spec{TCPOptions: mss(1460)},
			packet.Spec{TCPOptions: mss(1460)},
			"TCPMSS: MSS clamped to the path MTU less {hdrs} bytes of headers"},
	} {
		for _, fam := range tgFamilies {
			t.Run(fmt.Sprintf("%s %s", tc.name, fam.f), func(t *testing.T) {
				r := tgRule(t, fam.f, "mangle", "FORWARD", "-p tcp --syn "+tc.rule)
				seg := func(s packet.Spec) packet.Spec {
					s.Src, s.Dst, s.Proto, s.SrcPort, s.DstPort, s.TCPFlags, s.ID = fam.src, fam.dst, packet.ProtoTCP, 40000, 443, packet.SYN, 7
					return s
				}
				def, hdrs := 536, 40
				if fam.f == translator.IPv6 {
					def, hdrs = 1220, 60
				}
				want := seg(tc.want)
				if slices.Equal(tc.want.TCPOptions[:min(4, len(tc.want.TCPOptions))], mss(0)) {
					// the option added carries the family's default MSS
					want.TCPOptions = opts(mss(uint16(def)), tc.want.TCPOptions[4:])
				}
				p := seg(tc.spec).Build()
				v, c := tgJudge(r, fam.f, "mangle", "FORWARD", p)
				if v != translator.Continue {
					t.Errorf("verdict %v, want CONTINUE", v)
				}
				if !bytes.Equal(p.Data, want.Bytes()) {
					t.Errorf("bytes\n%x\nwant\n%x", p.Data, want.Bytes())
				}
				if int(p.Len) != len(want.Bytes()) {
					t.Errorf("Len %d, want %d", p.Len, len(want.Bytes()))
				}
				var wantEffects []string
				if tc.effect != "" {
					wantEffects = []string{strings.NewReplacer("{def}", strconv.Itoa(def), "{hdrs}", strconv.Itoa(hdrs)).Replace(tc.effect)}
				}
				if got := tgEffects(c); !slices.Equal(got, wantEffects) {
					t.Errorf("effects %q, want %q", got, wantEffects)
				}
			})
		}
	}
}

func TestTCPMSSTargetMalformed(t *testing.T) {
	for _, fam := range tgFamilies {
		r := tgRule(t, fam.f, "mangle", "FORWARD", "-p tcp --syn -j TCPMSS --set-mss 1000")
		full := packet.Spec{Src: fam.src, Dst: fam.dst, Proto: packet.ProtoTCP, SrcPort: 1, DstPort: 2, TCPFlags: packet.SYN}.Bytes()
		// A TCP header cut short is dropped.
		p, err := packet.Parse(full[:len(full)-8])
		if err != nil {
			t.Fatal(err)
		}
		c := &translator.Context{Packet: p, Family: fam.f, Hook: translator.Forward, Table: "mangle"}
		if v := r.Target.Apply(c); v != translator.Drop {
			t.Errorf("%s: truncated header: %v, want DROP", fam.f, v)
		}
		// A later fragment has no header to change and goes on untouched.
		frag := packet.Spec{Src: fam.src, Dst: fam.dst, Proto: packet.ProtoTCP, FragOffset: 8, Payload: make([]byte, 24)}.Build()
		before := slices.Clone(frag.Data)
		c = &translator.Context{Packet: frag, Family: fam.f, Hook: translator.Forward, Table: "mangle"}
		if v := r.Target.Apply(c); v != translator.Continue || !bytes.Equal(frag.Data, before) || len(c.Effects) != 0 {
			t.Errorf("%s: fragment: %v, effects %q", fam.f, v, tgEffects(c))
		}
	}
}
