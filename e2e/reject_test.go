package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
)

// rejectFirewall answers TCP connections to one port per hook with a
// reset, and lets everything else through.
const rejectFirewall = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 8181 -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp -m tcp --dport 8182 -j REJECT --reject-with tcp-reset
-A OUTPUT -p tcp -m tcp --dport 8183 -j REJECT --reject-with tcp-reset
COMMIT
`

// TestRejectResetAsIptablesLegacy connects with real sockets to ports
// that REJECT --reject-with tcp-reset guards at INPUT (client to the
// firewall), FORWARD (client to server), OUTPUT (the firewall to the
// server, and to itself through lo), in iptables-legacy and bpftables,
// IPv4 and IPv6, a listener waiting on each: every connect must fail at
// once with ECONNREFUSED (a reset, not a timeout: the dial's own timeout
// is long, and a dropped SYN would end in it), while a port no rule
// names connects. The REJECT rules count one packet each as iptables
// does (the SYN; the kernel retries nothing after a reset). REJECT at
// XDP is refused with the datapath's message.
func TestRejectResetAsIptablesLegacy(t *testing.T) {
	nettest.RequireRoot(t)
	want := []string{"refused", "refused", "refused", "refused", "connected"}
	for _, fam := range []translator.Family{translator.IPv4, translator.IPv6} {
		v4, v6, cmd := rejectFirewall, "", "iptables"
		if fam == translator.IPv6 {
			v4, v6, cmd = "", rejectFirewall, "ip6tables"
		}
		for _, s := range []struct {
			name  string
			setup nettest.Setup
			save  string
		}{
			{"iptables-legacy", nettest.IptablesLegacy(v4, v6), cmd + "-legacy-save"},
			{"bpftables", Bpftables(v4, v6), ""},
		} {
			topo := nettest.NewTopology(t, s.setup)
			loopback := netip.MustParseAddr("127.0.0.1")
			if fam == translator.IPv6 {
				loopback = netip.IPv6Loopback()
			}
			server := topo.ServerLink.Addr(fam)
			got := []string{
				connectOutcome(t, topo.Client, topo.Firewall, topo.FirewallClientLink.Addr(fam), 8181),
				connectOutcome(t, topo.Client, topo.Server, server, 8182),
				connectOutcome(t, topo.Firewall, topo.Server, server, 8183),
				connectOutcome(t, topo.Firewall, topo.Firewall, loopback, 8183),
				connectOutcome(t, topo.Client, topo.Server, server, 8184),
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s %s: outcomes %q, want %q", fam, s.name, got, want)
			}
			var saved string
			if s.save != "" {
				saved = topo.Firewall.Run(t, "", s.save, "-c").Stdout
			} else {
				saved = run(t, topo.Firewall, "", cmd+"-save", "-c").Stdout
			}
			for _, rule := range []string{"--dport 8181", "--dport 8182"} {
				if !strings.Contains(saved, "[1:") || !savedCount(saved, rule, "[1:") {
					t.Errorf("%s %s: the rule with %s did not count one packet:\n%s", fam, s.name, rule, saved)
				}
			}
			// OUTPUT: one SYN to the server, one to itself
			if !savedCount(saved, "--dport 8183", "[2:") {
				t.Errorf("%s %s: the OUTPUT rule did not count two packets:\n%s", fam, s.name, saved)
			}
			if s.name == "bpftables" {
				res := run(t, topo.Firewall, rejectFirewall, cmd+"-restore", "--xdp")
				if res.Status != 1 || !strings.Contains(res.Stderr, "REJECT' at XDP (--xdp) is not yet supported in the datapath") {
					t.Errorf("%s: REJECT with --xdp: status %d, %s; want it refused", fam, res.Status, res.Stderr)
				}
			}
		}
	}
}

// savedCount reports whether the iptables-save -c line with the rule
// begins with the counter prefix.
func savedCount(saved, rule, prefix string) bool {
	for _, l := range strings.Split(saved, "\n") {
		if strings.Contains(l, rule) {
			return strings.HasPrefix(l, prefix)
		}
	}
	return false
}

// connectOutcome listens in the namespace to and connects from the
// namespace from: "connected", "refused" (ECONNREFUSED: a reset came
// back), or the error.
func connectOutcome(t *testing.T, from, to *nettest.NS, addr netip.Addr, port int) string {
	t.Helper()
	hostport := net.JoinHostPort(addr.String(), strconv.Itoa(port))
	var ln net.Listener
	if err := to.Within(func() (err error) {
		ln, err = net.Listen("tcp", hostport)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := ""
	if err := from.Within(func() error {
		// long enough that only a reset ends it early on a loaded machine
		c, err := net.DialTimeout("tcp", hostport, 20*time.Second)
		switch {
		case err == nil:
			c.Close()
			out = "connected"
		case errors.Is(err, syscall.ECONNREFUSED):
			out = "refused"
		default:
			out = err.Error()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
