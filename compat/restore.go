// Package compat holds bpftables' iptables-compatible command surfaces:
// iptables-restore and ip6tables-restore (and later iptables-save and the
// iptables command), with iptables' flags, messages and exit statuses.
package compat

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/bpftables/bpftables/live"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
)

// Env is where a command reads and writes.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// StdEnv is the process's standard streams.
func StdEnv() Env { return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr} }

// RestoreFlags are iptables-restore's command-line flags.
type RestoreFlags struct {
	Counters     bool   // -c, --counters
	Verbose      int    // -v, --verbose
	Test         bool   // -t, --test
	Noflush      bool   // -n, --noflush
	Table        string // -T, --table
	Wait         int    // -w [secs]: -1 not given, 0 forever
	WaitInterval int    // -W usecs
	File         string // input file; "" is standard input
	XDP          bool   // --xdp (bpftables): ingress hooks at XDP
}

// ProgramFamily returns the family a program name implies: ip6tables*
// is IPv6, everything else IPv4.
func ProgramFamily(prog string) translator.Family {
	if strings.HasPrefix(prog, "ip6tables") {
		return translator.IPv6
	}
	return translator.IPv4
}

func restoreUsage(prog string) string {
	return fmt.Sprintf("Usage: %s [-c] [-v] [-V] [-t] [-h] [-n] [-w secs] [-W usecs] [-T table] [-M command] [file]\n"+
		"	   [ --counters ]\n"+
		"	   [ --verbose ]\n"+
		"	   [ --version]\n"+
		"	   [ --test ]\n"+
		"	   [ --help ]\n"+
		"	   [ --noflush ]\n"+
		"	   [ --wait=<seconds>\n"+
		"	   [ --table=<TABLE> ]\n"+
		"	   [ --modprobe=<command> ]\n"+
		"	   [ --xdp ]  (bpftables: run the ingress hooks at XDP)\n", prog)
}

// errExit carries an exit status out of flag parsing.
type errExit struct {
	status int
	msg    string
	stdout bool
}

// ParseRestoreFlags parses iptables-restore's arguments as its getopt
// string "bcvVthnwWM:T:" and long options do. Warnings go to warn.
func ParseRestoreFlags(prog string, args []string, warn io.Writer) (RestoreFlags, *errExit) {
	f := RestoreFlags{Wait: -1}
	tryHelp := &errExit{status: 1, msg: fmt.Sprintf("Try `%s -h' for more information.\n", prog)}
	long := map[string]byte{"counters": 'c', "verbose": 'v', "version": 'V', "test": 't', "help": 'h',
		"noflush": 'n', "modprobe": 'M', "table": 'T', "wait": 'w', "wait-interval": 'W', "binary": 'b',
		"xdp": 'X'}
	waitSet, intervalSet := false, false
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var opts []byte
		var attached string
		hasAttached := false
		switch {
		case a == "--":
			files = append(files, args[i+1:]...)
			i = len(args)
			continue
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			var c byte
			for n, v := range long {
				if n == name {
					c = v
					break
				}
			}
			if c == 0 {
				// unambiguous prefix, as getopt_long allows
				var cands []byte
				for n, v := range long {
					if strings.HasPrefix(n, name) && name != "" {
						cands = append(cands, v)
					}
				}
				if len(cands) != 1 {
					return f, tryHelp
				}
				c = cands[0]
			}
			opts, attached, hasAttached = []byte{c}, val, hasVal
		case strings.HasPrefix(a, "-") && len(a) > 1:
			opts = []byte(a[1:])
		default:
			files = append(files, a)
			continue
		}
		for j := 0; j < len(opts); j++ {
			c := opts[j]
			// the value of -T/-M: the rest of the bundle or the next argument
			value := func() (string, bool) {
				if hasAttached {
					return attached, true
				}
				if j+1 < len(opts) {
					v := string(opts[j+1:])
					j = len(opts)
					return v, true
				}
				if i+1 < len(args) {
					i++
					return args[i], true
				}
				return "", false
			}
			// the optional value of -w/-W: attached with "=", or the next
			// argument when it is not an option (parse_wait_time)
			optional := func() (string, bool) {
				if hasAttached {
					return attached, true
				}
				if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !strings.HasPrefix(args[i+1], "!") {
					i++
					return args[i], true
				}
				return "", false
			}
			switch c {
			case 'b':
				fmt.Fprint(warn, "-b/--binary option is not implemented\n")
			case 'c':
				f.Counters = true
			case 'X':
				if !strings.HasPrefix(a, "--") {
					return f, tryHelp // --xdp only, no short form
				}
				f.XDP = true
			case 'v':
				f.Verbose++
			case 'V':
				return f, &errExit{status: 0, msg: fmt.Sprintf("%s v%s (%s)\n", prog, iptables.Version, iptables.Flavor), stdout: true}
			case 't':
				f.Test = true
			case 'h':
				return f, &errExit{status: 0, msg: restoreUsage(prog), stdout: false}
			case 'n':
				f.Noflush = true
			case 'w':
				waitSet = true
				f.Wait = 0
				if v, ok := optional(); ok {
					n, err := strconv.Atoi(v)
					if err != nil || n < 0 {
						return f, &errExit{status: 2, msg: fmt.Sprintf("%s v%s (%s): wait seconds not numeric\n", prog, iptables.Version, iptables.Flavor)}
					}
					f.Wait = n
				}
			case 'W':
				intervalSet = true
				if v, ok := optional(); ok {
					n, err := strconv.Atoi(v)
					if err != nil || n < 0 {
						return f, &errExit{status: 2, msg: fmt.Sprintf("%s v%s (%s): wait interval not numeric\n", prog, iptables.Version, iptables.Flavor)}
					}
					if n >= 1000000 {
						return f, &errExit{status: 2, msg: fmt.Sprintf("%s v%s (%s): too long usec wait %d > 999999 usec\n", prog, iptables.Version, iptables.Flavor, n)}
					}
					f.WaitInterval = n
				}
			case 'M':
				if _, ok := value(); !ok {
					return f, tryHelp
				}
			case 'T':
				v, ok := value()
				if !ok {
					return f, tryHelp
				}
				f.Table = v
			default:
				return f, tryHelp
			}
			if hasAttached {
				break
			}
		}
	}
	if len(files) > 1 {
		return f, &errExit{status: 1, msg: "Unknown arguments found on commandline\n"}
	}
	if len(files) == 1 {
		f.File = files[0]
	}
	if intervalSet && !waitSet {
		return f, &errExit{status: 1, msg: "Option --wait-interval requires option --wait\n"}
	}
	return f, nil
}

