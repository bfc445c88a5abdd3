package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// SNAT is the SNAT target: the source of a new connection is mapped into
// a range of addresses and ports. iptables uses revision 0 for IPv4
// (struct nf_nat_ipv4_multi_range_compat) and 1 for IPv6 (struct
// nf_nat_range); neither has room for a base port, so a shifted port
// range "a-b/base" keeps only its flag and prints as "a-b/0".
type SNAT struct {
	NATRange
}

func init() {
	RegisterTarget(&TargetDef{
		Name: "SNAT",
		Options: []Option{
			{Name: "to-source", Type: String, ID: natOptToSrc, Flags: Mand},
			{Name: "random", Type: None, ID: natOptRandom},
			{Name: "random-fully", Type: None, ID: natOptRandomFully},
			{Name: "persistent", Type: None, ID: natOptPersistent},
		},
		New: func(translator.Family) TargetParser { return &SNAT{} },
	})
}

// Name returns "SNAT".
func (t *SNAT) Name() string { return "SNAT" }

// Parse takes --to-source, --random, --random-fully or --persistent.
func (t *SNAT) Parse(c *Call) error {
	err := t.parseOption(c)
	t.BasePort = 0 // lost in the copy to the kernel's structure
	return err
}

// Final has nothing to check.
func (t *SNAT) Final(*Final) error { return nil }

// Save prints the target as SNAT_save does.
func (t *SNAT) Save(b *strings.Builder, _ translator.Family) {
	t.save(b, "--to-source ", false)
}

// Check allows SNAT where the kernel's xt_nat does: in the nat table,
// from POSTROUTING and INPUT, after routing.
func (t *SNAT) Check(c *translator.CheckContext) error {
	if err := c.RequireTable("SNAT target", "nat"); err != nil {
		return err
	}
	return c.RequireHooks("SNAT target", translator.PostRouting.Mask()|translator.Input.Mask())
}

// Apply maps the source of the packet's connection, rewrites the packet
// and accepts it. No iptables rule sees the rewritten source: the nat
// table is the last one at both hooks.
func (t *SNAT) Apply(c *translator.Context) translator.Verdict {
	natApply(c, "SNAT", &t.NATRange, natSrc, "")
	return translator.Accept
}
