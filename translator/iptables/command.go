package iptables

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/xt"
)

// CmdKind is the command of an iptables command line.
type CmdKind uint32

// Commands, as iptables' CMD_* bits.
const (
	CmdNone        CmdKind = 0
	CmdInsert      CmdKind = 1 << 0
	CmdDelete      CmdKind = 1 << 1
	CmdDeleteNum   CmdKind = 1 << 2
	CmdReplace     CmdKind = 1 << 3
	CmdAppend      CmdKind = 1 << 4
	CmdList        CmdKind = 1 << 5
	CmdFlush       CmdKind = 1 << 6
	CmdZero        CmdKind = 1 << 7
	CmdNewChain    CmdKind = 1 << 8
	CmdDeleteChain CmdKind = 1 << 9
	CmdSetPolicy   CmdKind = 1 << 10
	CmdRenameChain CmdKind = 1 << 11
	CmdListRules   CmdKind = 1 << 12
	CmdZeroNum     CmdKind = 1 << 13
	CmdCheck       CmdKind = 1 << 14
)

var cmdChars = []byte{'I', 'D', 'D', 'R', 'A', 'L', 'F', 'Z', 'N', 'X', 'P', 'E', 'S', 'Z', 'C'}

func cmdChar(c CmdKind) byte {
	i := 0
	for ; c > 1; c >>= 1 {
		i++
	}
	if i < len(cmdChars) {
		return cmdChars[i]
	}
	return '?'
}

// Option bits (OPT_*), for the option/command compatibility check.
type optBit uint32

const (
	optNumeric optBit = 1 << iota
	optSource
	optDestination
	optProtocol
	optJump
	optVerbose
	optExpanded
	optViaNameIn
	optViaNameOut
	optLineNumbers
	optCounters
	optFragment
	numOpts = iota
)

var optNames = [...]string{"--numeric", "--source", "--destination", "--protocol", "--jump",
	"--verbose", "--exact", "--in-interface", "--out-interface", "--line-numbers",
	"--set-counters", "--fragments"}

func (o optBit) name() string {
	for i := 0; i < numOpts; i++ {
		if o == 1<<i {
			return optNames[i]
		}
	}
	return "unknown option"
}

const cmdIDRAC = CmdInsert | CmdDelete | CmdReplace | CmdAppend | CmdCheck

// optCommands lists, in the order of the option bits, the commands each
// option is allowed with.
var optCommands = [numOpts]CmdKind{
	CmdList,     // --numeric
	cmdIDRAC,    // --source
	cmdIDRAC,    // --destination
	cmdIDRAC,    // --protocol
	cmdIDRAC,    // --jump
	^CmdKind(0), // --verbose
	CmdList,     // --exact
	cmdIDRAC,    // --in-interface
	cmdIDRAC,    // --out-interface
	CmdList,     // --line-numbers
	CmdInsert | CmdReplace | CmdAppend | CmdSetPolicy, // --set-counters
	cmdIDRAC, // --fragments
}

// Command is one parsed iptables command line (or restore rule line).
type Command struct {
	Kind    CmdKind
	Table   string
	Chain   string
	RuleNum int // for -I (default 1), -R, -D N, -Z N, -L/-S N
	NewName string
	Policy  string
	// Rules holds the rule of -A/-I/-D/-R/-C, one per combination of the
	// addresses given to -s and -d (iptables expands lists).
	Rules []*translator.Rule
	// Counters were given with -c.
	Counters    *translator.Counters
	Verbose     int
	Numeric     bool
	Exact       bool
	LineNumbers bool
	// Wait is -w: -1 when not given, 0 to wait forever, else seconds.
	Wait int
	// WaitInterval is -W in microseconds, 0 when not given.
	WaitInterval int
	// Skip is set when the line is for the other family (-6 in an IPv4
	// restore): iptables-restore ignores it.
	Skip bool
}

// ParseOptions is the context a command line is parsed in.
type ParseOptions struct {
	Family translator.Family
	// Table is the table when no -t is given ("filter" if empty).
	Table string
	// Restore is set for rule lines of iptables-restore, which may not
	// use -t (the block sets the table) or -w/-W.
	Restore bool
	// IsChain reports whether a chain exists in a table: -j NAME jumps to a
	// chain of that name in preference to a target extension. Nil means
	// no user chains exist.
	IsChain func(table, chain string) bool
}

type matchInst struct {
	def       *xt.MatchDef
	m         xt.MatchParser
	seen      uint32
	completed bool
}

type targetInst struct {
	def  *xt.TargetDef
	t    xt.TargetParser
	seen uint32
}