// RestoreMain runs iptables-restore (or ip6tables-restore, by prog) and
// returns its exit status.
func RestoreMain(prog string, args []string, env Env) int {
	flags, ex := ParseRestoreFlags(prog, args, env.Stderr)
	if ex != nil {
		w := env.Stderr
		if ex.stdout {
			w = env.Stdout
		}
		fmt.Fprint(w, ex.msg)
		return ex.status
	}
	in := env.Stdin
	if flags.File != "" {
		f, err := os.Open(flags.File)
		if err != nil {
			fmt.Fprintf(env.Stderr, "Can't open %s: %s\n", flags.File, errnoText(err))
			return 1
		}
		defer f.Close()
		in = f
	}
	if flags.Verbose > 0 {
		in = echoComments(in, env.Stdout)
	}
	ropts := iptables.RestoreOptions{
		Noflush:  flags.Noflush,
		Counters: flags.Counters,
		Table:    flags.Table,
		Program:  prog,
	}
	fam := ProgramFamily(prog)
	if flags.Test {
		if _, err := iptables.Restore(translator.NewRuleset(fam), in, ropts); err != nil {
			msg, status := iptables.FormatError(prog, err)
			fmt.Fprint(env.Stderr, msg)
			return status
		}
		return 0
	}
	// The whole input is read before the lock is taken, so that a slow
	// writer of the input does not hold other writers up.
	data, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: reading the input: %v\n", prog, err)
		return iptables.OtherProblem
	}
	opts, err := liveOptions(flags.Wait, flags.XDP)
	if err != nil {
		return liveError(prog, err, env)
	}
	n, err := live.Open(opts)
	if err != nil {
		return liveError(prog, err, env)
	}
	defer n.Close()
	cur, err := n.Ruleset(fam)
	if err != nil {
		return liveError(prog, err, env)
	}
	rs, err := iptables.Restore(cur, bytes.NewReader(data), ropts)
	if err != nil {
		msg, status := iptables.FormatError(prog, err)
		fmt.Fprint(env.Stderr, msg)
		return status
	}
	if _, err := n.Apply(rs, live.ApplyOptions{Counters: flags.Counters}); err != nil {
		return liveError(prog, err, env)
	}
	return 0
}

// errnoText returns the strerror part of a file error.
func errnoText(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		s := pe.Err.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}

// echoComments copies comment lines to w as iptables-restore -v does.
func echoComments(r io.Reader, w io.Writer) io.Reader {
	data, err := io.ReadAll(r)
	if err != nil {
		return strings.NewReader("")
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			fmt.Fprint(w, line)
		}
	}
	return strings.NewReader(string(data))
}
