package iptables

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// RestoreOptions are the iptables-restore flags that change how input is
// read.
type RestoreOptions struct {
	// Noflush (-n) keeps what the tables hold; otherwise every table named
	// in the input is flushed first.
	Noflush bool
	// Counters (-c) takes the [packets:bytes] of the input.
	Counters bool
	// KeepCounters takes counters where the input has them without
	// requiring them on policies, as `bpftables fmt` wants.
	KeepCounters bool
	// Table (-T) restores only that table; the others are skipped.
	Table string
	// Program names the tool in messages ("iptables-restore").
	Program string
	// Objects are the ipsets and nfacct counters rules may name; nil
	// leaves names unchecked.
	Objects translator.Objects
}

// maxLine is the longest line read; iptables-restore reads 10239 bytes.
const maxLine = 1 << 20

// Restore applies iptables-restore input to a copy of rs and returns the
// result. The whole input must parse and every table must pass the
// kernel's checks, or rs is returned unchanged with an *Error naming the
// line: unlike iptables-restore, which commits table by table, nothing of a
// failed input takes effect.
func Restore(rs *translator.Ruleset, r io.Reader, opts RestoreOptions) (*translator.Ruleset, error) {
	if opts.Program == "" {
		opts.Program = "iptables-restore"
		if rs.Family == translator.IPv6 {
			opts.Program = "ip6tables-restore"
		}
	}
	st := &restorer{rs: rs.Clone(), opts: opts}
	if err := st.run(r); err != nil {
		return rs, err
	}
	return st.rs, nil
}

type restorer struct {
	rs        *translator.Ruleset
	opts      RestoreOptions
	line      int
	table     *translator.Table // the table being restored, nil outside a block
	skipping  bool              // inside a table block that -T excludes
	tableLine int

	// reused for every rule line
	parser  parser
	cmd     Command
	args    []string
	isChain func(table, chain string) bool
}

func (st *restorer) run(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		text, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return &Error{Status: OtherProblem, Msg: err.Error(), Err: err}
		}
		st.line++
		if err := st.handle(text); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				e = asError(err)
			}
			if e.Line == 0 {
				e.Line = st.line
			}
			return e
		}
	}
	if st.table != nil {
		return &Error{Status: OtherProblem, Line: st.line + 1, Msg: fmt.Sprintf("%s: COMMIT expected at line %d", st.opts.Program, st.line+1), Err: errCommitExpected}
	}
	return nil
}

var (
	errCommitExpected = errors.New("COMMIT expected")
	errLineFailed     = errors.New("line failed")
)

// readLine reads one line without its newline; a line longer than maxLine
// is an error.
func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			if err == io.EOF && b.Len() > 0 {
				return b.String(), nil
			}
			return "", err
		}
		b.Write(chunk)
		if b.Len() > maxLine {
			return "", fmt.Errorf("line too long (more than %d bytes)", maxLine)
		}
		if !isPrefix {
			return b.String(), nil
		}
	}
}

// failed returns iptables-restore's "line N failed" error with a reason.
func (st *restorer) failed(reason error) error { return LineFailed(st.line, reason) }