type parser struct {
	opts ParseOptions
	g    getopt
	cmd  *Command

	options   optBit
	invert    bool
	rule      translator.Rule
	protocol  string // as given to -p, lower case
	protoUsed bool
	matches   []matchInst
	loaded    []*xt.MatchDef // extensions whose options are in the table
	target    *targetInst
	jumpTo    string
	gotoSet   bool
	src, dst  string
	srcSet    bool
	dstSet    bool

	// Storage kept from one command to the next when the parser is
	// reused (see command): the Call and Final handed to extensions, the
	// source of Call.TakeArg, and the address lists of -s and -d.
	call           xt.Call
	final          xt.Final
	takeArg        func() (string, bool)
	srcBuf, dstBuf []translator.AddrMask
}

var baseLongOpts = []longOpt{
	{"append", 1, 'A', nil, 0}, {"delete", 1, 'D', nil, 0}, {"check", 1, 'C', nil, 0},
	{"insert", 1, 'I', nil, 0}, {"replace", 1, 'R', nil, 0}, {"list", 2, 'L', nil, 0},
	{"list-rules", 2, 'S', nil, 0}, {"flush", 2, 'F', nil, 0}, {"zero", 2, 'Z', nil, 0},
	{"new-chain", 1, 'N', nil, 0}, {"delete-chain", 2, 'X', nil, 0},
	{"rename-chain", 1, 'E', nil, 0}, {"policy", 1, 'P', nil, 0},
	{"source", 1, 's', nil, 0}, {"destination", 1, 'd', nil, 0},
	{"src", 1, 's', nil, 0}, {"dst", 1, 'd', nil, 0}, {"protocol", 1, 'p', nil, 0},
	{"in-interface", 1, 'i', nil, 0}, {"jump", 1, 'j', nil, 0}, {"table", 1, 't', nil, 0},
	{"match", 1, 'm', nil, 0}, {"numeric", 0, 'n', nil, 0}, {"out-interface", 1, 'o', nil, 0},
	{"verbose", 0, 'v', nil, 0}, {"wait", 2, 'w', nil, 0}, {"wait-interval", 2, 'W', nil, 0},
	{"exact", 0, 'x', nil, 0}, {"fragments", 0, 'f', nil, 0}, {"version", 0, 'V', nil, 0},
	{"help", 2, 'h', nil, 0}, {"line-numbers", 0, '0', nil, 0}, {"modprobe", 1, 'M', nil, 0},
	{"set-counters", 1, 'c', nil, 0}, {"goto", 1, 'g', nil, 0}, {"ipv4", 0, '4', nil, 0},
	{"ipv6", 0, '6', nil, 0},
}

// shortOpts is IPT_OPTSTRING without its leading "-:".
const shortOpts = "A:C:D:E:F::I:L::M:N:P:R:S::VX::Z::c:d:i:j:o:p:s:t:vW::46fg:h::m:nw::x"

// ParseCommand parses the arguments of one iptables command line (without
// the program name), or of one iptables-restore rule line.
func ParseCommand(args []string, opts ParseOptions) (*Command, error) {
	cmd := new(Command)
	if err := new(parser).command(cmd, args, opts); err != nil {
		return nil, err
	}
	return cmd, nil
}

// command parses one command line into cmd, whose Rules slice is reused.
// A parser parses any number of lines, one after the other: reusing one
// (and cmd) saves what every line would allocate anew, and
// iptables-restore input has a line per rule.
func (p *parser) command(cmd *Command, args []string, opts ParseOptions) error {
	if opts.Family == 0 {
		opts.Family = translator.IPv4
	}
	if opts.Table == "" {
		opts.Table = "filter"
	}
	clear(p.matches)
	clear(p.loaded)
	clear(p.g.ext)
	clear(cmd.Rules)
	*cmd = Command{Table: opts.Table, Wait: -1, Rules: cmd.Rules[:0]}
	*p = parser{
		opts:    opts,
		g:       getopt{args: args, short: shortOpts, base: baseLongOpts, ext: p.g.ext[:0]},
		cmd:     cmd,
		matches: p.matches[:0],
		loaded:  p.loaded[:0],
		takeArg: p.takeArg,
		srcBuf:  p.srcBuf[:0],
		dstBuf:  p.dstBuf[:0],
	}
	if p.takeArg == nil {
		p.takeArg = p.nextArg
	}
	if err := p.parse(); err != nil {
		return asError(err)
	}
	return nil
}

// nextArg consumes the next argument if it is not an option or "!", for
// extension options that take two (xt.Call.TakeArg).
func (p *parser) nextArg() (string, bool) {
	if p.g.hasArg() {
		a := p.g.args[p.g.optind]
		p.g.optind++
		return a, true
	}
	return "", false
}

