package compat

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bpftables/bpftables/live"
	"github.com/bpftables/bpftables/translator/iptables"
)

// SaveMain runs iptables-save (or ip6tables-save, by prog): it prints the
// ruleset in force in the namespace, with live counters under -c. Its
// flags are iptables-save's ("bcdt:M:f:V").
func SaveMain(prog string, args []string, env Env) int {
	opts := iptables.SaveOptions{Header: true, Program: prog}
	out := env.Stdout
	g := iptables.NewGetopt(args, "bcdt:M:f:V", []iptables.LongOpt{
		{Name: "counters", Short: 'c'}, {Name: "dump", Short: 'd'}, {Name: "table", HasArg: 1, Short: 't'},
		{Name: "modprobe", HasArg: 1, Short: 'M'}, {Name: "file", HasArg: 1, Short: 'f'}, {Name: "version", Short: 'V'},
	})
	for {
		c, arg, _ := g.Next()
		switch c {
		case iptables.GetoptEnd:
			return save(prog, opts, out, env)
		case 'b':
			fmt.Fprint(env.Stderr, "-b/--binary option is not implemented\n")
		case 'c':
			opts.Counters = true
		case 't':
			opts.Table = arg
		case 'M':
		case 'f':
			f, err := os.Create(arg)
			if err != nil {
				fmt.Fprintf(env.Stderr, "Failed to open file, error: %s\n", errnoText(err))
				return 1
			}
			defer f.Close()
			out = f
		case 'd':
			save(prog, opts, out, env)
			return 0
		case 'V':
			fmt.Fprintf(env.Stdout, "%s v%s\n", prog, iptables.Version)
			return 0
		case iptables.GetoptNonOption:
			fmt.Fprint(env.Stderr, "Unknown arguments found on commandline\n")
			return 1
		default:
			fmt.Fprintf(env.Stderr, "Look at manual page `%s.8' for more information.\n", prog)
			return 1
		}
	}
}

// save prints the ruleset in force. With -t, a table that is not loaded
// prints empty, as iptables-legacy-save prints a table whose module it
// loads; a name that is no table is an error.
func save(prog string, opts iptables.SaveOptions, out io.Writer, env Env) int {
	fam := ProgramFamily(prog)
	n, err := live.OpenReader(live.Options{})
	if err != nil {
		return liveError(prog, err, env)
	}
	defer n.Close()
	rs, err := n.Ruleset(fam)
	if err != nil {
		return liveError(prog, err, env)
	}
	if opts.Table != "" && rs.Table(opts.Table) == nil {
		if _, err := rs.EnsureTable(opts.Table); err != nil {
			fmt.Fprintf(env.Stderr, "%s v%s (%s): Cannot initialize: Table does not exist (do you need to insmod?)\n", prog, iptables.Version, iptables.Flavor)
			return 1
		}
	}
	opts.Now = time.Now()
	if err := iptables.Save(out, rs, opts); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", prog, err)
		return 1
	}
	return 0
}
