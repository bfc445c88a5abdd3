package e2e

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/xt"
)

// logExcluded lists the fields of a LOG line the comparison leaves out,
// with why. The kernel and the formatter see the very same bytes here, so
// nothing legitimately differs: the list is empty, and a field that ever
// has to join it must say why.
var logExcluded = map[string]string{}

// TestLogLinesMatchTheKernel logs the same packets with the same LOG rule
// in iptables-legacy and in bpftables (at tc, and with --xdp) and
// compares, field by field, the lines the kernel writes to its log with
// those `bpftables log` prints, and with what the formatter makes of the
// bytes sent (INPUT, where the capture's bytes are known exactly).
func TestLogLinesMatchTheKernel(t *testing.T) {
	nettest.RequireRoot(t)
	kmsg := openKmsg(t)
	logAllNetns(t)
	var nonce [4]byte
	rand.Read(nonce[:])
	tag := "bpftlog" + hex.EncodeToString(nonce[:])

	type logCase struct {
		name string
		fam  translator.Family
		hook translator.Hook
		rule string // the LOG target's options; --log-prefix comes from the name
		pkt  []byte
	}
	spec := func(hook translator.Hook, fam translator.Family, s packet.Spec) []byte {
		s.Src, s.Dst = nettest.Endpoints(hook, fam)
		return s.Bytes()
	}
	in, fwd, out := translator.Input, translator.Forward, translator.Output
	v4, v6 := translator.IPv4, translator.IPv6
	cases := []logCase{
		{"syn", v4, in, "--log-tcp-sequence --log-tcp-options",
			spec(in, v4, packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: packet.SYN, TOS: 0xb9,
				TCPOptions: []byte{2, 4, 5, 0xb4, 1, 1, 4, 2}})},
		{"ack", v4, in, "--log-level 6",
			spec(in, v4, packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40001, DstPort: 80, TCPFlags: packet.ACK | packet.PSH | packet.FIN, Payload: []byte("x")})},
		{"ipopt", v4, in, "--log-ip-options --log-level 7",
			withIPv4Options(spec(in, v4, packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5353, DstPort: 53, Payload: []byte("hello")}), []byte{1, 1, 1, 0})},
		{"ping", v4, in, "",
			spec(in, v4, packet.Spec{Proto: packet.ProtoICMP, ICMPType: 8, ICMPID: 77})},
		// (no fragments: INPUT sees them reassembled, ip_local_deliver)
		{"alert", v4, in, "--log-level 1",
			spec(in, v4, packet.Spec{Proto: packet.ProtoUDP, SrcPort: 9, DstPort: 9, TTL: 3, Payload: []byte("0123456789abcdef")})},
		{"fwd", v4, fwd, "--log-tcp-sequence",
			spec(fwd, v4, packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40002, DstPort: 443, TCPFlags: packet.SYN, TOS: 0x10})},
		{"out", v4, out, "--log-level 5",
			spec(out, v4, packet.Spec{Proto: packet.ProtoUDP, SrcPort: 1234, DstPort: 53, Payload: []byte("q")})},
		{"v6syn", v6, in, "--log-tcp-sequence --log-tcp-options --log-ip-options",
			spec(in, v6, packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40000, DstPort: 22, TCPFlags: packet.SYN, TOS: 0x28, TCPOptions: []byte{2, 4, 5, 0xa0}})},
		{"v6udp", v6, in, "--log-level 3",
			spec(in, v6, packet.Spec{Proto: packet.ProtoUDP, SrcPort: 5353, DstPort: 53, Payload: []byte("hi")})},
		{"v6ping", v6, in, "",
			spec(in, v6, packet.Spec{Proto: packet.ProtoICMPv6, ICMPType: 128, ICMPID: 99})},
		{"v6fwd", v6, fwd, "",
			spec(fwd, v6, packet.Spec{Proto: packet.ProtoUDP, SrcPort: 7, DstPort: 7, Payload: []byte("fwd")})},
		{"v6out", v6, out, "--log-tcp-options",
			spec(out, v6, packet.Spec{Proto: packet.ProtoTCP, SrcPort: 40003, DstPort: 80, TCPFlags: packet.SYN, TCPOptions: []byte{2, 4, 5, 0xa0}})},
	}

	// Each case has its topologies and its one rule, so that each rule
	// logs its own packet only. Each topology tags its first packet
	// alike (IPv4 identification or flow label 1).
	for i, c := range cases {
		prefix := fmt.Sprintf("%s-%s ", tag, c.name)
		src, dst := nettest.Endpoints(c.hook, c.fam)
		rule := fmt.Sprintf("-A %s -s %s -d %s -j LOG --log-prefix %q %s", c.hook, src, dst, prefix, c.rule)
		tg := logTarget(t, c.fam, c.hook, rule)
		ruleset := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" + rule + "\nCOMMIT\n"
		var v4text, v6text string
		if c.fam == translator.IPv6 {
			v6text = ruleset
		} else {
			v4text = ruleset
		}
		what := fmt.Sprintf("case %d (%s)", i, c.name)

		top := nettest.NewTopology(t, nettest.IptablesLegacy(v4text, v6text))
		v := top.Probe(t, c.hook, [][]byte{c.pkt})
		if !v.Passed(0) {
			t.Fatalf("%s: the packet did not pass", what)
		}
		lines := kmsg.lines(t, prefix)
		if len(lines) != 1 {
			t.Fatalf("%s: the kernel logged %d lines with prefix %q, want 1: %q", what, len(lines), prefix, lines)
		}
		kernel := lines[0]
		if kernel.level != int(tg.Level) {
			t.Errorf("%s: the kernel logged at level %d, the rule says %d", what, kernel.level, tg.Level)
		}
		if c.hook == translator.Input {
			sent := withProbeTag(c.pkt, v.Tags[0])
			proto := uint16(0x0800)
			if c.fam == translator.IPv6 {
				proto = 0x86dd
			}
			mac := append(append(append([]byte(nil), top.FirewallClientLink.MAC...), top.ClientLink.MAC...), byte(proto>>8), byte(proto))
			got := tg.Format(&xt.LogEvent{In: top.FirewallClientLink.Name, MAC: mac, Data: sent, IPv6: c.fam == translator.IPv6})
			compareLogFields(t, what+" formatted from the bytes sent", kernel.text, got)
		}

		for _, flags := range [][]string{nil, {"--xdp"}} {
			what := fmt.Sprintf("%s bpftables %v", what, flags)
			ours := nettest.NewTopology(t, Bpftables(v4text, v6text, flags...))
			v := ours.Probe(t, c.hook, [][]byte{c.pkt})
			if !v.Passed(0) {
				t.Fatalf("%s: the packet did not pass", what)
			}
			res := run(t, ours.Firewall, "", "log")
			if res.Status != 0 {
				t.Fatalf("%s: bpftables log: status %d: %s", what, res.Status, res.Stderr)
			}
			var got []string
			for _, l := range strings.Split(res.Stdout, "\n") {
				if lvl, text, ok := strings.Cut(l, ">"); ok && strings.HasPrefix(text, prefix) {
					if want := fmt.Sprintf("<%d", kernel.level); lvl != want {
						t.Errorf("%s: level %s>, the kernel's %s>", what, lvl, want)
					}
					got = append(got, text)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%s: bpftables log printed %d lines with prefix %q, want 1:\n%s", what, len(got), prefix, res.Stdout)
			}
			compareLogFields(t, what, kernel.text, got[0])
		}
	}
}