func (p *parser) addCommand(c, others CmdKind) error {
	if p.invert {
		return paramErrorf("unexpected '!' flag")
	}
	if p.cmd.Kind&^others != 0 {
		return paramErrorf("Cannot use -%c with -%c", cmdChar(c), cmdChar(p.cmd.Kind&^others))
	}
	p.cmd.Kind |= c
	return nil
}

func (p *parser) setOption(o optBit) error {
	if p.options&o != 0 {
		return paramErrorf("multiple %s options not allowed", o.name())
	}
	p.options |= o
	if p.invert {
		switch o {
		case optSource, optDestination, optProtocol, optViaNameIn, optViaNameOut, optFragment:
		default:
			return paramErrorf("cannot have ! before %s", o.name())
		}
	}
	return nil
}

func parseRuleNumber(s string) (int, error) {
	n, ok := translator.ParseUint(s, 1, 1<<31-1)
	if !ok {
		return 0, paramErrorf("Invalid rule number `%s'", s)
	}
	return int(n), nil
}

// optionalArg returns the argument of an option with an optional
// argument: attached, or the next argument when it is not an option.
func (p *parser) optionalArg() (string, bool) {
	if p.g.hasOptarg {
		return p.g.optarg, true
	}
	if p.g.hasArg() {
		a := p.g.args[p.g.optind]
		p.g.optind++
		return a, true
	}
	return "", false
}

