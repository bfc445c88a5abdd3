// Package iptables is bpftables' iptables front end: the iptables-restore
// and iptables-save text formats, and the argument grammar of a rule that
// they share with the iptables command.
//
// Parsing follows iptables 1.8 (legacy) closely: getopt_long's rules for
// options, libxtables' conversions and messages, and iptables-restore's
// tokenizer and line handling, so that what iptables accepts is accepted
// and what it refuses is refused with the same words.
package iptables

import (
	"errors"
	"fmt"

	"github.com/bpftables/bpftables/translator/xt"
)

// Exit statuses iptables uses (enum xtables_exittype).
const (
	OtherProblem     = 1
	ParameterProblem = 2
	VersionProblem   = 3
	ResourceProblem  = 4
)

// Error is a problem found in iptables input, with the exit status
// iptables uses for it and the line it was found on.
type Error struct {
	Status int
	// Line is the input line (1-based); 0 for a command line.
	Line int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func paramErrorf(format string, args ...any) *Error {
	return &Error{Status: ParameterProblem, Msg: fmt.Sprintf(format, args...)}
}

// asError turns any error from parsing into an *Error: extension
// parameter problems keep their text; others become parameter problems.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var pe *xt.ParamError
	if errors.As(err, &pe) {
		return &Error{Status: ParameterProblem, Msg: pe.Msg, Err: err}
	}
	return &Error{Status: ParameterProblem, Msg: err.Error(), Err: err}
}

// LineFailed is the error of input line line that could not be committed
// for reason: printed as iptables-restore's "line N failed", after the
// reason.
func LineFailed(line int, reason error) *Error {
	msg := ""
	if reason != nil {
		msg = reason.Error()
	}
	return &Error{Status: OtherProblem, Line: line, Msg: msg, Err: errors.Join(errLineFailed, reason)}
}