// compareLogFields compares two LOG lines field by field, leaving out
// the fields logExcluded names.
func compareLogFields(tb testing.TB, what, kernel, ours string) {
	tb.Helper()
	kf, of := logFields(kernel), logFields(ours)
	if len(kf) != len(of) {
		tb.Errorf("%s: %d fields, the kernel's line has %d\nkernel: %q\nours:   %q", what, len(of), len(kf), kernel, ours)
		return
	}
	for i := range kf {
		name, _, _ := strings.Cut(kf[i], "=")
		if _, skip := logExcluded[name]; skip {
			continue
		}
		if kf[i] != of[i] {
			tb.Errorf("%s: field %d is %q, the kernel's is %q\nkernel: %q\nours:   %q", what, i, of[i], kf[i], kernel, ours)
		}
	}
}

// logFields splits a LOG line into its space-separated fields; the
// kernel ends a line with a space that printk may drop.
func logFields(line string) []string { return strings.Fields(line) }

// logTarget parses the LOG target of one rule.
func logTarget(tb testing.TB, fam translator.Family, hook translator.Hook, rule string) *xt.Log {
	tb.Helper()
	rs, err := iptables.Restore(translator.NewRuleset(fam), strings.NewReader("*filter\n"+rule+"\nCOMMIT\n"), iptables.RestoreOptions{})
	if err != nil {
		tb.Fatalf("%s: %v", rule, err)
	}
	return rs.Table("filter").Chain(hook.String()).Rules[0].Target.(*xt.Log)
}