func (p *parser) parse() error {
	g := &p.g
	for {
		c := g.next()
		if c == codeEnd {
			break
		}
		var err error
		resetInvert := true
		switch c {
		case 'A':
			err = p.addCommand(CmdAppend, CmdNone)
			p.cmd.Chain = g.optarg
		case 'C':
			err = p.addCommand(CmdCheck, CmdNone)
			p.cmd.Chain = g.optarg
		case 'D':
			err = p.addCommand(CmdDelete, CmdNone)
			p.cmd.Chain = g.optarg
			if err == nil && g.hasArg() {
				p.cmd.RuleNum, err = parseRuleNumber(g.args[g.optind])
				g.optind++
				p.cmd.Kind = CmdDeleteNum
			}
		case 'R':
			err = p.addCommand(CmdReplace, CmdNone)
			p.cmd.Chain = g.optarg
			if err == nil {
				if !g.hasArg() {
					return paramErrorf("-%c requires a rule number", 'R')
				}
				p.cmd.RuleNum, err = parseRuleNumber(g.args[g.optind])
				g.optind++
			}
		case 'I':
			err = p.addCommand(CmdInsert, CmdNone)
			p.cmd.Chain = g.optarg
			p.cmd.RuleNum = 1
			if err == nil && g.hasArg() {
				p.cmd.RuleNum, err = parseRuleNumber(g.args[g.optind])
				g.optind++
			}
		case 'L', 'S':
			kind := CmdList
			if c == 'S' {
				kind = CmdListRules
			}
			err = p.addCommand(kind, CmdZero|CmdZeroNum)
			if a, ok := p.optionalArg(); ok {
				p.cmd.Chain = a
			}
			if err == nil && g.hasArg() {
				p.cmd.RuleNum, err = parseRuleNumber(g.args[g.optind])
				g.optind++
			}
		case 'F':
			err = p.addCommand(CmdFlush, CmdNone)
			if a, ok := p.optionalArg(); ok {
				p.cmd.Chain = a
			}
		case 'Z':
			err = p.addCommand(CmdZero, CmdList|CmdListRules)
			if a, ok := p.optionalArg(); ok {
				p.cmd.Chain = a
			}
			if err == nil && g.hasArg() {
				p.cmd.RuleNum, err = parseRuleNumber(g.args[g.optind])
				g.optind++
				p.cmd.Kind = p.cmd.Kind&^CmdZero | CmdZeroNum
			}
		case 'N':
			if err = ValidChainName(g.optarg, p.opts.Family); err == nil {
				err = p.addCommand(CmdNewChain, CmdNone)
			}
			p.cmd.Chain = g.optarg
		case 'X':
			err = p.addCommand(CmdDeleteChain, CmdNone)
			if a, ok := p.optionalArg(); ok {
				p.cmd.Chain = a
			}
		case 'E':
			err = p.addCommand(CmdRenameChain, CmdNone)
			p.cmd.Chain = g.optarg
			if err == nil {
				if !g.hasArg() {
					return paramErrorf("-%c requires old-chain-name and new-chain-name", 'E')
				}
				p.cmd.NewName = g.args[g.optind]
				g.optind++
				err = ValidChainName(p.cmd.NewName, p.opts.Family)
			}
		case 'P':
			err = p.addCommand(CmdSetPolicy, CmdNone)
			if err == nil {
				if !g.hasArg() {
					return paramErrorf("-%c requires a chain and a policy", 'P')
				}
				p.cmd.Chain = g.optarg
				p.cmd.Policy = g.args[g.optind]
				g.optind++
			}
		case 'h':
			return paramErrorf("-h/--help is not available inside a rule")
		case 'p':
			err = p.setOption(optProtocol)
			if err == nil {
				p.protocol = strings.ToLower(g.optarg)
				err = p.parseProto()
			}
		case 's':
			err = p.setOption(optSource)
			p.rule.InvSrc = p.invert
			p.src, p.srcSet = g.optarg, true
		case 'd':
			err = p.setOption(optDestination)
			p.rule.InvDst = p.invert
			p.dst, p.dstSet = g.optarg, true
		case 'g':
			err = p.setOption(optJump)
			if err == nil {
				p.gotoSet = true
				p.jumpTo, err = checkTargetName(g.optarg)
			}
		case 'j':
			err = p.setOption(optJump)
			if err == nil && g.optarg != "CONTINUE" {
				err = p.jump(g.optarg)
			}
		case 'i', 'o':
			if g.optarg == "" {
				return paramErrorf("Empty interface is likely to be undesired")
			}
			bit := optViaNameIn
			if c == 'o' {
				bit = optViaNameOut
			}
			err = p.setOption(bit)
			if err == nil {
				err = checkIface(g.optarg)
			}
			if c == 'i' {
				p.rule.InIface, p.rule.InvIn = g.optarg, p.invert
			} else {
				p.rule.OutIface, p.rule.InvOut = g.optarg, p.invert
			}
		case 'f':
			if p.opts.Family == translator.IPv6 {
				return paramErrorf("`-f' is not supported in IPv6, use -m frag instead")
			}
			err = p.setOption(optFragment)
			p.rule.Fragment, p.rule.InvFragment = true, p.invert
		case 'v':
			if p.cmd.Verbose == 0 {
				err = p.setOption(optVerbose)
			}
			p.cmd.Verbose++
		case 'm':
			err = p.loadMatch(g.optarg)
		case 'n':
			err = p.setOption(optNumeric)
			p.cmd.Numeric = true
		case 't':
			if p.invert {
				return paramErrorf("unexpected ! flag before --table")
			}
			if p.opts.Restore {
				return paramErrorf("The -t option cannot be used in %s.\n", "iptables-restore")
			}
			p.cmd.Table = g.optarg
		case 'x':
			err = p.setOption(optExpanded)
			p.cmd.Exact = true
		case 'V':
			return paramErrorf("-V/--version is not available inside a rule")
		case 'w':
			if p.opts.Restore {
				return paramErrorf("You cannot use `-w' from iptables-restore")
			}
			p.cmd.Wait = 0
			if a, ok := p.optionalArg(); ok {
				n, ok := translator.ParseUint(a, 0, 1<<31-1)
				if !ok {
					return paramErrorf("wait seconds not numeric")
				}
				p.cmd.Wait = int(n)
			}
		case 'W':
			if p.opts.Restore {
				return paramErrorf("You cannot use `-W' from iptables-restore")
			}
			if a, ok := p.optionalArg(); ok {
				n, ok := translator.ParseUint(a, 0, 999999)
				if !ok {
					return paramErrorf("wait interval not numeric")
				}
				p.cmd.WaitInterval = int(n)
			}
		case '0':
			err = p.setOption(optLineNumbers)
			p.cmd.LineNumbers = true
		case 'M':
			// --modprobe: bpftables loads no kernel modules.
		case 'c':
			err = p.setOption(optCounters)
			if err == nil {
				err = p.parseCounters(g.optarg)
			}
		case '4':
			if p.opts.Family != translator.IPv4 {
				if p.opts.Restore {
					p.cmd.Skip = true
					return nil
				}
				return paramErrorf("This is the IPv6 version of ip6tables.")
			}
		case '6':
			if p.opts.Family != translator.IPv6 {
				if p.opts.Restore {
					p.cmd.Skip = true
					return nil
				}
				return paramErrorf("This is the IPv4 version of iptables.")
			}
		case codeNonOption:
			if g.optarg == "!" {
				if p.invert {
					return paramErrorf("multiple consecutive ! not allowed")
				}
				p.invert = true
				continue
			}
			return paramErrorf("Bad argument `%s'", g.optarg)
		default:
			var again bool
			again, err = p.extensionOption(c)
			if again {
				resetInvert = false
			}
		}
		if err != nil {
			return err
		}
		if resetInvert {
			p.invert = false
		}
	}
	return p.finish()
}

