package rulesets

import "embed"

// Examples are the example rulesets (examples/*.v4, *.v6), built into the
// binary so that `bpftables demo` runs from anywhere.
//
//go:embed examples/*.v4 examples/*.v6
var Examples embed.FS