// withIPv4Options returns the IPv4 packet with the options inserted after
// its header, the lengths and the header checksum fixed.
func withIPv4Options(p, opts []byte) []byte {
	q := append(append(append([]byte(nil), p[:20]...), opts...), p[20:]...)
	q[0] = 0x40 | byte((20+len(opts))/4)
	binary.BigEndian.PutUint16(q[2:], uint16(len(q)))
	binary.BigEndian.PutUint16(q[10:], 0)
	binary.BigEndian.PutUint16(q[10:], packet.Checksum(q[:20+len(opts)], 0))
	return q
}

// withProbeTag returns the packet as a probe sent it: its tag in the IPv4
// identification or the IPv6 flow label (the IPv4 header checksum, which
// LOG does not print, left as it was).
func withProbeTag(p []byte, tag uint32) []byte {
	p = append([]byte(nil), p...)
	if p[0]>>4 == 6 {
		binary.BigEndian.PutUint32(p, binary.BigEndian.Uint32(p)&^0xfffff|tag)
	} else {
		binary.BigEndian.PutUint16(p[4:], uint16(tag))
	}
	return p
}

// logAllNetns lets the kernel's LOG target write from network namespaces
// other than the first (net.netfilter.nf_log_all_netns), restoring the
// setting when the test ends.
func logAllNetns(tb testing.TB) {
	tb.Helper()
	const path = "/proc/sys/net/netfilter/nf_log_all_netns"
	old, err := os.ReadFile(path)
	if err != nil {
		// the sysctl comes with nf_log_syslog's core, nf_log
		nettest.Skip(tb, "no %s: %v", path, err)
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		tb.Fatalf("setting %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			tb.Errorf("restoring %s: %v", path, err)
		}
	})
}

// kmsgReader reads the kernel log through /dev/kmsg from where it was
// opened on.
type kmsgReader struct{ fd int }

// kmsgLine is one record of the kernel log.
type kmsgLine struct {
	level int
	text  string
}

func openKmsg(tb testing.TB) *kmsgReader {
	tb.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		nettest.Skip(tb, "cannot read the kernel log: %v", err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		tb.Fatalf("seeking to the end of /dev/kmsg: %v", err)
	}
	return &kmsgReader{fd: fd}
}

