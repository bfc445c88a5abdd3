package benchmarks

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/rulesets"
)

// Contender is one firewall the benchmarks put side by side: how it loads
// a generated ruleset into a network namespace and how it removes it.
type Contender struct {
	// Name is how reports name it: none, iptables-legacy, iptables-nft,
	// nftables, bpftables-tc, bpftables-xdp.
	Name string
	// Load replaces the namespace's ruleset with g's, as a user of the
	// contender would: with its restore tool, or nft -f.
	Load func(ns *nettest.NS, g *rulesets.Generated) error
	// Clear removes what Load put in the namespace, so the next
	// contender judges alone.
	Clear func(ns *nettest.NS) error
}

// Contenders returns every contender, bpftables run from the binary at
// bin. The order is the order of the interleaved rounds.
func Contenders(bin string) []Contender {
	return []Contender{
		{Name: "none", Load: func(*nettest.NS, *rulesets.Generated) error { return nil }, Clear: func(*nettest.NS) error { return nil }},
		{Name: "iptables-legacy", Load: restoreWith("iptables-legacy-restore"), Clear: clearLegacy},
		{Name: "iptables-nft", Load: restoreWith("iptables-nft-restore"), Clear: clearNft},
		{Name: "nftables", Load: loadNft, Clear: clearNft},
		{Name: "bpftables-tc", Load: restoreWith(bin, "iptables-restore"), Clear: clearBpftables(bin)},
		{Name: "bpftables-xdp", Load: restoreWith(bin, "iptables-restore", "--xdp"), Clear: clearBpftables(bin)},
	}
}

// Contender returns the contender of that name from Contenders(bin).
func ContenderNamed(bin, name string) (Contender, bool) {
	for _, c := range Contenders(bin) {
		if c.Name == name {
			return c, true
		}
	}
	return Contender{}, false
}

// run runs a command in the namespace under ip netns exec, with stdin,
// and returns its error with what it printed.
func run(ns *nettest.NS, stdin string, name string, args ...string) error {
	cmd := ns.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// restoreWith loads the iptables-restore text with a restore command.
// -w: the xtables lock is one file for every namespace.
func restoreWith(name string, args ...string) func(*nettest.NS, *rulesets.Generated) error {
	return func(ns *nettest.NS, g *rulesets.Generated) error {
		a := append(append([]string{}, args...), "-w", "10")
		return run(ns, g.Rules, name, a...)
	}
}

func loadNft(ns *nettest.NS, g *rulesets.Generated) error {
	if g.NFT == "" {
		return fmt.Errorf("%s has no nftables form", g.Family)
	}
	return run(ns, g.NFT, "nft", "-f", "-")
}

// emptyFilter is the filter table as a new namespace has it.
const emptyFilter = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"

func clearLegacy(ns *nettest.NS) error {
	return run(ns, emptyFilter, "iptables-legacy-restore", "-w", "10")
}

// clearNft removes every nftables table, iptables-nft's included.
func clearNft(ns *nettest.NS) error {
	return run(ns, "", "nft", "flush", "ruleset")
}

func clearBpftables(bin string) func(*nettest.NS) error {
	return func(ns *nettest.NS) error { return run(ns, "", bin, "reset", "-w", "10") }
}

// LookPath reports the first of the tools the contenders need that is
// missing.
func LookPath() error {
	for _, tool := range []string{"iptables-legacy-restore", "iptables-nft-restore", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return err
		}
	}
	return nil
}
