package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/bpftables/bpftables/compat"
	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/rulesets"
)

// demoPrefix names the demo's network namespaces.
const demoPrefix = "bpft-demo"

// blocked is a second client address, on the demo ruleset's blocklist.
var blocked = netip.MustParseAddr("192.0.2.66")

// demoMain runs the main job on its built-in default: a client - firewall
// - server topology in network namespaces, the demo ruleset loaded into
// the firewall with `bpftables iptables-restore`, traffic from the client
// judged by the datapath, and the counters as `iptables-save -c` shows
// them. --keep leaves the namespaces for a look around.
func demoMain(args []string, env compat.Env) int {
	keep := false
	for _, a := range args {
		switch a {
		case "--keep":
			keep = true
		default:
			fmt.Fprintln(env.Stderr, "Usage: bpftables demo [--keep]")
			return 1
		}
	}
	if err := demo(keep, env); err != nil {
		fmt.Fprintf(env.Stderr, "bpftables demo: %v\n", err)
		return 1
	}
	return 0
}

func demo(keep bool, env compat.Env) error {
	w := env.Stdout
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ruleset, err := rulesets.Examples.ReadFile("examples/demo.v4")
	if err != nil {
		return err
	}
	// A demo left by an earlier --keep goes first.
	for _, role := range []string{"client", "fw", "server"} {
		_ = exec.Command("ip", "netns", "del", demoPrefix+"-"+role).Run()
	}
	fmt.Fprintf(w, "Topology: client %s (eth0) -- eth0 %s  firewall  %s eth1 -- (eth0) %s server\n",
		nettest.ClientLink.IPv4.Addr(), nettest.FirewallClientLink.IPv4.Addr(), nettest.FirewallServerLink.IPv4.Addr(), nettest.ServerLink.IPv4.Addr())
	fmt.Fprintf(w, "in network namespaces %s-client, %s-fw, %s-server.\n\n", demoPrefix, demoPrefix, demoPrefix)
	t, err := nettest.BuildTopology(demoPrefix)
	if err != nil {
		return err
	}
	fw := t.Firewall.Name
	defer func() {
		if keep {
			fmt.Fprintf(w, "\nKept: try `ip netns exec %s %s iptables-save -c`; `%s demo` again or `ip netns del` removes it.\n", fw, self, self)
			return
		}
		_ = exec.Command("ip", "netns", "exec", fw, self, "reset").Run()
		t.Close()
		fmt.Fprintf(w, "\nRemoved the demo (bpftables reset, namespaces deleted); `%s demo --keep` keeps them.\n", self)
	}()
	if err := t.Client.Within(func() error {
		nl, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer nl.Close()
		l, err := nl.LinkByName(nettest.ClientLink.Name)
		if err != nil {
			return err
		}
		return nl.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: blocked.AsSlice(), Mask: net.CIDRMask(24, 32)}})
	}); err != nil {
		return fmt.Errorf("adding the blocklisted client address: %w", err)
	}
	stop, err := demoServer(t.Server)
	if err != nil {
		return err
	}
	defer stop()

	fmt.Fprintf(w, "The firewall's ruleset, loaded with\n")
	if err := shell(w, fw, ruleset, self, "iptables-restore"); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n", strings.TrimSpace(string(ruleset)))

	fmt.Fprintf(w, "\nTraffic from the client to the server, judged by the firewall's datapath:\n")
	server := nettest.ServerLink.IPv4.Addr()
	client := nettest.ClientLink.IPv4.Addr()
	for _, p := range []struct {
		proto string
		src   netip.Addr
		port  int
		why   string
	}{
		{"tcp", client, 22, "ssh from the client's /28"},
		{"tcp", client, 80, "http"},
		{"tcp", client, 443, "https"},
		{"udp", client, 53, "dns"},
		{"tcp", client, 8080, "not a service: FORWARD's policy"},
		{"udp", client, 123, "not a service: FORWARD's policy"},
		{"tcp", blocked, 80, "from a blocklisted address"},
	} {
		var got string
		err := t.Client.Within(func() (err error) {
			got, err = demoProbe(p.proto, p.src, server, p.port)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-3s %-15s -> %s:%-5d %-12s (%s)\n", p.proto, p.src, server, p.port, got, p.why)
	}

	fmt.Fprintf(w, "\nThe counters, as iptables-save -c shows them:\n")
	if err := shell(w, fw, nil, self, "iptables-save", "-c"); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nWhere it runs:\n")
	return shell(w, fw, nil, self, "status")
}

// shell runs bpftables in a namespace as a user would, echoing the
// command, and copies its output.
func shell(w interface{ Write([]byte) (int, error) }, ns string, stdin []byte, args ...string) error {
	shown := append([]string{"bpftables"}, args[1:]...)
	redirect := ""
	if stdin != nil {
		redirect = " < rulesets/examples/demo.v4"
	}
	fmt.Fprintf(w, "  # ip netns exec %s %s%s\n", ns, strings.Join(shown, " "), redirect)
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line != "" {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(shown, " "), err)
	}
	return nil
}

// demoServer listens in the server's namespace: TCP on the ports the
// probes try (accepting and closing), UDP echoing.
func demoServer(ns *nettest.NS) (stop func(), err error) {
	var closers []func() error
	err = ns.Within(func() error {
		for _, port := range []int{22, 80, 443, 8080} {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
			if err != nil {
				return err
			}
			closers = append(closers, l.Close)
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
		for _, port := range []int{53, 123} {
			c, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
			if err != nil {
				return err
			}
			closers = append(closers, c.Close)
			go func() {
				buf := make([]byte, 512)
				for {
					n, from, err := c.ReadFromUDP(buf)
					if err != nil {
						return
					}
					_, _ = c.WriteToUDP(buf[:n], from)
				}
			}()
		}
		return nil
	})
	return func() {
		for _, c := range closers {
			_ = c()
		}
	}, err
}

// demoProbe tries one connection or datagram and says what happened.
func demoProbe(proto string, src, dst netip.Addr, port int) (string, error) {
	const wait = 400 * time.Millisecond
	if proto == "tcp" {
		d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		c, err := d.Dial("tcp", netip.AddrPortFrom(dst, uint16(port)).String())
		var ne net.Error
		switch {
		case err == nil:
			c.Close()
			return "connected", nil
		case errors.As(err, &ne) && ne.Timeout():
			return "dropped", nil
		case strings.Contains(err.Error(), "refused"):
			return "refused", nil
		}
		return "", err
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: src.AsSlice()}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(port))))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Write([]byte("bpftables demo")); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		return "dropped", nil
	}
	return "answered", nil
}