// extensionOption hands an option to the target or match that owns it, or
// loads the protocol match implied by -p (iptables' command_default).
// again reports that the protocol match was loaded and the same argument
// must be parsed again.
func (p *parser) extensionOption(c int) (again bool, err error) {
	g := &p.g
	if c == codeExt {
		switch owner := g.long.owner.(type) {
		case *xt.TargetDef:
			if p.target != nil && p.target.def == owner {
				return false, p.targetOption(g.long)
			}
		case *xt.MatchDef:
			for i := len(p.matches) - 1; i >= 0; i-- {
				mi := &p.matches[i]
				if mi.def == owner && !mi.completed {
					return false, p.matchOption(mi, g.long)
				}
			}
		}
	}
	if m := p.loadProto(); m != nil {
		// rewind so the option is parsed again with the new options
		g.optind--
		g.nextchar = ""
		return true, nil
	}
	switch c {
	case codeMissingArg:
		return false, paramErrorf("option \"%s\" requires an argument", g.args[g.optind-1])
	case codeUnknown:
		if g.optopt != 0 && g.long == nil {
			return false, paramErrorf("unknown option \"-%c\"", g.optopt)
		}
		return false, paramErrorf("unknown option \"%s\"", g.args[g.optind-1])
	}
	return false, paramErrorf("Unknown arg \"%s\"", g.optarg)
}

func (p *parser) newCall(ext string, o *longOpt, opts []xt.Option, seen uint32) *xt.Call {
	// libxtables hands the extension the first entry with the option's
	// ID (xtables_option_lookup), whichever alias was typed: its flags
	// and name apply, so "! --ttl 5" is "! --ttl-eq 5", while the last
	// entry ("--ttl", not invertible) would refuse it.
	var opt *xt.Option
	for i := range opts {
		if opts[i].ID == o.id {
			opt = &opts[i]
			break
		}
	}
	p.call = xt.Call{Ext: ext, Opt: opt, Arg: p.g.optarg, Invert: p.invert, Family: p.opts.Family, Seen: seen, Rule: &p.rule}
	p.call.SetNext(p.takeArg)
	return &p.call
}

func (p *parser) matchOption(mi *matchInst, o *longOpt) error {
	c := p.newCall(mi.def.Name, o, mi.def.Options, mi.seen)
	if err := c.Convert(); err != nil {
		return err
	}
	if err := mi.m.Parse(c); err != nil {
		return err
	}
	mi.seen = c.Seen | xt.Bit(o.id)
	return nil
}

func (p *parser) targetOption(o *longOpt) error {
	ti := p.target
	c := p.newCall(ti.def.Name, o, ti.def.Options, ti.seen)
	if err := c.Convert(); err != nil {
		return err
	}
	if err := ti.t.Parse(c); err != nil {
		return err
	}
	ti.seen = c.Seen | xt.Bit(o.id)
	return nil
}

// extOpts caches the long option table of each extension (by its
// *xt.MatchDef or *xt.TargetDef): built once, shared by every parse.
var extOpts sync.Map

// longOpts returns the long option table of an extension.
func longOpts(owner any, opts []xt.Option) []longOpt {
	if l, ok := extOpts.Load(owner); ok {
		return l.([]longOpt)
	}
	l, _ := extOpts.LoadOrStore(owner, buildLongOpts(owner, opts))
	return l.([]longOpt)
}

func buildLongOpts(owner any, opts []xt.Option) []longOpt {
	l := make([]longOpt, len(opts))
	for i, o := range opts {
		hasArg := 1
		if o.Type == xt.None {
			hasArg = 0
		}
		l[i] = longOpt{name: o.Name, hasArg: hasArg, code: codeExt, owner: owner, id: o.ID}
	}
	return l
}

// canonicalMatchName maps the names iptables treats as one extension.
func canonicalMatchName(name string) string {
	switch name {
	case "icmpv6", "ipv6-icmp", "icmp6":
		return "icmp6"
	}
	return name
}

func (p *parser) findMatch(name string) (*xt.MatchDef, error) {
	if len(name) >= 29 {
		return nil, paramErrorf("Invalid match name \"%s\" (%d chars max)", name, 28)
	}
	d := xt.LookupMatch(canonicalMatchName(name), p.opts.Family)
	if d == nil {
		// an extension of the other family only (ttl, hl, ...) is missing
		// here exactly as iptables finds it missing
		if err := xt.Unsupported("match", name); err != nil && xt.LookupMatch(canonicalMatchName(name), otherFamily(p.opts.Family)) == nil {
			return nil, &Error{Status: ParameterProblem, Msg: err.Error(), Err: err}
		}
		return nil, paramErrorf("Couldn't load match `%s':No such file or directory\n", name)
	}
	return d, nil
}

