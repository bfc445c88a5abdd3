package xt

import (
	"encoding/binary"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// Checksum is the CHECKSUM target (struct xt_CHECKSUM_info): it fills in
// the TCP or UDP checksum of a packet whose checksum was left to the
// network device, for the benefit of receivers (old DHCP clients in
// virtual machines) that would see it unfilled.
type Checksum struct {
	Operation uint8 // ChecksumFill
}

// ChecksumFill is XT_CHECKSUM_OP_FILL.
const ChecksumFill = 0x01

func init() {
	RegisterTarget(&TargetDef{
		Name: "CHECKSUM",
		Options: []Option{
			{Name: "checksum-fill", Type: None, Flags: Mand},
		},
		New: func(translator.Family) TargetParser { return &Checksum{} },
	})
}

// Name returns "CHECKSUM".
func (t *Checksum) Name() string { return "CHECKSUM" }

// Parse takes --checksum-fill.
func (t *Checksum) Parse(*Call) error {
	t.Operation = ChecksumFill
	return nil
}

// Final has nothing to check beyond the mandatory option.
func (t *Checksum) Final(*Final) error { return nil }

// Save prints --checksum-fill.
func (t *Checksum) Save(b *strings.Builder, _ translator.Family) {
	if t.Operation&ChecksumFill != 0 {
		b.WriteString(" --checksum-fill")
	}
}

// Check allows CHECKSUM in the mangle table only. (The kernel also warns,
// once, when the rule is not limited to -p udp; a warning refuses nothing.)
func (t *Checksum) Check(c *translator.CheckContext) error {
	if err := c.RequireTable("CHECKSUM target", "mangle"); err != nil {
		return err
	}
	if t.Operation != ChecksumFill {
		return c.Errorf("unsupported CHECKSUM operation %x", t.Operation)
	}
	return nil
}

// Apply fills in the checksum as skb_checksum_help does for a packet whose
// checksum is pending (CHECKSUM_PARTIAL). The Packet carries no offload
// state: a TCP or UDP checksum that does not verify is taken for a pending
// one, and one that verifies is left as it is, which the kernel would
// leave too or compute to the same value.
func (t *Checksum) Apply(c *translator.Context) translator.Verdict {
	p := c.Packet
	off, ok := l4ChecksumOffset(p.Proto)
	l4 := l4Bytes(p)
	if !ok || p.Fragment || p.MoreFrags || len(l4) < off+2 || l4ChecksumOK(p, true) {
		return translator.Continue
	}
	old := binary.BigEndian.Uint16(l4[off:])
	if p.Proto == packet.ProtoUDP && old == 0 && !p.IPv6 {
		return translator.Continue // an IPv4 datagram sent without a checksum
	}
	d := ownData(p)
	seg := d[p.L4Off : p.L4Off+len(l4)]
	binary.BigEndian.PutUint16(seg[off:], 0)
	sum := packet.Checksum(seg, pseudoSum(p, p.Proto, len(seg)))
	if sum == 0 && p.Proto == packet.ProtoUDP {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:], sum)
	c.Effect("CHECKSUM", "%s checksum 0x%04x -> 0x%04x", translator.ProtoName(p.Proto), old, sum)
	return translator.Continue
}
