package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// NFAcct is the nfacct match: every packet that reaches it is counted in
// a named extended accounting object (struct xt_nfacct_match_info). It
// matches unless the object has a quota it has not yet exceeded.
type NFAcct struct {
	Object string // the accounting object's name
}

// nfacctNameSize is NFACCT_NAME_MAX: names hold at most 31 bytes.
const nfacctNameSize = 32

func init() {
	RegisterMatch(&MatchDef{
		Name: "nfacct",
		Options: []Option{
			{Name: "nfacct-name", Type: String, Flags: Mand, Min: 1},
		},
		New: func(translator.Family) MatchParser { return &NFAcct{} },
	})
}

// Name returns "nfacct".
func (m *NFAcct) Name() string { return "nfacct" }

// Parse takes --nfacct-name. The whole argument is checked for newlines
// before it is cut to the size of the kernel's name.
func (m *NFAcct) Parse(c *Call) error {
	if strings.Contains(c.Arg, "\n") {
		return c.Errorf("Newlines not allowed in --nfacct-name")
	}
	m.Object = c.Arg
	if len(m.Object) >= nfacctNameSize {
		m.Object = m.Object[:nfacctNameSize-1]
	}
	return nil
}

// Final has nothing to check: the name is mandatory.
func (m *NFAcct) Final(*Final) error { return nil }

// Save prints the name as nfacct_save does, which puts a space after the
// option name and xtables_save_string another one before the value.
func (m *NFAcct) Save(b *strings.Builder, _ translator.Family) {
	b.WriteString(" --nfacct-name ")
	SaveString(b, m.Object)
}

// Check refuses a name that is not an existing accounting object, as
// nfacct_mt_checkentry does, when the objects are known.
func (m *NFAcct) Check(c *translator.CheckContext) error {
	if c.Objects != nil && !c.Objects.NFAcct(m.Object) {
		return c.Errorf("nfacct match: accounting object `%s' does not exist", m.Object)
	}
	return nil
}

// NFAcctQuota is the quota state of an accounting object after a packet
// was counted (NFACCT_* of nfnl_acct_overquota).
type NFAcctQuota int

// Quota states. Only an object still under its quota makes the match fail.
const (
	NFAcctNoQuota    NFAcctQuota = -1
	NFAcctUnderQuota NFAcctQuota = 0
	NFAcctOverQuota  NFAcctQuota = 1
)

// NFAcctAccounting is where the nfacct match counts packets: the kernel's
// accounting objects. An evaluation that wants the counts, or quotas,
// puts one in its State under NFAcctStateKey before judging packets.
type NFAcctAccounting interface {
	// Count adds a packet of the given length to the named object and
	// returns the object's quota state after the update.
	Count(name string, bytes uint64) NFAcctQuota
}

type nfacctStateKey struct{}

// NFAcctStateKey is the translator.State key of the NFAcctAccounting the
// nfacct match counts into. Without one, counts are kept in State as
// NFAcctCounters (objects without quotas), and without a State they are
// only recorded as effects.
var NFAcctStateKey any = nfacctStateKey{}

// NFAcctCounter is one accounting object: its counters and, optionally, a
// quota of packets or bytes (nfacct add NAME --quota).
type NFAcctCounter struct {
	Packets, Bytes uint64
	HasQuota       bool
	QuotaPackets   bool // the quota counts packets, not bytes
	Quota          uint64
}

// NFAcctCounters is an NFAcctAccounting kept in memory; objects are
// created on first use, without a quota.
type NFAcctCounters map[string]*NFAcctCounter

// Count is nfnl_acct_update followed by nfnl_acct_overquota.
func (a NFAcctCounters) Count(name string, bytes uint64) NFAcctQuota {
	o := a[name]
	if o == nil {
		o = &NFAcctCounter{}
		a[name] = o
	}
	o.Packets++
	o.Bytes += bytes
	if !o.HasQuota {
		return NFAcctNoQuota
	}
	now := o.Bytes
	if o.QuotaPackets {
		now = o.Packets
	}
	// Reaching the quota exactly is still under it; only passing it is
	// over.
	if now > o.Quota {
		return NFAcctOverQuota
	}
	return NFAcctUnderQuota
}

// Match counts the packet into the object and matches as nfacct_mt does:
// unless the object is under its quota.
func (m *NFAcct) Match(c *translator.Context) bool {
	n := uint64(len(c.Packet.Data))
	c.Effect("nfacct", "counted %d bytes in %s", n, m.Object)
	if c.State == nil {
		return true
	}
	acct := c.State.Get(NFAcctStateKey, func() any { return NFAcctCounters{} }).(NFAcctAccounting)
	return acct.Count(m.Object, n) != NFAcctUnderQuota
}
