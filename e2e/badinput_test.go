package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// goodRuleset forwards UDP to port 5000 and nothing else.
const goodRuleset = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -p udp -m udp --dport 5000 -j ACCEPT
COMMIT
`

// inForce checks that the good ruleset judges traffic: UDP to 5000 passes,
// to 6000 is dropped; and returns what iptables-save prints without its
// dated comments and the policy counters (the probes count there).
func inForce(t *testing.T, topo *nettest.Topology, when string) string {
	t.Helper()
	src, dst := nettest.Endpoints(translator.Forward, translator.IPv4)
	v := topo.Forward(t, []packet.Spec{
		{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 5000},
		{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 6000},
	})
	if !v.Passed(0) || v.Passed(1) {
		t.Fatalf("%s: the ruleset in force is not the good one: %s", when, v)
	}
	res := run(t, topo.Firewall, "", "iptables-save")
	if res.Status != 0 {
		t.Fatalf("%s: iptables-save: status %d: %s", when, res.Status, res.Stderr)
	}
	out := regexp.MustCompile(`(?m)^#.*\n`).ReplaceAllString(res.Stdout, "")
	return regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(out, "[]")
}

// deepChains is a ruleset whose jumps nest deeper than the tail-call
// limit lets the datapath follow.
func deepChains(n int) string {
	var b strings.Builder
	b.WriteString("*filter\n:FORWARD DROP [0:0]\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, ":C%d - [0:0]\n", i)
	}
	b.WriteString("-A FORWARD -j C0\n")
	for i := 0; i+1 < n; i++ {
		fmt.Fprintf(&b, "-A C%d -p udp -j C%d\n-A C%d -p tcp -j C%d\n", i, i+1, i, i+1)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// TestBadInputKeepsRulesetInForce feeds bpftables each kind of input it
// must refuse - a parse error, an unknown extension, a loop, a match,
// target or table the datapath does not run yet, jumps nested past the
// tail-call limit, an unprivileged caller, a lock held by another writer
// - and requires iptables' exit status, a message that says what is
// wrong, and the ruleset in force untouched: the same traffic verdicts and
// the same iptables-save output before and after.
func TestBadInputKeepsRulesetInForce(t *testing.T) {
	nettest.RequireRoot(t)
	nettest.RequireTool(t, "setpriv")
	nettest.RequireTool(t, "flock")
	topo := nettest.NewTopology(t, Bpftables(goodRuleset, ""))
	saved := inForce(t, topo, "before")

	cases := []struct {
		name   string
		input  string
		cmd    []string // default: iptables-restore
		status int
		stderr []string // every one must appear
	}{
		{name: "parse error", status: 2,
			input:  "*filter\n-A FORWARD -p udp --dport 5000 -j ACCEPT --bogus\nCOMMIT\n",
			stderr: []string{`unknown option "--bogus"`, "Error occurred at line: 2"}},
		{name: "unknown match", status: 2,
			input:  "*filter\n-A FORWARD -m nosuchmatch -j ACCEPT\nCOMMIT\n",
			stderr: []string{"Couldn't load match `nosuchmatch'"}},
		{name: "loop", status: 1,
			input:  "*filter\n:A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j B\n-A B -j A\nCOMMIT\n",
			stderr: []string{"loop", "failed"}},
		{name: "stateful match", status: 1,
			input:  "*filter\n-A FORWARD -p udp -j ACCEPT\n-A FORWARD -m conntrack --ctstate ESTABLISHED --ctexpire 10:20 -j ACCEPT\nCOMMIT\n",
			stderr: []string{"line 3", "conntrack", "--ctexpire is not yet supported in the datapath", "line 3 failed"}},
		{name: "stateful match option", status: 1,
			input:  "*filter\n-A INPUT -m connmark --mark 1 -j ACCEPT\nCOMMIT\n",
			stderr: []string{"line 2", "connmark", "not yet supported in the datapath", "line 2 failed"}},
		{name: "target", status: 1,
			input:  "*filter\n-A FORWARD -p tcp -j ACCEPT\n-A FORWARD -p udp -j SET --add-set blocked src\nCOMMIT\n",
			stderr: []string{"line 3", "target `SET' is not yet supported in the datapath", "line 3 failed"}},
		{name: "table", status: 1,
			input:  "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n",
			stderr: []string{"line 5", "table `nat'", "not yet supported in the datapath"}},
		{name: "tail-call depth", status: 1,
			input:  deepChains(300),
			stderr: []string{"chain FORWARD", "tail-call limit"}},
		{name: "unprivileged", status: 4,
			input:  "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n",
			cmd:    []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin, "iptables-restore"},
			stderr: []string{"must be root"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var res nettest.Result
			if c.cmd != nil {
				res = topo.Firewall.Run(t, c.input, c.cmd[0], c.cmd[1:]...)
			} else {
				res = run(t, topo.Firewall, c.input, "iptables-restore")
			}
			t.Logf("status %d, stderr:\n%s", res.Status, res.Stderr)
			if res.Status != c.status {
				t.Errorf("status %d, want %d", res.Status, c.status)
			}
			for _, s := range c.stderr {
				if !strings.Contains(res.Stderr, s) {
					t.Errorf("stderr lacks %q", s)
				}
			}
			if got := inForce(t, topo, "after"); got != saved {
				t.Errorf("iptables-save changed:\n%s\nwas:\n%s", got, saved)
			}
		})
	}

	t.Run("lock held", func(t *testing.T) {
		// Another writer holds the namespace's lock (flock, as bpftables
		// takes it): without -w the restore fails at once, with -w 1 after
		// a second, both with iptables' message and status 4.
		status := run(t, topo.Firewall, "", "status")
		var cookie string
		if _, err := fmt.Sscanf(status.Stdout, "network namespace %s", &cookie); err != nil {
			t.Fatalf("status: %v\n%s", err, status.Stdout)
		}
		cookie = strings.TrimSuffix(cookie, ",")
		holder := exec.Command("flock", "/run/bpftables/lock/"+cookie, "sleep", "30")
		holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // sleep holds the lock too
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL)
			_ = holder.Wait()
		}()
		for i := 0; ; i++ {
			if exec.Command("flock", "-n", "/run/bpftables/lock/"+cookie, "true").Run() != nil {
				break // held
			}
			if i > 200 {
				t.Fatal("the holder never took the lock")
			}
			time.Sleep(10 * time.Millisecond)
		}
		res := run(t, topo.Firewall, "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n", "iptables-restore")
		if res.Status != 4 || !strings.Contains(res.Stderr, "Another app is currently holding the xtables lock. Perhaps you want to use the -w option?") {
			t.Errorf("without -w: status %d, stderr %q", res.Status, res.Stderr)
		}
		start := time.Now()
		res = run(t, topo.Firewall, "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n", "iptables-restore", "-w", "1")
		if waited := time.Since(start); res.Status != 4 || waited < time.Second || !strings.Contains(res.Stderr, "Stopped waiting after 1s.") {
			t.Errorf("with -w 1: status %d after %v, stderr %q", res.Status, waited, res.Stderr)
		}
		if got := inForce(t, topo, "after the lock"); got != saved {
			t.Errorf("iptables-save changed:\n%s\nwas:\n%s", got, saved)
		}
	})

	// The datapath still takes a good change.
	res := run(t, topo.Firewall, strings.Replace(goodRuleset, "--dport 5000", "--dport 6000", 1), "iptables-restore")
	if res.Status != 0 {
		t.Fatalf("a good ruleset after the bad ones: status %d: %s", res.Status, res.Stderr)
	}
	src, dst := nettest.Endpoints(translator.Forward, translator.IPv4)
	v := topo.Forward(t, []packet.Spec{{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: 4000, DstPort: 6000}})
	if !v.Passed(0) {
		t.Fatalf("the new ruleset is not in force: %s", v)
	}
}
