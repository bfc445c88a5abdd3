package benchmarks

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// builtinChains are the built-in chains of the iptables tables whose
// policies a ruleset may set.
var builtinChains = map[string][]string{
	"filter":   {"INPUT", "FORWARD", "OUTPUT"},
	"mangle":   {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"raw":      {"PREROUTING", "OUTPUT"},
	"security": {"INPUT", "FORWARD", "OUTPUT"},
}

// clearLegacy empties every table iptables-legacy has in the namespace,
// as the kernel lists them: a table in the restore input with no rules
// is flushed and its chains deleted, and the built-in chains' policies
// go back to ACCEPT. A kube-proxy-shaped ruleset's nat table would
// otherwise stay to judge the next contender's traffic.
func clearLegacy(ns *nettest.NS) error {
	var out []byte
	err := ns.Within(func() error {
		var err error
		out, err = os.ReadFile("/proc/thread-self/net/ip_tables_names")
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // none: no ip_tables module
		return fmt.Errorf("the namespace's iptables-legacy tables: %w", err)
	}
	var b strings.Builder
	for _, t := range strings.Fields(string(out)) {
		b.WriteString("*" + t + "\n")
		for _, c := range builtinChains[t] {
			b.WriteString(":" + c + " ACCEPT [0:0]\n")
		}
		b.WriteString("COMMIT\n")
	}
	if b.Len() == 0 {
		return nil // iptables-legacy was never used here
	}
	return run(ns, b.String(), "iptables-legacy-restore", "-w", "10")
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
