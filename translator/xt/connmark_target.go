package xt

import (
	"math"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// ConnmarkTarget is the CONNMARK target (revision 2, struct
// xt_connmark_tginfo2): it sets the connection mark, saves the packet
// mark into it, or restores the packet mark from it, with masks and a
// shift.
type ConnmarkTarget struct {
	Mode           uint8 // ConnmarkSet, ConnmarkSave or ConnmarkRestore
	CTMark, CTMask uint32
	NFMask         uint32
	ShiftDir       uint8 // ConnmarkShiftLeft or ConnmarkShiftRight
	ShiftBits      uint8
}

// CONNMARK modes (XT_CONNMARK_*).
const (
	ConnmarkSet = iota
	ConnmarkSave
	ConnmarkRestore
)

// Shift directions (D_SHIFT_*).
const (
	ConnmarkShiftLeft = iota
	ConnmarkShiftRight
)

const (
	connmarkOptSet = iota
	connmarkOptSave
	connmarkOptRestore
	connmarkOptAnd
	connmarkOptOr
	connmarkOptXor
	connmarkOptLShift
	connmarkOptRShift
	connmarkOptSetX
	connmarkOptCTMask
	connmarkOptNFMask
	connmarkOptMask
)

// connmarkOptAny are the operations, exclusive of each other.
const connmarkOptAny = 1<<connmarkOptSet | 1<<connmarkOptSave | 1<<connmarkOptRestore |
	1<<connmarkOptAnd | 1<<connmarkOptOr | 1<<connmarkOptXor | 1<<connmarkOptSetX

func init() {
	RegisterTarget(&TargetDef{
		Name: "CONNMARK",
		Options: []Option{
			{Name: "set-xmark", Type: MarkMask32, ID: connmarkOptSetX, Excl: connmarkOptAny},
			{Name: "set-mark", Type: MarkMask32, ID: connmarkOptSet, Excl: connmarkOptAny},
			{Name: "and-mark", Type: Uint32, ID: connmarkOptAnd, Excl: connmarkOptAny},
			{Name: "or-mark", Type: Uint32, ID: connmarkOptOr, Excl: connmarkOptAny},
			{Name: "xor-mark", Type: Uint32, ID: connmarkOptXor, Excl: connmarkOptAny},
			{Name: "save-mark", Type: None, ID: connmarkOptSave, Excl: connmarkOptAny},
			{Name: "restore-mark", Type: None, ID: connmarkOptRestore, Excl: connmarkOptAny},
			{Name: "left-shift-mark", Type: Uint8, ID: connmarkOptLShift, Max: 32},
			{Name: "right-shift-mark", Type: Uint8, ID: connmarkOptRShift, Max: 32},
			{Name: "ctmask", Type: Uint32, ID: connmarkOptCTMask, Excl: Bit(connmarkOptMask)},
			{Name: "nfmask", Type: Uint32, ID: connmarkOptNFMask, Excl: Bit(connmarkOptMask)},
			{Name: "mask", Type: Uint32, ID: connmarkOptMask, Excl: Bit(connmarkOptCTMask) | Bit(connmarkOptNFMask)},
		},
		New: func(translator.Family) TargetParser {
			// masks that --save-mark and --restore-mark use when none is given
			return &ConnmarkTarget{CTMask: math.MaxUint32, NFMask: math.MaxUint32}
		},
	})
}

// Name returns "CONNMARK".
func (t *ConnmarkTarget) Name() string { return "CONNMARK" }

// Parse takes one option as connmark_tg_parse_v2 does: the later option
// wins where two set the same field.
func (t *ConnmarkTarget) Parse(c *Call) error {
	switch c.Opt.ID {
	case connmarkOptSetX:
		t.Mode, t.CTMark, t.CTMask = ConnmarkSet, c.Mark, c.MarkMask
	case connmarkOptSet:
		t.Mode, t.CTMark, t.CTMask = ConnmarkSet, c.Mark, c.Mark|c.MarkMask
	case connmarkOptAnd:
		t.Mode, t.CTMark, t.CTMask = ConnmarkSet, 0, ^uint32(c.U64)
	case connmarkOptOr:
		t.Mode, t.CTMark, t.CTMask = ConnmarkSet, uint32(c.U64), uint32(c.U64)
	case connmarkOptXor:
		t.Mode, t.CTMark, t.CTMask = ConnmarkSet, uint32(c.U64), 0
	case connmarkOptSave:
		t.Mode = ConnmarkSave
	case connmarkOptRestore:
		t.Mode = ConnmarkRestore
	case connmarkOptCTMask:
		t.CTMask = uint32(c.U64)
	case connmarkOptNFMask:
		t.NFMask = uint32(c.U64)
	case connmarkOptMask:
		t.NFMask, t.CTMask = uint32(c.U64), uint32(c.U64)
	case connmarkOptLShift:
		t.ShiftDir, t.ShiftBits = ConnmarkShiftLeft, uint8(c.U64)
	case connmarkOptRShift:
		t.ShiftDir, t.ShiftBits = ConnmarkShiftRight, uint8(c.U64)
	}
	return nil
}

// Final requires an operation.
func (t *ConnmarkTarget) Final(c *Final) error {
	if c.Seen&connmarkOptAny == 0 {
		return c.Errorf("CONNMARK target: No operation specified")
	}
	return nil
}

// Save prints the canonical form of connmark_tg_save_v2: --set-xmark for
// every way of setting, both masks for saving and restoring, and the shift
// when there is one.
func (t *ConnmarkTarget) Save(b *strings.Builder, _ translator.Family) {
	switch t.Mode {
	case ConnmarkSet:
		Savef(b, " --set-xmark 0x%x/0x%x", t.CTMark, t.CTMask)
	case ConnmarkSave:
		Savef(b, " --save-mark --nfmask 0x%x --ctmask 0x%x", t.NFMask, t.CTMask)
	case ConnmarkRestore:
		Savef(b, " --restore-mark --nfmask 0x%x --ctmask 0x%x", t.NFMask, t.CTMask)
	}
	if t.ShiftBits != 0 {
		dir := "left"
		if t.ShiftDir == ConnmarkShiftRight {
			dir = "right"
		}
		Savef(b, " --%s-shift-mark %d", dir, t.ShiftBits)
	}
}

// Check refuses a shift of all 32 bits, which iptables lets through but
// the kernel (6.x) refuses as it would be undefined on a 32-bit mark.
func (t *ConnmarkTarget) Check(c *translator.CheckContext) error {
	if t.ShiftBits >= 32 {
		return c.Errorf("CONNMARK target: shift of %d bits out of range (0-31)", t.ShiftBits)
	}
	return nil
}

// connmarkTracked is nf_ct_get(skb) != NULL: the packet belongs to a
// connection. Invalid and untracked packets have none.
func connmarkTracked(p *packet.Packet) bool {
	return p.CT.State&(packet.CTNew|packet.CTEstablished|packet.CTRelated) != 0
}

func (t *ConnmarkTarget) shift(v uint32) uint32 {
	if t.ShiftDir == ConnmarkShiftRight {
		return v >> t.ShiftBits
	}
	return v << t.ShiftBits
}

// Apply works on the connection mark and the packet mark as
// connmark_tg_shift does; without a connection it does nothing.
func (t *ConnmarkTarget) Apply(c *translator.Context) translator.Verdict {
	p := c.Packet
	if !connmarkTracked(p) {
		return translator.Continue
	}
	switch t.Mode {
	case ConnmarkSet:
		old := p.CT.Mark
		p.CT.Mark = t.shift((old &^ t.CTMask) ^ t.CTMark)
		c.Effect("CONNMARK", "ctmark 0x%x -> 0x%x", old, p.CT.Mark)
	case ConnmarkSave:
		old := p.CT.Mark
		p.CT.Mark = (old &^ t.CTMask) ^ t.shift(p.Mark&t.NFMask)
		c.Effect("CONNMARK", "ctmark 0x%x -> 0x%x", old, p.CT.Mark)
	case ConnmarkRestore:
		old := p.Mark
		p.Mark = (old &^ t.NFMask) ^ t.shift(p.CT.Mark&t.CTMask)
		c.Effect("CONNMARK", "mark 0x%x -> 0x%x", old, p.Mark)
	}
	return translator.Continue
}
