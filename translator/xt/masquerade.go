package xt

import (
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// Masquerade is the MASQUERADE target: SNAT to the address of the
// interface the packet leaves by, optionally into a port range. Like
// SNAT it uses structures without a base port (revision 0 for IPv4 with
// nf_nat_ipv4_multi_range_compat, nf_nat_range for IPv6).
type Masquerade struct {
	NATRange
}

func init() {
	RegisterTarget(&TargetDef{
		Name: "MASQUERADE",
		Options: []Option{
			{Name: "to-ports", Type: String, ID: natOptToPorts},
			{Name: "random", Type: None, ID: natOptRandom},
			{Name: "random-fully", Type: None, ID: natOptRandomFully},
		},
		New: func(translator.Family) TargetParser { return &Masquerade{} },
	})
}

// Name returns "MASQUERADE".
func (t *Masquerade) Name() string { return "MASQUERADE" }

// Parse takes --to-ports, --random or --random-fully.
func (t *Masquerade) Parse(c *Call) error {
	err := t.parseOption(c)
	t.BasePort = 0 // lost in the copy to the kernel's structure
	return err
}

// Final has nothing to check.
func (t *Masquerade) Final(*Final) error { return nil }

// Save prints the target as MASQUERADE_save does: the ports without the
// colon.
func (t *Masquerade) Save(b *strings.Builder, _ translator.Family) {
	t.save(b, "--to-ports ", true)
}

// Check allows MASQUERADE where the kernel does: in the nat table, from
// POSTROUTING only. Its refusal of an address range cannot arise from
// iptables' options.
func (t *Masquerade) Check(c *translator.CheckContext) error {
	if err := c.RequireTable("MASQUERADE target", "nat"); err != nil {
		return err
	}
	return c.RequireHooks("MASQUERADE target", translator.PostRouting.Mask())
}

// Apply maps the source as nf_nat_masquerade does, to the address the
// route through the outgoing interface prefers. The evaluator does not
// know interface addresses: the effect names the interface and the packet
// keeps its source address; the port is chosen and rewritten as for SNAT
// (which port comes out does not depend on that address).
func (t *Masquerade) Apply(c *translator.Context) translator.Verdict {
	r := t.NATRange
	r.Flags |= NATMapIPs
	r.MinAddr, r.MaxAddr = netip.Addr{}, netip.Addr{}
	natApply(c, "MASQUERADE", &r, natSrc, "address of "+ifaceName(c.Packet.OutIface))
	return translator.Accept
}

// ifaceName names an interface in an effect, or says it is not known.
func ifaceName(name string) string {
	if name == "" {
		return "the interface"
	}
	return name
}
