package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// NFLog is the NFLOG target: the packet is passed to a userspace logger
// through nfnetlink_log and goes on to the next rule (struct
// xt_nflog_info).
type NFLog struct {
	// Len is the number of bytes to copy: honoured only with
	// NFLogCopyLen (--nflog-size); without it (--nflog-range) the kernel
	// ignores it.
	Len       uint32
	Group     uint16
	Threshold uint16
	Flags     uint16
	Prefix    string
}

// NFLogCopyLen (XT_NFLOG_F_COPY_LEN) makes Len the copy length.
const NFLogCopyLen = 0x1

const (
	nflogOptGroup = iota
	nflogOptPrefix
	nflogOptRange
	nflogOptSize
	nflogOptThreshold
)

func init() {
	RegisterTarget(&TargetDef{
		Name: "NFLOG",
		Options: []Option{
			{Name: "nflog-group", Type: Uint16, ID: nflogOptGroup},
			// the prefix has 64 bytes in xt_nflog_info: longer ones are cut
			{Name: "nflog-prefix", Type: String, ID: nflogOptPrefix, Min: 1, Size: 64},
			{Name: "nflog-range", Type: Uint32, ID: nflogOptRange, Excl: Bit(nflogOptSize)},
			{Name: "nflog-size", Type: Uint32, ID: nflogOptSize, Excl: Bit(nflogOptRange)},
			{Name: "nflog-threshold", Type: Uint16, ID: nflogOptThreshold},
		},
		New: func(translator.Family) TargetParser { return &NFLog{} },
	})
}

// Name returns "NFLOG".
func (t *NFLog) Name() string { return "NFLOG" }

// Parse takes one NFLOG option.
func (t *NFLog) Parse(c *Call) error {
	switch c.Opt.ID {
	case nflogOptGroup:
		t.Group = uint16(c.U64)
	case nflogOptPrefix:
		if strings.Contains(c.Arg, "\n") {
			return c.Errorf("Newlines not allowed in --log-prefix")
		}
		t.Prefix = c.Arg
	case nflogOptRange, nflogOptSize:
		t.Len = uint32(c.U64)
	case nflogOptThreshold:
		t.Threshold = uint16(c.U64)
	}
	return nil
}

// Final makes --nflog-size a copy length. (--nflog-range, kept for
// iptables-legacy, only draws a warning from iptables.)
func (t *NFLog) Final(c *Final) error {
	if c.Has(nflogOptSize) {
		t.Flags |= NFLogCopyLen
	}
	return nil
}

// Save prints the options as nflog_print does: a zero group, range and
// threshold are left out, a size of zero is not.
func (t *NFLog) Save(b *strings.Builder, _ translator.Family) {
	if t.Prefix != "" {
		b.WriteString(" --nflog-prefix")
		SaveString(b, t.Prefix)
	}
	if t.Group != 0 {
		Savef(b, " --nflog-group %d", t.Group)
	}
	if t.Flags&NFLogCopyLen != 0 {
		Savef(b, " --nflog-size %d", t.Len)
	} else if t.Len != 0 {
		Savef(b, " --nflog-range %d", t.Len)
	}
	if t.Threshold != 0 {
		Savef(b, " --nflog-threshold %d", t.Threshold)
	}
}

// Check accepts NFLOG anywhere.
func (t *NFLog) Check(c *translator.CheckContext) error {
	if t.Flags&^NFLogCopyLen != 0 {
		return c.Errorf("NFLOG target: unknown flags 0x%x", t.Flags)
	}
	return nil
}

// Apply records the message sent to the netlink group and lets the packet
// go on.
func (t *NFLog) Apply(c *translator.Context) translator.Verdict {
	var b strings.Builder
	Savef(&b, "group %d", t.Group)
	if t.Prefix != "" {
		Savef(&b, " prefix %q", t.Prefix)
	}
	n := len(c.Packet.Data)
	if t.Flags&NFLogCopyLen != 0 && int64(t.Len) < int64(n) {
		n = int(t.Len)
	}
	Savef(&b, " packet %d bytes", n)
	c.Effect("NFLOG", "%s", b.String())
	return translator.Continue
}

// LogSpec is what the datapath logs for the rule (plan.Logger): the
// event goes to the reader tagged with the group, not to nfnetlink_log.
func (t *NFLog) LogSpec() plan.LogSpec {
	return plan.LogSpec{Kind: plan.LogNFLOG, Group: t.Group, Prefix: t.Prefix, Size: t.Len, HasSize: t.Flags&NFLogCopyLen != 0}
}
