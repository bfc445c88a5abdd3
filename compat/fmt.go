package compat

import (
	"fmt"
	"os"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
)

// FmtMain runs `bpftables fmt [-4|-6] [-c] [FILE]`: it reads
// iptables-restore input and prints it as iptables-save would after
// restoring it (canonical option order and values). Built-in chain
// counters are kept from the input, as iptables-save always prints them;
// rule counters print with -c. It exits 0, or 1 after an iptables-restore
// style error.
func FmtMain(args []string, env Env) int {
	fam := translator.IPv4
	counters := false
	var files []string
	for _, a := range args {
		switch {
		case a == "-4":
			fam = translator.IPv4
		case a == "-6":
			fam = translator.IPv6
		case a == "-c" || a == "--counters":
			counters = true
		case a == "-h" || a == "--help":
			fmt.Fprint(env.Stdout, "Usage: bpftables fmt [-4|-6] [-c] [FILE]\n"+
				"Print iptables-restore input in iptables-save's canonical form.\n"+
				"  -4, -6   address family (default -4)\n"+
				"  -c       keep and print [packets:bytes] counters\n")
			return 0
		case strings.HasPrefix(a, "-") && a != "-":
			fmt.Fprintf(env.Stderr, "bpftables fmt: unknown option %q (try -h)\n", a)
			return 1
		default:
			files = append(files, a)
		}
	}
	if len(files) > 1 {
		fmt.Fprintln(env.Stderr, "bpftables fmt: more than one file given")
		return 1
	}
	prog := "iptables-restore"
	if fam == translator.IPv6 {
		prog = "ip6tables-restore"
	}
	in := env.Stdin
	if len(files) == 1 && files[0] != "-" {
		f, err := os.Open(files[0])
		if err != nil {
			fmt.Fprintf(env.Stderr, "Can't open %s: %s\n", files[0], errnoText(err))
			return 1
		}
		defer f.Close()
		in = f
	}
	rs, err := iptables.Restore(translator.NewRuleset(fam), in, iptables.RestoreOptions{KeepCounters: true, Program: prog})
	if err != nil {
		msg, _ := iptables.FormatError(prog, err)
		fmt.Fprint(env.Stderr, msg)
		return 1
	}
	if err := iptables.Save(env.Stdout, rs, iptables.SaveOptions{Counters: counters}); err != nil {
		fmt.Fprintf(env.Stderr, "bpftables fmt: %v\n", err)
		return 1
	}
	return 0
}
