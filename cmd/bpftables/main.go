// Command bpftables is an iptables-compatible firewall whose datapath is
// eBPF. One binary serves every command: invoked through a symlink named
// iptables-restore (or ip6tables-restore) it is that program, as
// iptables' own xtables-multi is.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bpftables/bpftables/compat"
	"github.com/bpftables/bpftables/translator/iptables"
	_ "github.com/bpftables/bpftables/translator/xt" // the iptables extensions
)

func main() {
	os.Exit(run(filepath.Base(os.Args[0]), os.Args[1:], compat.StdEnv()))
}

// programs are the iptables tools bpftables can be invoked as, by argv[0]
// or as a subcommand.
var programs = map[string]func(prog string, args []string, env compat.Env) int{
	"iptables-restore":  compat.RestoreMain,
	"ip6tables-restore": compat.RestoreMain,
}

func run(argv0 string, args []string, env compat.Env) int {
	if main, ok := programs[argv0]; ok {
		return main(argv0, args, env)
	}
	if len(args) == 0 {
		usage(env)
		return 1
	}
	cmd, rest := args[0], args[1:]
	if main, ok := programs[cmd]; ok {
		return main(cmd, rest, env)
	}
	switch cmd {
	case "fmt":
		return compat.FmtMain(rest, env)
	case "demo":
		return demoMain(rest, env)
	case "version", "-V", "--version":
		fmt.Fprintf(env.Stdout, "bpftables (iptables v%s compatible)\n", iptables.Version)
		return 0
	case "help", "-h", "--help":
		usage(env)
		return 0
	}
	fmt.Fprintf(env.Stderr, "bpftables: unknown command %q\n", cmd)
	usage(env)
	return 1
}

func usage(env compat.Env) {
	fmt.Fprint(env.Stderr, `Usage: bpftables COMMAND [ARGS]

Commands:
  iptables-restore [flags] [FILE]   iptables-restore (IPv4); --test checks input
  ip6tables-restore [flags] [FILE]  the same for IPv6
  fmt [-4|-6] [-c] [FILE]           print restore input in iptables-save's canonical form
  demo [DIR]                        check and summarise the example rulesets
  version                           print the version

Invoked through a symlink named iptables-restore or ip6tables-restore,
bpftables behaves as that program.
`)
}
