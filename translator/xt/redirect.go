package xt

import (
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// Redirect is the REDIRECT target: DNAT to the machine itself, to the
// loopback address for locally generated packets and to the first address
// of the incoming interface otherwise, optionally with a port range.
// iptables uses revision 0 (nf_nat_ipv4_multi_range_compat for IPv4,
// nf_nat_range for IPv6), which has no base port: a shifted port range is
// refused.
type Redirect struct {
	NATRange
}

func init() {
	RegisterTarget(&TargetDef{
		Name: "REDIRECT",
		Options: []Option{
			{Name: "to-ports", Type: String, ID: natOptToPorts},
			{Name: "random", Type: None, ID: natOptRandom},
		},
		New: func(translator.Family) TargetParser { return &Redirect{} },
	})
}

// Name returns "REDIRECT".
func (t *Redirect) Name() string { return "REDIRECT" }

// Parse takes --to-ports or --random.
func (t *Redirect) Parse(c *Call) error { return t.parseOption(c) }

// Final refuses a shifted port range, as DNAT_fcheck does for the
// revisions without a base port.
func (t *Redirect) Final(*Final) error {
	if t.Flags&NATProtoOffset != 0 {
		return Errorf("Shifted portmap ranges not supported with this kernel")
	}
	return nil
}

// Save prints the target as REDIRECT_save does: the ports without the
// colon.
func (t *Redirect) Save(b *strings.Builder, _ translator.Family) {
	t.save(b, "--to-ports ", true)
}

// Check allows REDIRECT where the kernel does: in the nat table, from
// PREROUTING and OUTPUT.
func (t *Redirect) Check(c *translator.CheckContext) error {
	if err := c.RequireTable("REDIRECT target", "nat"); err != nil {
		return err
	}
	return c.RequireHooks("REDIRECT target", translator.PreRouting.Mask()|translator.Output.Mask())
}

// Apply maps the destination as nf_nat_redirect does and accepts the
// packet. From OUTPUT the new destination is 127.0.0.1 or ::1 and is
// written into the packet. From PREROUTING it is an address of the
// incoming interface, which the evaluator does not know: the effect names
// the interface and the packet keeps its destination address, so later
// rules that look at the destination address see the old one where the
// kernel's would see the interface's. The port is rewritten either way.
func (t *Redirect) Apply(c *translator.Context) translator.Verdict {
	r := t.NATRange
	r.Flags |= NATMapIPs
	r.MinAddr = netip.Addr{}
	unknown := "address of " + ifaceName(c.Packet.InIface)
	if c.Hook == translator.Output {
		r.MinAddr = netip.MustParseAddr("127.0.0.1")
		if c.Packet.IPv6 {
			r.MinAddr = netip.IPv6Loopback()
		}
	}
	r.MaxAddr = r.MinAddr
	natApply(c, "REDIRECT", &r, natDst, unknown)
	return translator.Accept
}
