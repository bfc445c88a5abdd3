package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// DNAT is the DNAT target: the destination of a new connection is mapped
// into a range of addresses and ports. It is revision 2 (struct
// nf_nat_range2), the one iptables 1.8 uses for both families, which keeps
// the base port of a shifted port range.
type DNAT struct {
	NATRange
}

func init() {
	RegisterTarget(&TargetDef{
		Name: "DNAT",
		Options: []Option{
			{Name: "to-destination", Type: String, ID: natOptToDest, Flags: Mand},
			{Name: "random", Type: None, ID: natOptRandom},
			{Name: "persistent", Type: None, ID: natOptPersistent},
		},
		New: func(translator.Family) TargetParser { return &DNAT{} },
	})
}

// Name returns "DNAT".
func (t *DNAT) Name() string { return "DNAT" }

// Parse takes --to-destination, --random or --persistent.
func (t *DNAT) Parse(c *Call) error { return t.parseOption(c) }

// Final has nothing to check: revision 2 takes shifted port ranges.
func (t *DNAT) Final(*Final) error { return nil }

// Save prints the target as DNATv2_save does.
func (t *DNAT) Save(b *strings.Builder, _ translator.Family) {
	t.save(b, "--to-destination ", false)
}

// Check allows DNAT where the kernel's xt_nat does: in the nat table,
// from PREROUTING and OUTPUT, where destinations are still to be routed.
func (t *DNAT) Check(c *translator.CheckContext) error {
	if err := c.RequireTable("DNAT target", "nat"); err != nil {
		return err
	}
	return c.RequireHooks("DNAT target", translator.PreRouting.Mask()|translator.Output.Mask())
}

// Apply maps the destination of the packet's connection, rewrites the
// packet so that the rules and hooks after this one see the translated
// destination, as the kernel's do, and accepts the packet (the nat table
// decides nothing more for it).
func (t *DNAT) Apply(c *translator.Context) translator.Verdict {
	natApply(c, "DNAT", &t.NATRange, natDst, "")
	return translator.Accept
}