// lines returns the records written since the last call whose text
// starts with prefix. LOG writes its line while the packet crosses the
// hook, before the probe's barrier, so every line is there when the probe
// returns.
func (k *kmsgReader) lines(tb testing.TB, prefix string) []kmsgLine {
	tb.Helper()
	var out []kmsgLine
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(k.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return out
		}
		if errors.Is(err, unix.EPIPE) {
			// records overwritten before we read them: go on with the
			// next one (ours are younger than the loss)
			continue
		}
		if err != nil {
			tb.Fatalf("reading /dev/kmsg: %v", err)
		}
		// "prio,seq,usec,flags[,...];text\n" then continuation lines
		rec := string(buf[:n])
		head, text, ok := strings.Cut(rec, ";")
		if !ok {
			continue
		}
		text, _, _ = strings.Cut(text, "\n")
		if !strings.HasPrefix(text, prefix) {
			continue
		}
		prio, _, _ := strings.Cut(head, ",")
		p, err := strconv.Atoi(prio)
		if err != nil {
			tb.Fatalf("/dev/kmsg record %q: %v", rec, err)
		}
		out = append(out, kmsgLine{level: p & 7, text: text})
	}
}

// TestNFLOGAndLogDrops: NFLOG events reach `bpftables log` tagged with
// their group; a ring buffer of one page (bpftables.conf log-buffer) that
// no reader empties keeps the first 11 events and counts the rest as
// dropped, which `bpftables status` and `bpftables log` report; the
// events and the counts survive a restore.
func TestNFLOGAndLogDrops(t *testing.T) {
	nettest.RequireRoot(t)
	conf := t.TempDir() + "/bpftables.conf"
	if err := os.WriteFile(conf, []byte("log-buffer = 4096\nlog-rate = 0 # no limit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BPFTABLES_CONFIG", conf)
	src, dst := nettest.Endpoints(translator.Input, translator.IPv4)
	rules := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		fmt.Sprintf("-A INPUT -s %s -j NFLOG --nflog-group 7 --nflog-prefix \"nf \"\n", src) + "COMMIT\n"
	top := nettest.NewTopology(t, Bpftables(rules, ""))
	const sent, kept = 30, 11 // 4096 bytes hold 11 events of 360
	var pkts []packet.Spec
	for i := 0; i < sent; i++ {
		pkts = append(pkts, packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: uint16(2000 + i), DstPort: 9})
	}
	v := top.Input(t, pkts)
	for i := range pkts {
		if !v.Passed(i) {
			t.Fatalf("packet %d did not pass", i)
		}
	}
	if res := run(t, top.Firewall, rules, "iptables-restore", "-w", "10"); res.Status != 0 {
		t.Fatalf("restoring again: status %d: %s", res.Status, res.Stderr)
	}
	st := run(t, top.Firewall, "", "status")
	want := fmt.Sprintf("log events dropped: %d as the ring buffer was full, 0 over the rate limit", sent-kept)
	if !strings.Contains(st.Stdout, want) {
		t.Errorf("bpftables status does not say %q:\n%s", want, st.Stdout)
	}
	res := run(t, top.Firewall, "", "log")
	if res.Status != 0 {
		t.Fatalf("bpftables log: status %d: %s", res.Status, res.Stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
	if len(lines) != kept {
		t.Fatalf("bpftables log printed %d lines, want %d:\n%s", len(lines), kept, res.Stdout)
	}
	for i, l := range lines {
		want := fmt.Sprintf("[nflog group 7] nf IN=eth0 OUT= MAC=02:00:00:00:00:21:02:00:00:00:00:11:08:00 SRC=%s DST=%s LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=%d PROTO=UDP SPT=%d DPT=9 LEN=8 ", src, dst, v.Tags[i], 2000+i)
		if l != want {
			t.Errorf("line %d:\n%q\nwant\n%q", i, l, want)
		}
	}
	if !strings.Contains(res.Stderr, fmt.Sprintf("%d events dropped as the ring buffer was full", sent-kept)) {
		t.Errorf("bpftables log does not report the drops: %q", res.Stderr)
	}
	// the reader took the events: the ring is empty, the count stays
	if res := run(t, top.Firewall, "", "log"); strings.TrimSpace(res.Stdout) != "" {
		t.Errorf("a second bpftables log printed:\n%s", res.Stdout)
	}
}