func (p *parser) addMatch(d *xt.MatchDef) *matchInst {
	for i := range p.matches {
		if p.matches[i].def == d {
			p.matches[i].completed = true
		}
	}
	p.matches = append(p.matches, matchInst{def: d, m: d.New(p.opts.Family)})
	if !slices.Contains(p.loaded, d) {
		p.loaded = append(p.loaded, d)
		p.g.addExt(longOpts(d, d.Options))
	}
	return &p.matches[len(p.matches)-1]
}

func (p *parser) loadMatch(name string) error {
	if p.invert {
		return paramErrorf("unexpected ! flag before --match")
	}
	d, err := p.findMatch(name)
	if err != nil {
		return err
	}
	p.addMatch(d)
	return nil
}

// loadProto loads the match named after the -p protocol, once, so that
// "-p tcp --dport 22" works without "-m tcp".
func (p *parser) loadProto() *matchInst {
	if p.protocol == "" || p.protoUsed {
		return nil
	}
	p.protoUsed = true
	name := p.protocol
	if n, ok := translator.ParseUint(name, 0, 255); ok {
		pn := translator.ProtoName(uint8(n))
		if pn == strconv.Itoa(int(n)) || !isChainProto(pn) {
			return nil
		}
		name = pn
	}
	d := xt.LookupMatch(canonicalMatchName(name), p.opts.Family)
	if d == nil {
		return nil
	}
	return p.addMatch(d)
}

func otherFamily(f translator.Family) translator.Family {
	if f == translator.IPv6 {
		return translator.IPv4
	}
	return translator.IPv6
}

func isChainProto(name string) bool {
	_, err := translator.ParseProto(name)
	switch name {
	case "tcp", "sctp", "udp", "udplite", "icmp", "ipv6-icmp", "icmpv6", "esp", "ah",
		"mobility-header", "ipv6-mh", "mh", "dccp", "ipcomp", "all":
		return err == nil
	}
	return false
}

func (p *parser) parseProto() error {
	proto, err := translator.ParseProto(p.protocol)
	if err != nil {
		return paramErrorf("%v", err)
	}
	p.rule.Proto, p.rule.InvProto = proto, p.invert
	if proto == 0 && p.invert {
		return paramErrorf("rule would never match protocol")
	}
	return nil
}

func checkTargetName(name string) (string, error) {
	if name == "" {
		return "", paramErrorf("Invalid target name (too short)")
	}
	if len(name) >= 29 {
		return "", paramErrorf("Invalid target name `%s' (%d chars max)", name, 28)
	}
	if strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return "", paramErrorf("Invalid target name `%s'", name)
	}
	return name, nil
}

// jump handles -j: a standard verdict, a target extension (whose options
// join the table), or - decided at the end - a chain.
func (p *parser) jump(name string) error {
	name, err := checkTargetName(name)
	if err != nil {
		return err
	}
	p.jumpTo = name
	p.target = nil
	if _, ok := translator.StandardVerdicts[name]; ok {
		return nil
	}
	if d := xt.LookupTarget(name, p.opts.Family); d != nil {
		p.target = &targetInst{def: d, t: d.New(p.opts.Family)}
		p.g.addExt(longOpts(d, d.Options))
		return nil
	}
	// An iptables target bpftables lacks is refused here, before its
	// options would be reported as unknown - unless a chain has its name.
	if err := xt.Unsupported("target", name); err != nil && !p.isChain(name) && xt.LookupTarget(name, otherFamily(p.opts.Family)) == nil {
		return &Error{Status: ParameterProblem, Msg: err.Error(), Err: err}
	}
	return nil
}

func checkIface(name string) error {
	if len(name) >= 16 {
		return paramErrorf("interface name `%s' must be shorter than %d characters", name, 16)
	}
	// iptables only warns, but no interface can have such a name and
	// iptables-save could not print it back: refuse it.
	if strings.ContainsAny(name, " \t\n\v\f\r\"") {
		return paramErrorf("interface name `%s' has a character no interface name can have (white space or \")", name)
	}
	return nil
}

func (p *parser) parseCounters(arg string) error {
	pcnt, bcnt, found := strings.Cut(arg, ",")
	if !found {
		if !p.g.hasArg() {
			return paramErrorf("%s requires packet and byte counter", optCounters.name())
		}
		bcnt = p.g.args[p.g.optind]
		p.g.optind++
	}
	pk, ok1 := scanUint(pcnt)
	if !ok1 {
		return paramErrorf("%s packet counter not numeric", optCounters.name())
	}
	by, ok2 := scanUint(bcnt)
	if !ok2 {
		return paramErrorf("%s byte counter not numeric", optCounters.name())
	}
	p.cmd.Counters = &translator.Counters{Packets: pk, Bytes: by}
	return nil
}

