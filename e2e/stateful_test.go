package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
)

// statefulFirewall lets the client open connections to the server and
// nothing the other way: replies and ICMP errors about the client's
// flows come back as ESTABLISHED and RELATED. The firewall itself may
// open connections out, and to itself on port 8082 only.
const statefulFirewall = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -p tcp -m tcp --dport 8082 -m state --state NEW -j ACCEPT
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -i eth0 -o eth1 -m state --state NEW -j ACCEPT
COMMIT
`

// TestStatefulFirewallAsIptablesLegacy runs one scenario through the
// stateful firewall in iptables-legacy and in bpftables (tc, and XDP for
// IPv4), with real sockets in the client and server namespaces: a TCP
// connection client to server (allowed, data both ways), server to
// client (dropped), a UDP query and its reply, a UDP flow the server
// starts (dropped), and a UDP packet to a closed port, whose ICMP port
// unreachable error must come back as RELATED (the client's socket sees
// ECONNREFUSED); the same for the firewall's own connections (OUTPUT,
// and INPUT for the replies), and connections to itself through the
// loopback device, tracked on the way out and judged again coming in;
// and a connection that must survive a restore. The outcomes must be
// those expected, and the same in both.
func TestStatefulFirewallAsIptablesLegacy(t *testing.T) {
	nettest.RequireRoot(t)
	want := []string{"echoed", "no connection", "reply", "nothing", "refused",
		"echoed", "no connection", "refused", "echoed", "no connection", "survived"}
	for _, fam := range []translator.Family{translator.IPv4, translator.IPv6} {
		v4, v6 := statefulFirewall, ""
		if fam == translator.IPv6 {
			v4, v6 = "", statefulFirewall
		}
		// a restore of another ruleset in the middle of a connection
		cmd := familyCommand(fam)
		again := statefulFirewall[:len(statefulFirewall)-len("COMMIT\n")] + "-A FORWARD -p udp -m udp --dport 9 -j DROP\nCOMMIT\n"
		type setup struct {
			name    string
			setup   nettest.Setup
			restore func(*testing.T, *nettest.Topology)
		}
		legacyRestore := func(t *testing.T, topo *nettest.Topology) {
			if res := topo.Firewall.Run(t, again, cmd+"-legacy-restore"); res.Status != 0 {
				t.Fatalf("%s-legacy-restore: %s", cmd, res.Stderr)
			}
		}
		ourRestore := func(t *testing.T, topo *nettest.Topology) {
			if res := run(t, topo.Firewall, again, cmd+"-restore", "-w", "10"); res.Status != 0 {
				t.Fatalf("bpftables %s-restore: %s", cmd, res.Stderr)
			}
		}
		setups := []setup{
			{"iptables-legacy", nettest.IptablesLegacy(v4, v6), legacyRestore},
			{"bpftables", Bpftables(v4, v6), ourRestore},
		}
		if fam == translator.IPv4 {
			setups = append(setups, setup{"bpftables --xdp", Bpftables(v4, v6, "--xdp"), ourRestore})
		}
		for _, s := range setups {
			topo := nettest.NewTopology(t, s.setup)
			got := statefulScenario(t, topo, fam)
			got = append(got, tcpAcrossRestore(t, topo, fam, func() { s.restore(t, topo) }))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s %s: outcomes %q, want %q", fam, s.name, got, want)
			}
			if s.name == "iptables-legacy" {
				continue
			}
			// the fill level: the scenario's connections are in the table
			st := run(t, topo.Firewall, "", "status").Stdout
			m := regexp.MustCompile(`connection table: (\d+) of 65536 entries in use`).FindStringSubmatch(st)
			if m == nil || m[1] == "0" || !strings.Contains(st, fam.String()+": generation") || !strings.Contains(st, "tracks connections") {
				t.Errorf("%s %s: bpftables status does not report the connection table in use:\n%s", fam, s.name, st)
			}
		}
	}
}

// statefulScenario runs the scenario's steps and returns their outcomes.
func statefulScenario(t *testing.T, topo *nettest.Topology, fam translator.Family) []string {
	client, server := topo.ClientLink.Addr(fam), topo.ServerLink.Addr(fam)
	loopback := loopbackAddr(fam)
	return []string{
		tcpOutcome(t, topo.Client, topo.Server, server, 8080),
		tcpOutcome(t, topo.Server, topo.Client, client, 8081),
		udpOutcome(t, topo.Client, topo.Server, server, 5300, true),
		udpOutcome(t, topo.Server, topo.Client, client, 5301, true),
		udpOutcome(t, topo.Client, topo.Server, server, 5302, false),
		// the firewall's own traffic: OUTPUT, and INPUT for what comes back
		tcpOutcome(t, topo.Firewall, topo.Server, server, 8083),
		tcpOutcome(t, topo.Server, topo.Firewall, topo.FirewallServerLink.Addr(fam), 8084),
		udpOutcome(t, topo.Firewall, topo.Server, server, 5303, false),
		// through the loopback device: OUTPUT, then INPUT from lo
		tcpOutcome(t, topo.Firewall, topo.Firewall, loopback, 8082),
		tcpOutcome(t, topo.Firewall, topo.Firewall, loopback, 8085),
	}
}

// tcpAcrossRestore opens a connection client to server, exchanges a
// line, restores a ruleset in the firewall, and has the server send the
// next line: "survived" when it arrives. The server speaks first after
// the restore, so that a connection table lost with the old ruleset
// would show: its packet would be NEW from the server's side.
func tcpAcrossRestore(t *testing.T, topo *nettest.Topology, fam translator.Family, restore func()) string {
	t.Helper()
	hostport := net.JoinHostPort(topo.ServerLink.Addr(fam).String(), "8090")
	var ln net.Listener
	if err := topo.Server.Within(func() (err error) {
		ln, err = net.Listen("tcp", hostport)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	restored := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.CopyN(c, c, 7); err != nil {
			return
		}
		<-restored
		c.Write([]byte("after\n"))
		io.Copy(io.Discard, c)
	}()
	var c net.Conn
	if err := topo.Client.Within(func() (err error) {
		c, err = net.DialTimeout("tcp", hostport, time.Second)
		return err
	}); err != nil {
		close(restored)
		return "no connection"
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 7)
	if _, err := c.Write([]byte("before\n")); err != nil {
		close(restored)
		return "no echo"
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		close(restored)
		return "no echo"
	}
	// the client's delayed ACK goes before the restore, so that nothing
	// the client sends afterwards could open the connection anew
	time.Sleep(100 * time.Millisecond)
	restore()
	close(restored)
	c.SetDeadline(time.Now().Add(2 * time.Second))
	buf = buf[:6]
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "after\n" {
		return "cut"
	}
	return "survived"
}

// tcpOutcome listens in the namespace to, connects from the namespace
// from and sends a line that the listener echoes: "echoed", "no
// connection", or "no echo".
func tcpOutcome(t *testing.T, from, to *nettest.NS, addr netip.Addr, port int) string {
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
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.CopyN(c, c, 6)
	}()
	out := ""
	if err := from.Within(func() error {
		c, err := net.DialTimeout("tcp", hostport, 800*time.Millisecond)
		if err != nil {
			out = "no connection"
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 6)
		if _, err := c.Write([]byte("hello\n")); err != nil {
			out = "no echo"
			return nil
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello\n" {
			out = "no echo"
			return nil
		}
		out = "echoed"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// udpOutcome sends a datagram from the namespace from to the address in
// to, where a socket answers it if listen is set: "reply", "nothing",
// or "refused" (an ICMP port unreachable reached the sender).
func udpOutcome(t *testing.T, from, to *nettest.NS, addr netip.Addr, port int, listen bool) string {
	t.Helper()
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port)))
	if listen {
		var pc net.PacketConn
		if err := to.Within(func() (err error) {
			pc, err = net.ListenUDP("udp", dst)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			buf := make([]byte, 64)
			pc.SetDeadline(time.Now().Add(2 * time.Second))
			n, peer, err := pc.ReadFrom(buf)
			if err == nil {
				pc.WriteTo(buf[:n], peer)
			}
		}()
	}
	out := ""
	if err := from.Within(func() error {
		c, err := net.DialUDP("udp", nil, dst)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("query")); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
		buf := make([]byte, 64)
		_, err = c.Read(buf)
		switch {
		case err == nil:
			out = "reply"
		case errors.Is(err, syscall.ECONNREFUSED):
			out = "refused"
		default:
			out = "nothing"
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
