package iptables

import (
	"errors"
	"fmt"

	"github.com/bpftables/bpftables/translator"
)

// Apply carries out a parsed command that changes a ruleset: the rule
// commands (-A -I -D -R -C) and the chain commands (-N -X -E -F -Z -P).
// Listing commands are not handled here. On error the table may have been
// changed in part, as with iptables; callers work on a copy.
func Apply(rs *translator.Ruleset, cmd *Command) error {
	if cmd.Skip || cmd.Kind == CmdNone {
		return nil
	}
	t, err := rs.EnsureTable(cmd.Table)
	if err != nil {
		return &Error{Status: VersionProblem, Msg: fmt.Sprintf("can't initialize iptables table `%s': %v", cmd.Table, translator.ErrUnknownTable), Err: err}
	}
	f := rs.Family
	fail := func(err error) error {
		if err == nil {
			return nil
		}
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return &Error{Status: OtherProblem, Msg: err.Error(), Err: err}
	}
	for _, r := range cmd.Rules {
		if name, ok := translator.JumpChain(r.Target); ok {
			if c := t.Chain(name); c != nil && c.Builtin {
				return fail(fmt.Errorf("can't jump to built-in chain `%s'", name))
			}
		}
	}
	switch cmd.Kind {
	case CmdAppend:
		return fail(t.Append(cmd.Chain, cmd.Rules...))
	case CmdInsert:
		for _, r := range cmd.Rules {
			if err := t.Insert(cmd.Chain, cmd.RuleNum, r); err != nil {
				return fail(err)
			}
		}
		return nil
	case CmdReplace:
		if len(cmd.Rules) != 1 {
			return paramErrorf("Replacement rule does not specify a unique address")
		}
		return fail(t.Replace(cmd.Chain, cmd.RuleNum, cmd.Rules[0]))
	case CmdDelete:
		for _, r := range cmd.Rules {
			if err := t.Delete(cmd.Chain, r, f); err != nil {
				return fail(err)
			}
		}
		return nil
	case CmdDeleteNum:
		return fail(t.DeleteNum(cmd.Chain, cmd.RuleNum))
	case CmdCheck:
		for _, r := range cmd.Rules {
			n, err := t.Find(cmd.Chain, r, f)
			if err != nil {
				return fail(err)
			}
			if n == 0 {
				return fail(translator.ErrNoMatchingRule)
			}
		}
		return nil
	case CmdFlush:
		return fail(t.Flush(cmd.Chain))
	case CmdZero:
		return fail(t.Zero(cmd.Chain))
	case CmdZeroNum:
		return fail(t.ZeroRule(cmd.Chain, cmd.RuleNum))
	case CmdNewChain:
		return fail(t.NewChain(cmd.Chain))
	case CmdDeleteChain:
		return fail(t.DeleteChain(cmd.Chain))
	case CmdRenameChain:
		return fail(t.RenameChain(cmd.Chain, cmd.NewName))
	case CmdSetPolicy:
		p, err := translator.ParsePolicy(cmd.Policy)
		if err != nil {
			return fail(err)
		}
		return fail(t.SetPolicy(cmd.Chain, p, cmd.Counters))
	}
	return paramErrorf("-%c is not a command that changes rules", cmdChar(cmd.Kind))
}
