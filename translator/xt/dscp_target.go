package xt

import (
	"encoding/binary"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// DSCPTarget is the DSCP target (struct xt_DSCP_info): it rewrites the
// DiffServ code point, the upper six bits of the IPv4 TOS or IPv6 traffic
// class, keeping the two ECN bits.
type DSCPTarget struct {
	DSCP uint8
}

const (
	dscpOptSet = iota
	dscpOptClass
)

// DSCPClass returns the code point of a DiffServ class name as
// class_to_dscp finds it: the first class the name begins with, ignoring
// case (so "AF111" is AF11, as in iptables).
func DSCPClass(name string) (uint8, bool) {
	for _, c := range dscpClasses {
		if isAbbrev(name, c.name) {
			return c.dscp, true
		}
	}
	return 0, false
}

func init() {
	// libxt_DSCP registers the same extension for each family.
	for _, f := range []translator.Family{translator.IPv4, translator.IPv6} {
		RegisterTarget(&TargetDef{
			Name:   "DSCP",
			Family: f,
			Options: []Option{
				{Name: "set-dscp", Type: Uint8, ID: dscpOptSet, Excl: Bit(dscpOptClass), Max: dscpMax},
				{Name: "set-dscp-class", Type: String, ID: dscpOptClass, Excl: Bit(dscpOptSet)},
			},
			New: func(translator.Family) TargetParser { return &DSCPTarget{} },
		})
	}
}

// Name returns "DSCP".
func (t *DSCPTarget) Name() string { return "DSCP" }

// Parse takes --set-dscp or --set-dscp-class.
func (t *DSCPTarget) Parse(c *Call) error {
	if c.Opt.ID == dscpOptSet {
		t.DSCP = uint8(c.U64)
		return nil
	}
	v, ok := DSCPClass(c.Arg)
	if !ok {
		return c.Errorf("Invalid DSCP value `%s'", c.Arg)
	}
	t.DSCP = v
	return nil
}

// Final requires one of the options.
func (t *DSCPTarget) Final(c *Final) error {
	if c.Seen == 0 {
		return c.Errorf("DSCP target: Parameter --set-dscp is required")
	}
	return nil
}

// Save prints --set-dscp in hex, a class name too.
func (t *DSCPTarget) Save(b *strings.Builder, _ translator.Family) {
	Savef(b, " --set-dscp 0x%02x", t.DSCP)
}

// Check allows DSCP in the mangle table only, as the kernel does.
func (t *DSCPTarget) Check(c *translator.CheckContext) error {
	if err := c.RequireTable("DSCP target", "mangle"); err != nil {
		return err
	}
	if t.DSCP > dscpMax {
		return c.Errorf("DSCP target: dscp %x out of range", t.DSCP)
	}
	return nil
}

// Apply rewrites the code point when it differs, as dscp_tg and dscp_tg6
// do, in the packet's bytes too (with the IPv4 header checksum).
func (t *DSCPTarget) Apply(c *translator.Context) translator.Verdict {
	p := c.Packet
	if p.TOS>>2 == t.DSCP {
		return translator.Continue
	}
	old := p.TOS
	p.TOS = old&0x03 | t.DSCP<<2
	d := ownData(p)
	if p.IPv6 {
		// the traffic class spans bits 4-11 of the first 16-bit word
		w := binary.BigEndian.Uint16(d)
		binary.BigEndian.PutUint16(d, w&0xf00f|uint16(p.TOS)<<4)
	} else {
		setIPv4Word(d, 0, uint16(d[0])<<8|uint16(p.TOS))
	}
	c.Effect("DSCP", "dscp 0x%02x -> 0x%02x", old>>2, t.DSCP)
	return translator.Continue
}