// scanUint reads a number as sscanf("%llu") does: leading digits after
// optional space, the rest ignored.
func scanUint(s string) (uint64, bool) {
	s = strings.TrimLeft(s, " \t")
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:i], 10, 64)
	return v, err == nil
}

// ValidChainName checks a name for -N and -E (assert_valid_chain_name).
func ValidChainName(name string, f translator.Family) error {
	if len(name) >= 29 {
		return paramErrorf("chain name `%s' too long (must be under %d chars)", name, 29)
	}
	if name == "" {
		return paramErrorf("Invalid chain name `%s'", name)
	}
	if name[0] == '-' || name[0] == '!' {
		return paramErrorf("chain name not allowed to start with `%c'", name[0])
	}
	if _, ok := translator.StandardVerdicts[name]; ok || name == "QUEUE" || xt.LookupTarget(name, f) != nil {
		return paramErrorf("chain name may not clash with target name")
	}
	if strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return paramErrorf("Invalid chain name `%s'", name)
	}
	return nil
}

// finish does what iptables does after the last option: final checks of
// the extensions, option/command compatibility, the addresses, and the
// target.
func (p *parser) finish() error {
	g := &p.g
	if p.opts.Table == "nat" || p.cmd.Table == "nat" {
		if p.cmd.Policy == "DROP" || p.jumpTo == "DROP" {
			return paramErrorf("\nThe \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.\n\n")
		}
	}
	if p.cmd.WaitInterval != 0 && p.cmd.Wait < 0 {
		return paramErrorf("--wait-interval only makes sense with --wait\n")
	}
	for _, mi := range p.matches {
		p.final = xt.Final{Ext: mi.def.Name, Family: p.opts.Family, Seen: mi.seen, Rule: &p.rule}
		if err := xt.FinalMatch(mi.def, mi.m, &p.final); err != nil {
			return err
		}
	}
	if p.target != nil {
		p.final = xt.Final{Ext: p.target.def.Name, Family: p.opts.Family, Seen: p.target.seen, Rule: &p.rule}
		if err := xt.FinalTarget(p.target.def, p.target.t, &p.final); err != nil {
			return err
		}
	}
	if g.optind < len(g.args) {
		return paramErrorf("unknown arguments found on commandline")
	}
	if p.cmd.Kind == CmdNone {
		return paramErrorf("no command specified")
	}
	if p.invert {
		return paramErrorf("nothing appropriate following !")
	}
	for i := 0; i < numOpts; i++ {
		o := optBit(1 << i)
		if p.options&o != 0 && optCommands[i]&p.cmd.Kind == 0 {
			return paramErrorf("Illegal option `%s' with this command", o.name())
		}
	}
	if len(p.cmd.Chain) >= 29 {
		return paramErrorf("chain name `%s' too long (must be under %d chars)", p.cmd.Chain, 29)
	}
	if p.cmd.Kind&(cmdIDRAC) != 0 {
		switch p.cmd.Chain {
		case "PREROUTING", "INPUT":
			if p.options&optViaNameOut != 0 {
				return paramErrorf("Can't use %s with %s", optViaNameOut.name(), p.cmd.Chain)
			}
		case "POSTROUTING", "OUTPUT":
			if p.options&optViaNameIn != 0 {
				return paramErrorf("Can't use %s with %s", optViaNameIn.name(), p.cmd.Chain)
			}
		}
		return p.buildRules()
	}
	return nil
}

func (p *parser) isChain(name string) bool {
	return p.opts.IsChain != nil && p.opts.IsChain(p.cmd.Table, name)
}

