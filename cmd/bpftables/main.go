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
	"iptables-save":     compat.SaveMain,
	"ip6tables-save":    compat.SaveMain,
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
	case "examples":
		return examplesMain(rest, env)
	case "status":
		return compat.StatusMain(rest, env)
	case "reset":
		return compat.ResetMain(rest, env)
	case "log":
		return compat.LogMain(rest, env)
	case "watch":
		return compat.WatchMain(rest, env)
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
  iptables-restore [flags] [FILE]   load a ruleset into the datapath (--test: only check it)
  ip6tables-restore [flags] [FILE]  the same for IPv6
  iptables-save [-c] [-t TABLE]     print the ruleset in force (-c: with counters)
  ip6tables-save [-c] [-t TABLE]    the same for IPv6
  status                            what is loaded in this network namespace, and where
  reset [-w [SECS]]                 detach and remove everything bpftables loaded here
  log [-f]                          print the LOG and NFLOG events held (-f: and follow)
  watch                             keep attaching to interfaces as they appear (runs until stopped)
  fmt [-4|-6] [-c] [FILE]           print restore input in iptables-save's canonical form
  demo [--keep]                     a firewall in network namespaces judging traffic, with counters
  examples [DIR]                    check and summarise the example rulesets
  version                           print the version

Invoked through a symlink named iptables-restore, ip6tables-restore,
iptables-save or ip6tables-save, bpftables behaves as that program. Every
command works on the network namespace it runs in (ip netns exec NS ...).
`)
}
