package iptables

import (
	"errors"
	"fmt"
	"strings"
)

// Flavor is what bpftables calls its iptables variant in version strings,
// where iptables says "legacy" or "nf_tables".
const Flavor = "bpftables"

// FormatError renders an error the way the iptables program named prog
// prints it, and returns the exit status it uses:
//
//   - a parameter problem: "prog v1.8.9 (bpftables): MSG", the line, and
//     the "Try `prog -h'" hint, status 2;
//   - a rule or command the tables refused: "prog: line N: REASON" then
//     iptables-restore's own "prog: line N failed", status 1;
//   - anything else: "prog v1.8.9 (bpftables): MSG", status 1 or the
//     error's own.
func FormatError(prog string, err error) (string, int) {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Sprintf("%s v%s (%s): %v\n", prog, Version, Flavor, err), OtherProblem
	}
	var b strings.Builder
	switch {
	case e.Status == ParameterProblem:
		fmt.Fprintf(&b, "%s v%s (%s): %s\n", prog, Version, Flavor, e.Msg)
		if e.Line > 0 {
			fmt.Fprintf(&b, "Error occurred at line: %d\n", e.Line)
		}
		fmt.Fprintf(&b, "Try `%s -h' or '%s --help' for more information.\n", prog, prog)
	case errors.Is(e, errLineFailed):
		if e.Msg != "" {
			fmt.Fprintf(&b, "%s: line %d: %s\n", prog, e.Line, e.Msg)
		}
		fmt.Fprintf(&b, "%s: line %d failed\n", prog, e.Line)
	case errors.Is(e, errCommitExpected):
		fmt.Fprintf(&b, "%s\n", e.Msg)
	default:
		fmt.Fprintf(&b, "%s v%s (%s): %s\n", prog, Version, Flavor, e.Msg)
	}
	status := e.Status
	if status == 0 {
		status = OtherProblem
	}
	return b.String(), status
}
