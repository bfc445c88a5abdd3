package live_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/bpf/state"
	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/live"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
)

// testLayout is a state layout of the test's own: a bpffs mounted under a
// temporary directory (unmounted at the end), so that the machine's state
// is never touched.
func testLayout(t *testing.T) state.Layout {
	dir := t.TempDir()
	l := state.Layout{BPFFS: filepath.Join(dir, "sys"), Run: filepath.Join(dir, "run")}
	if err := os.MkdirAll(l.BPFFS, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(l.Run, "bpffs"), unix.MNT_DETACH) })
	return l
}

// apply restores text onto the ruleset in force, as iptables-restore
// does, and makes the result the ruleset in force of the calling thread's
// namespace.
func apply(t *testing.T, opts live.Options, text string) (*live.Applied, error) {
	t.Helper()
	n, err := live.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cur, err := n.Ruleset(translator.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := iptables.Restore(cur, strings.NewReader(text), iptables.RestoreOptions{})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	return n.Apply(rs, live.ApplyOptions{})
}

// mustApply is apply for rulesets that must load.
func mustApply(t *testing.T, opts live.Options, text string) {
	t.Helper()
	res, err := apply(t, opts, text)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generation %d: %d rules, plan %v, generate %v, load %v, switch %v", res.Generation, res.Rules, res.Plan, res.Generate, res.Load, res.Switch)
}

// inForce reads the IPv4 ruleset in force, with its counters.
func inForce(t *testing.T, layout state.Layout) *translator.Ruleset {
	t.Helper()
	n, err := live.OpenReader(live.Options{Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	rs, err := n.Ruleset(translator.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// counts maps each rule of the filter table ("-A CHAIN spec") and each
// chain (":CHAIN") of the ruleset in force to its counters.
func counts(t *testing.T, layout state.Layout) map[string]translator.Counters {
	t.Helper()
	out := map[string]translator.Counters{}
	for _, c := range inForce(t, layout).Table("filter").Chains {
		out[":"+c.Name] = c.Counters
		for _, r := range c.Rules {
			out["-A "+c.Name+r.Spec(translator.IPv4)] = r.Counters
		}
	}
	return out
}

// udpProbe sends one datagram to the listener over lo and reports whether
// it arrived.
func udpProbe(t *testing.T, l *net.UDPConn) bool {
	t.Helper()
	c, err := net.DialUDP("udp", nil, l.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("probe")); err != nil {
		t.Fatal(err)
	}
	return udpRead(t, l)
}

// udpRead reports whether a datagram arrives at the listener within
// 200 ms.
func udpRead(t *testing.T, l *net.UDPConn) bool {
	t.Helper()
	_ = l.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 64)
	_, _, err := l.ReadFromUDP(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// loopbackNS returns a new namespace with lo up, and a state layout of the
// test's own.
func loopbackNS(t *testing.T) (*nettest.NS, state.Layout) {
	ns := nettest.NewNS(t)
	if out, err := ns.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return ns, testLayout(t)
}

// listenLoopback listens for UDP on 127.0.0.1 in the calling thread's
// namespace; the listener closes when the test ends.
func listenLoopback(t *testing.T) (*net.UDPConn, int) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.LocalAddr().(*net.UDPAddr).Port
}

func TestApplyJudgesAndCounts(t *testing.T) {
	ns, layout := loopbackNS(t)
	ns.Do(t, func() {
		l, port := listenLoopback(t)
		if !udpProbe(t, l) {
			t.Fatal("no ruleset: the datagram did not arrive")
		}
		drop := "-A INPUT -p udp -m udp --dport " + strconv.Itoa(port) + " -j DROP"
		mustApply(t, live.Options{Layout: layout}, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\n"+drop+"\nCOMMIT\n")
		for i := 0; i < 3; i++ {
			if udpProbe(t, l) {
				t.Fatalf("the DROP rule let a datagram through; counts %+v", counts(t, layout))
			}
		}
		c := counts(t, layout)
		if c[drop].Packets != 3 || c[drop].Bytes != 3*(20+8+5) {
			t.Fatalf("DROP rule counted %+v, want 3 packets of 33 bytes", c[drop])
		}
		// A new ruleset with the same DROP rule first: its counters carry
		// over; the INPUT policy and the new rule start from what they had.
		mustApply(t, live.Options{Layout: layout}, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p icmp -j ACCEPT\n"+drop+"\nCOMMIT\n")
		if udpProbe(t, l) {
			t.Fatal("after the swap the DROP rule let a datagram through")
		}
		if c := counts(t, layout); c[drop].Packets != 4 {
			t.Fatalf("after the swap the DROP rule counts %+v, want 4 packets", c[drop])
		}
		mustApply(t, live.Options{Layout: layout}, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
		if !udpProbe(t, l) {
			t.Fatal("with the rules gone, the datagram did not arrive")
		}
		if c := counts(t, layout); c[":INPUT"].Packets == 0 {
			t.Fatalf("the INPUT policy counted nothing: %+v", c)
		}
		if err := live.Reset(live.Options{Layout: layout}); err != nil {
			t.Fatal(err)
		}
		// Nothing of bpftables is left on the interfaces, as the kernel
		// reports them.
		n, err := live.OpenReader(live.Options{Layout: layout})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		st, err := n.Status()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Attachments) > 0 || st.Loaded {
			t.Fatalf("after reset: loaded %v, attachments %v", st.Loaded, st.Attachments)
		}
	})
}