func (st *restorer) handle(text string) error {
	switch {
	case text == "":
		return nil
	case text[0] == '#':
		return nil
	}
	if st.skipping {
		if text[0] == '*' {
			st.skipping = false
		} else {
			return nil
		}
	}
	switch {
	case text == "COMMIT" && st.table != nil:
		return st.commit()
	case text[0] == '*' && st.table == nil:
		return st.beginTable(text)
	case text[0] == ':' && st.table != nil:
		return st.chainLine(text)
	case st.table != nil:
		return st.ruleLine(text)
	}
	return st.failed(fmt.Errorf("`%s' outside of a table block (a line starting with `*')", firstWord(text)))
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func (st *restorer) beginTable(text string) error {
	fields := strings.Fields(text[1:])
	if len(fields) == 0 {
		return paramErrorf("%s: line %d table name invalid", st.opts.Program, st.line)
	}
	name := fields[0]
	if len(name) > 32 {
		name = name[:32]
	}
	if st.opts.Table != "" && st.opts.Table != name {
		st.skipping = true
		return nil
	}
	t, err := st.rs.EnsureTable(name)
	if err != nil {
		return paramErrorf("%s: unable to initialize table '%s'", st.opts.Program, name)
	}
	if !st.opts.Noflush {
		// iptables-restore flushes every chain and deletes the user chains;
		// built-in policies and their counters stay.
		_ = t.Flush("")
		t.RemoveUserChains()
	}
	st.table, st.tableLine = t, st.line
	return nil
}

func (st *restorer) chainLine(text string) error {
	fields := strings.Fields(text[1:])
	if len(fields) == 0 {
		return paramErrorf("%s: line %d chain name invalid", st.opts.Program, st.line)
	}
	name := fields[0]
	if len(name) >= 29 {
		return paramErrorf("Invalid chain name `%s' (%d chars max)", name, 28)
	}
	t := st.table
	c := t.Chain(name)
	if c == nil || !c.Builtin {
		if st.opts.Noflush && c != nil {
			_ = t.Flush(name)
		} else if err := t.NewChain(name); err != nil {
			return paramErrorf("error creating chain '%s':%s", name, "File exists")
		}
	}
	if len(fields) < 2 {
		return paramErrorf("%s: line %d policy invalid", st.opts.Program, st.line)
	}
	policy := fields[1]
	if policy == "-" {
		return nil
	}
	var counters *translator.Counters
	if len(fields) >= 3 || st.opts.Counters {
		cnt, ok := parseBracketCounters(field(fields, 2))
		if !ok {
			return paramErrorf("invalid policy counters for chain '%s'", name)
		}
		if st.opts.Counters || st.opts.KeepCounters {
			counters = &cnt
		}
	}
	p, err := translator.ParsePolicy(policy)
	if err == nil {
		err = t.SetPolicy(name, p, counters)
	}
	if err != nil {
		return &Error{Status: OtherProblem, Msg: fmt.Sprintf("Can't set policy `%s' on `%s' line %d: %v", policy, name, st.line, err), Err: err}
	}
	return nil
}

func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// parseBracketCounters parses "[packets:bytes]" as sscanf("[%llu:%llu]").
func parseBracketCounters(s string) (translator.Counters, bool) {
	if !strings.HasPrefix(s, "[") {
		return translator.Counters{}, false
	}
	pk, rest, ok := cutUint(s[1:])
	if !ok || !strings.HasPrefix(rest, ":") {
		return translator.Counters{}, false
	}
	by, _, ok := cutUint(rest[1:])
	if !ok {
		return translator.Counters{}, false
	}
	return translator.Counters{Packets: pk, Bytes: by}, true
}

func cutUint(s string) (uint64, string, bool) {
	v, ok := scanUint(s)
	if !ok {
		return 0, s, false
	}
	s = strings.TrimLeft(s, " \t")
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return v, s[i:], true
}

func (st *restorer) ruleLine(text string) error {
	rest := text
	var pcnt, bcnt string
	if strings.HasPrefix(text, "[") {
		end := strings.IndexByte(text, ']')
		if end < 0 {
			return paramErrorf("Bad line %d: need ]", st.line)
		}
		inner := text[1:end]
		p, b, ok := strings.Cut(inner, ":")
		p = strings.TrimLeft(p, ":")
		if p == "" {
			return paramErrorf("Bad line %d: need :", st.line)
		}
		if !ok || b == "" {
			return paramErrorf("Bad line %d: need ]", st.line)
		}
		pcnt, bcnt, rest = p, b, text[end+1:]
	}
	args, err := splitArgs(st.args[:0], rest)
	if err != nil {
		return err
	}
	st.args = args
	if (st.opts.Counters || st.opts.KeepCounters) && pcnt != "" {
		args = append([]string{"--set-counters", pcnt, bcnt}, args...)
	}
	if st.isChain == nil {
		st.isChain = func(table, chain string) bool {
			return st.table != nil && table == st.table.Name && st.table.Chain(chain) != nil
		}
	}
	cmd := &st.cmd
	err = st.parser.command(cmd, args, ParseOptions{
		Family:  st.rs.Family,
		Table:   st.table.Name,
		Restore: true,
		IsChain: st.isChain,
	})
	if err != nil {
		return err
	}
	for _, r := range cmd.Rules {
		r.Line = st.line
	}
	switch cmd.Kind {
	case CmdList, CmdListRules, CmdList | CmdZero, CmdListRules | CmdZero, CmdList | CmdZeroNum, CmdListRules | CmdZeroNum:
		return st.failed(fmt.Errorf("-%c: listing is not supported inside %s input", cmdChar(cmd.Kind&(CmdList|CmdListRules)), st.opts.Program))
	}
	if err := Apply(st.rs, cmd); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == ParameterProblem {
			return e
		}
		return st.failed(err)
	}
	return nil
}

// commit makes the kernel's checks of the table (jumps, loops, every
// match and target in its table and hooks). A problem is reported at the
// line of the rule it concerns.
func (st *restorer) commit() error {
	t := st.table
	st.table = nil
	if err := translator.CheckTable(st.rs.Family, t, st.opts.Objects); err != nil {
		e := st.failed(err).(*Error)
		var re *translator.RuleError
		if errors.As(err, &re) && re.Rule != nil && re.Rule.Line > 0 {
			e.Line = re.Rule.Line
			e.Msg = re.Err.Error()
			if re.Err == translator.ErrLoop {
				e.Msg = fmt.Sprintf("jump to chain `%s' from chain `%s' makes a loop: %v", re.Rule.Target.Name(), re.Chain, re.Err)
			}
		}
		return e
	}
	return nil
}
