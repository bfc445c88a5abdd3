package e2e

import (
	"regexp"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
)

// TestRestoreSemanticsAsIptablesLegacy runs the same sequence of restores
// - full, --noflush appends, a :CHAIN line flushing a chain, deletes and
// inserts, -T, -c - with iptables-legacy and with bpftables, each in a
// namespace of its own, and requires iptables-save to print the same after
// every step (with -c where the counters come from the input).
func TestRestoreSemanticsAsIptablesLegacy(t *testing.T) {
	nettest.RequireRoot(t)
	nettest.RequireTool(t, "iptables-legacy-restore")
	legacy, ours := nettest.NewNS(t), nettest.NewNS(t)
	t.Cleanup(func() { run(t, ours, "", "reset", "-w", "10") })
	steps := []struct {
		name     string
		flags    []string
		input    string
		counters bool // compare iptables-save -c
	}{
		{"full", nil, `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:X - [0:0]
:Y - [0:0]
-A FORWARD -s 10.0.0.0/8 -j X
-A FORWARD -p udp -m udp --dport 53 -j ACCEPT
-A X -p tcp -m tcp --dport 22 -j ACCEPT
-A X -j Y
-A Y -j RETURN
COMMIT
`, false},
		{"noflush append", []string{"-n"}, "*filter\n-A FORWARD -p tcp -j ACCEPT\nCOMMIT\n", false},
		{"noflush chain line flushes the chain", []string{"--noflush"}, "*filter\n:X - [0:0]\n-A X -p udp -j DROP\nCOMMIT\n", false},
		{"noflush delete and insert", []string{"-n"}, "*filter\n-D FORWARD -p tcp -j ACCEPT\n-I FORWARD 1 -s 10.0.0.1/32 -j DROP\n-A Y -p icmp -j ACCEPT\nCOMMIT\n", false},
		{"noflush new chain and policy", []string{"-n"}, "*filter\n:Z - [0:0]\n:FORWARD ACCEPT [0:0]\n-A Z -j DROP\n-A FORWARD -d 192.0.2.9/32 -j Z\nCOMMIT\n", false},
		{"-T skips other tables", []string{"-T", "filter"}, "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -p tcp -j ACCEPT\nCOMMIT\n", false},
		{"-c sets counters", []string{"-c"}, "*filter\n:INPUT ACCEPT [7:700]\n:FORWARD DROP [3:300]\n:OUTPUT ACCEPT [0:0]\n[5:250] -A FORWARD -p tcp -j ACCEPT\n[9:900] -A FORWARD -p udp -j ACCEPT\nCOMMIT\n", true},
		{"full restore replaces", nil, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p sctp -j DROP\nCOMMIT\n", false},
	}
	strip := regexp.MustCompile(`(?m)^#.*\n`)
	noCounters := regexp.MustCompile(`\[\d+:\d+\]`)
	for _, s := range steps {
		want := legacy.Run(t, s.input, "iptables-legacy-restore", append([]string{"-w", "10"}, s.flags...)...)
		got := run(t, ours, s.input, append([]string{"iptables-restore", "-w", "10"}, s.flags...)...)
		if want.Status != 0 || got.Status != 0 {
			t.Fatalf("%s: iptables-legacy-restore status %d (%s), bpftables status %d (%s)", s.name, want.Status, want.Stderr, got.Status, got.Stderr)
		}
		saveArgs := []string{}
		if s.counters {
			saveArgs = []string{"-c"}
		}
		ws := legacy.Run(t, "", "iptables-legacy-save", saveArgs...)
		gs := run(t, ours, "", append([]string{"iptables-save"}, saveArgs...)...)
		w, g := strip.ReplaceAllString(ws.Stdout, ""), strip.ReplaceAllString(gs.Stdout, "")
		if !s.counters {
			w, g = noCounters.ReplaceAllString(w, ""), noCounters.ReplaceAllString(g, "")
		}
		if w != g {
			t.Fatalf("%s: iptables-save differs\niptables-legacy:\n%s\nbpftables:\n%s", s.name, w, g)
		}
	}
}