// buildRules resolves the target and expands the address lists into rules.
func (p *parser) buildRules() error {
	r := p.rule
	if p.cmd.Counters != nil {
		r.Counters = *p.cmd.Counters
	}
	if len(p.matches) > 0 {
		r.Matches = make([]translator.Match, len(p.matches))
		for i, mi := range p.matches {
			r.Matches[i] = mi.m
		}
	}
	switch {
	case p.gotoSet:
		if !p.isChain(p.jumpTo) {
			return paramErrorf("goto '%s' is not a chain\n", p.jumpTo)
		}
		r.Target = &translator.Goto{Chain: p.jumpTo}
	case p.jumpTo == "":
	case p.isChain(p.jumpTo):
		r.Target = &translator.Jump{Chain: p.jumpTo}
	case p.target != nil:
		r.Target = p.target.t
	default:
		if v, ok := translator.StandardVerdicts[p.jumpTo]; ok {
			r.Target = &translator.Standard{Verdict: v}
			break
		}
		if err := xt.Unsupported("target", p.jumpTo); err != nil && xt.LookupTarget(p.jumpTo, otherFamily(p.opts.Family)) == nil {
			return &Error{Status: ParameterProblem, Msg: err.Error(), Err: err}
		}
		return paramErrorf("Couldn't load target `%s':No such file or directory\n", p.jumpTo)
	}

	srcs, err := p.parseAddrs(p.srcBuf, p.src, p.srcSet)
	if err != nil {
		return err
	}
	dsts, err := p.parseAddrs(p.dstBuf, p.dst, p.dstSet)
	if err != nil {
		return err
	}
	p.srcBuf, p.dstBuf = srcs, dsts
	if (len(srcs) > 1 || len(dsts) > 1) && (r.InvSrc || r.InvDst) {
		return paramErrorf("! not allowed with multiple source or destination IP addresses")
	}
	for _, s := range srcs {
		for _, d := range dsts {
			nr := r
			nr.Src, nr.Dst = s, d
			p.cmd.Rules = append(p.cmd.Rules, &nr)
		}
	}
	// Each expanded rule needs its own copy of a jump target, so that a
	// rename changes each.
	for i, r := range p.cmd.Rules {
		if i > 0 {
			p.cmd.Rules[i] = r.Clone()
		}
	}
	return nil
}

// parseAddrs parses a comma-separated list of address[/mask] as
// xtables_ipparse_multiple does, appending to out; an absent option is
// the any address.
func (p *parser) parseAddrs(out []translator.AddrMask, s string, set bool) ([]translator.AddrMask, error) {
	if !set {
		if p.opts.Family == translator.IPv6 {
			s = "::0/0"
		} else {
			s = "0.0.0.0/0"
		}
	}
	for more := true; more; {
		var part string
		part, s, more = strings.Cut(s, ",")
		for part != "" && (part[0] == ' ' || part[0] >= '\t' && part[0] <= '\r') {
			part = part[1:] // leading white space (isspace) is skipped
		}
		if len(part) > 255 {
			return nil, paramErrorf("Hostname too long")
		}
		a, err := ParseAddrMask(part, p.opts.Family)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ParseAddrMask parses one address[/mask] as -s and -d take it. The mask is
// a prefix length or, for IPv4, dotted; the address is masked.
func ParseAddrMask(s string, f translator.Family) (translator.AddrMask, error) {
	host, mask := s, ""
	i := strings.LastIndexByte(s, '/')
	hasMask := i >= 0
	if hasMask {
		host, mask = s[:i], s[i+1:]
	}
	var m netip.Addr
	if f == translator.IPv6 {
		full := netip.IPv6Unspecified()
		switch {
		case !hasMask:
			m = translator.PrefixMask(full, 128)
		default:
			if a, err := netip.ParseAddr(mask); err == nil && a.Is6() {
				m = a
			} else if n, ok := translator.ParseUint(mask, 0, 128); ok {
				m = translator.PrefixMask(full, int(n))
			} else {
				return translator.AddrMask{}, paramErrorf("invalid mask `%s' specified", mask)
			}
		}
		if translator.MaskLen(m) == 0 {
			host = "::"
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return translator.AddrMask{}, xtHostError(host)
		}
		return translator.AddrMask{Addr: translator.ApplyMask(a, m), Mask: m}, nil
	}
	full := netip.IPv4Unspecified()
	switch {
	case !hasMask:
		m = translator.PrefixMask(full, 32)
	default:
		if a, ok := xt.ParseIPv4Mask(mask); ok {
			m = a
		} else if n, ok := translator.ParseUint(mask, 0, 32); ok {
			m = translator.PrefixMask(full, int(n))
		} else {
			return translator.AddrMask{}, paramErrorf("invalid mask `%s' specified", mask)
		}
	}
	if m == full {
		host = "0.0.0.0"
	}
	a, ok := xt.ParseIPv4Dotted(host)
	if !ok {
		return translator.AddrMask{}, xtHostError(host)
	}
	return translator.AddrMask{Addr: translator.ApplyMask(a, m), Mask: m}, nil
}

func xtHostError(host string) error {
	return asError(xt.HostError(host))
}

// IsUnsupported reports whether err refuses an extension bpftables does
// not implement.
func IsUnsupported(err error) bool { return errors.Is(err, xt.ErrUnsupported) }

// String returns the command as a short description, for messages.
func (c *Command) String() string {
	return fmt.Sprintf("-%c %s", cmdChar(c.Kind), c.Chain)
}
