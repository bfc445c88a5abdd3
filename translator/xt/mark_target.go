package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// MarkTarget is the MARK target (revision 2, struct xt_mark_tginfo2): the
// packet mark becomes (mark & ^Mask) ^ Mark. Every form of the options
// comes down to this pair, which is all iptables-save prints.
type MarkTarget struct {
	Mark, Mask uint32
}

const (
	markOptSet = iota
	markOptAnd
	markOptOr
	markOptXor
	markOptSetX
)

// markOptAny makes the operations exclusive of each other and of
// themselves.
const markOptAny = 1<<markOptSet | 1<<markOptAnd | 1<<markOptOr | 1<<markOptXor | 1<<markOptSetX

func init() {
	RegisterTarget(&TargetDef{
		Name: "MARK",
		Options: []Option{
			{Name: "set-xmark", Type: MarkMask32, ID: markOptSetX, Excl: markOptAny},
			{Name: "set-mark", Type: MarkMask32, ID: markOptSet, Excl: markOptAny},
			{Name: "and-mark", Type: Uint32, ID: markOptAnd, Excl: markOptAny},
			{Name: "or-mark", Type: Uint32, ID: markOptOr, Excl: markOptAny},
			{Name: "xor-mark", Type: Uint32, ID: markOptXor, Excl: markOptAny},
		},
		New: func(translator.Family) TargetParser { return &MarkTarget{} },
	})
}

// Name returns "MARK".
func (t *MarkTarget) Name() string { return "MARK" }

// Parse turns each form into a value and a mask, as mark_tg_parse does.
func (t *MarkTarget) Parse(c *Call) error {
	switch c.Opt.ID {
	case markOptSetX:
		t.Mark, t.Mask = c.Mark, c.MarkMask
	case markOptSet:
		// the bits of the value are cleared too, so they end up set
		t.Mark, t.Mask = c.Mark, c.Mark|c.MarkMask
	case markOptAnd:
		t.Mark, t.Mask = 0, ^uint32(c.U64)
	case markOptOr:
		t.Mark, t.Mask = uint32(c.U64), uint32(c.U64)
	case markOptXor:
		t.Mark, t.Mask = uint32(c.U64), 0
	}
	return nil
}

// Final requires one of the options.
func (t *MarkTarget) Final(c *Final) error {
	if c.Seen == 0 {
		return c.Errorf("MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required")
	}
	return nil
}

// Save prints --set-xmark value/mask, whatever form was given.
func (t *MarkTarget) Save(b *strings.Builder, _ translator.Family) {
	Savef(b, " --set-xmark 0x%x/0x%x", t.Mark, t.Mask)
}

// Check accepts MARK in every table and chain, as the kernel has since
// revision 2.
func (t *MarkTarget) Check(*translator.CheckContext) error { return nil }

// Apply changes the packet mark as mark_tg does.
func (t *MarkTarget) Apply(c *translator.Context) translator.Verdict {
	old := c.Packet.Mark
	c.Packet.Mark = (old &^ t.Mask) ^ t.Mark
	c.Effect("MARK", "mark 0x%x -> 0x%x", old, c.Packet.Mark)
	return translator.Continue
}
