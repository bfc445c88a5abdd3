package xt

import "github.com/bpftables/bpftables/translator"

// NOTRACK is, since iptables 1.4.x, an alias of the CT target: iptables
// loads it as CT revision 2 with --notrack and the alias flag, and prints
// it back as "-j NOTRACK" (the corpus' libxt_NOTRACK.t pins that form).
// It takes no options; the result is a *CT whose Name is "NOTRACK".
func init() {
	RegisterTarget(&TargetDef{
		Name: "NOTRACK",
		New: func(translator.Family) TargetParser {
			return &CT{Flags: CTNotrack | CTNotrackAlias}
		},
	})
}
