package iptables

import "strings"

// getopt reproduces glibc's getopt_long as iptables calls it: an optstring
// that starts with "-:" (non-options are returned in order as code 1; a
// missing argument is reported as ':'), long options matched exactly or by
// an unambiguous prefix, and "--name=value".
//
// The long option table changes while a rule is parsed: every extension
// that is loaded adds its options in front of the older extensions' ones,
// as xtables_merge_options does, which decides who gets an option name two
// loaded extensions share.
type getopt struct {
	args     []string
	optind   int
	nextchar string // rest of a bundle of short options

	short string // optstring without the leading "-:"
	base  []longOpt
	ext   [][]longOpt // extension options, newest extension first

	// results
	optarg    string
	hasOptarg bool
	optopt    byte
	long      *longOpt
}

// longOpt is one entry of the long option table.
type longOpt struct {
	name   string
	hasArg int // 0 none, 1 required, 2 optional
	code   int // a short option character, or codeExt
	owner  any // the extension instance for codeExt
	id     uint
}

// Codes returned by next besides option characters.
const (
	codeEnd        = -1
	codeNonOption  = 1
	codeExt        = 1000
	codeUnknown    = '?'
	codeMissingArg = ':'
)

// next returns the next option: its code, with g.optarg/g.hasOptarg set,
// and g.long set for long options.
func (g *getopt) next() int {
	g.optarg, g.hasOptarg, g.optopt, g.long = "", false, 0, nil
	if g.nextchar == "" {
		if g.optind >= len(g.args) {
			return codeEnd
		}
		a := g.args[g.optind]
		if a == "--" {
			g.optind++
			return codeEnd
		}
		if len(a) < 2 || a[0] != '-' {
			g.optind++
			g.optarg, g.hasOptarg = a, true
			return codeNonOption
		}
		if strings.HasPrefix(a, "--") {
			return g.nextLong(a[2:])
		}
		g.nextchar = a[1:]
		g.optind++
	}
	c := g.nextchar[0]
	g.nextchar = g.nextchar[1:]
	i := strings.IndexByte(g.short, c)
	if i < 0 || c == ':' {
		g.optopt = c
		return codeUnknown
	}
	switch {
	case strings.HasPrefix(g.short[i+1:], "::"):
		if g.nextchar != "" {
			g.optarg, g.hasOptarg = g.nextchar, true
		}
		g.nextchar = ""
	case strings.HasPrefix(g.short[i+1:], ":"):
		switch {
		case g.nextchar != "":
			g.optarg, g.hasOptarg = g.nextchar, true
		case g.optind < len(g.args):
			g.optarg, g.hasOptarg = g.args[g.optind], true
			g.optind++
		default:
			g.optopt = c
			g.nextchar = ""
			return codeMissingArg
		}
		g.nextchar = ""
	}
	return int(c)
}

func (g *getopt) nextLong(s string) int {
	g.optind++
	name, value, hasValue := strings.Cut(s, "=")
	found := exactOpt(g.base, name)
	for i := 0; found == nil && i < len(g.ext); i++ {
		found = exactOpt(g.ext[i], name)
	}
	if found == nil {
		var ambiguous bool
		found, ambiguous = prefixOpt(g.base, name, nil)
		for i := 0; !ambiguous && i < len(g.ext); i++ {
			found, ambiguous = prefixOpt(g.ext[i], name, found)
		}
		if found == nil || ambiguous {
			return codeUnknown
		}
	}
	g.long = found
	switch {
	case hasValue:
		if found.hasArg == 0 {
			g.optopt = byte(found.code)
			return codeUnknown
		}
		g.optarg, g.hasOptarg = value, true
	case found.hasArg == 1:
		if g.optind >= len(g.args) {
			return codeMissingArg
		}
		g.optarg, g.hasOptarg = g.args[g.optind], true
		g.optind++
	}
	return found.code
}

// exactOpt returns the first option of the table named name, or nil.
func exactOpt(table []longOpt, name string) *longOpt {
	for i := range table {
		if table[i].name == name {
			return &table[i]
		}
	}
	return nil
}

// prefixOpt goes on with found, the first option so far that name
// abbreviates, through table; ambiguous reports a second such option that
// is not the same option under another name.
func prefixOpt(table []longOpt, name string, found *longOpt) (_ *longOpt, ambiguous bool) {
	for i := range table {
		o := &table[i]
		if !strings.HasPrefix(o.name, name) {
			continue
		}
		if found == nil {
			found = o
		} else if found.hasArg != o.hasArg || found.code != o.code || found.owner != o.owner || found.id != o.id {
			return found, true
		}
	}
	return found, false
}

// hasArg reports whether the next argument exists and is not an option or
// "!" (xs_has_arg).
func (g *getopt) hasArg() bool {
	return g.optind < len(g.args) && !strings.HasPrefix(g.args[g.optind], "-") && !strings.HasPrefix(g.args[g.optind], "!")
}

// addExt puts an extension's options in front of the other extensions'.
// The table is shared, never written.
func (g *getopt) addExt(opts []longOpt) {
	g.ext = append(g.ext, nil)
	copy(g.ext[1:], g.ext)
	g.ext[0] = opts
}

// Getopt parses the command line of an iptables tool as glibc's
// getopt_long does (see getopt): for the tools' own flags, such as
// iptables-save's.
type Getopt struct{ g getopt }

// LongOpt is a long option of a tool: its name, whether it takes an
// argument (0 no, 1 yes, 2 optional) and the short option it stands for.
type LongOpt struct {
	Name   string
	HasArg int
	Short  byte
}

// Codes Getopt.Next returns besides option characters.
const (
	GetoptEnd        = codeEnd
	GetoptNonOption  = codeNonOption
	GetoptUnknown    = codeUnknown
	GetoptMissingArg = codeMissingArg
)

// NewGetopt parses args (without the program name) with the optstring
// short (without a leading "-:") and the long options.
func NewGetopt(args []string, short string, long []LongOpt) *Getopt {
	g := &Getopt{g: getopt{args: args, short: short}}
	for _, o := range long {
		g.g.base = append(g.g.base, longOpt{name: o.Name, hasArg: o.HasArg, code: int(o.Short)})
	}
	return g
}

// Next returns the next option's code and its argument, if it has one;
// a non-option argument comes as GetoptNonOption with the argument.
func (g *Getopt) Next() (code int, arg string, hasArg bool) {
	c := g.g.next()
	return c, g.g.optarg, g.g.hasOptarg
}
