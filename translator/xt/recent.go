package xt

import (
	"container/list"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// Recent is the recent match: lists of addresses recently seen, shared by
// name across rules (struct xt_recent_mtinfo_v1).
type Recent struct {
	// Seconds and HitCount limit --rcheck and --update to addresses seen
	// at least HitCount times in the last Seconds seconds (0: no limit).
	Seconds, HitCount uint32
	// CheckSet holds one RecentSet, RecentCheck, RecentUpdate or
	// RecentRemove command and the RecentTTL and RecentReap modifiers.
	CheckSet uint8
	Invert   bool
	// ListName is --name: rules of one name share a list.
	ListName string
	// Dest is --rdest: the destination address is remembered instead of
	// the source.
	Dest bool
	// Mask is applied to addresses before they are remembered or looked
	// up.
	Mask netip.Addr
}

// Command and modifier bits of Recent.CheckSet (XT_RECENT_*).
const (
	RecentCheck  = 1 << 0
	RecentSet    = 1 << 1
	RecentUpdate = 1 << 2
	RecentRemove = 1 << 3
	RecentTTL    = 1 << 4
	RecentReap   = 1 << 5

	recentCommands = RecentCheck | RecentSet | RecentUpdate | RecentRemove
	recentValid    = recentCommands | RecentTTL | RecentReap
)

const (
	recentNameLen = 200 // XT_RECENT_NAME_LEN
	// recentMaxStamps is XT_RECENT_MAX_NSTAMPS: the largest hit count.
	recentMaxStamps = 65536
	// recentListTot is the module parameter ip_list_tot: addresses per
	// list.
	recentListTot = 100
)

const (
	rcSet = iota
	rcCheck
	rcUpdate
	rcRemove
	rcSeconds
	rcReap
	rcHitCount
	rcTTL
	rcName
	rcSource
	rcDest
	rcMask
)

const rcAnyOp = 1<<rcSet | 1<<rcCheck | 1<<rcUpdate | 1<<rcRemove

var recentOptions = []Option{
	{Name: "set", Type: None, ID: rcSet, Excl: rcAnyOp, Flags: Invert},
	{Name: "rcheck", Type: None, ID: rcCheck, Excl: rcAnyOp, Flags: Invert},
	{Name: "update", Type: None, ID: rcUpdate, Excl: rcAnyOp, Flags: Invert},
	{Name: "remove", Type: None, ID: rcRemove, Excl: rcAnyOp, Flags: Invert},
	{Name: "seconds", Type: Uint32, ID: rcSeconds, Min: 1},
	{Name: "reap", Type: None, ID: rcReap, Also: Bit(rcSeconds)},
	{Name: "hitcount", Type: Uint32, ID: rcHitCount},
	{Name: "rttl", Type: None, ID: rcTTL, Excl: Bit(rcSet) | Bit(rcRemove)},
	{Name: "name", Type: String, ID: rcName, Size: recentNameLen},
	{Name: "rsource", Type: None, ID: rcSource},
	{Name: "rdest", Type: None, ID: rcDest},
	{Name: "mask", Type: Host, ID: rcMask},
}

func init() {
	RegisterMatch(&MatchDef{
		Name:    "recent",
		Options: recentOptions,
		New: func(f translator.Family) MatchParser {
			return &Recent{ListName: "DEFAULT", Mask: translator.PrefixMask(familyZero(f), f.Bits())}
		},
	})
}

// Name returns "recent".
func (m *Recent) Name() string { return "recent" }

// Parse takes one option, as recent_parse does.
func (m *Recent) Parse(c *Call) error {
	switch c.Opt.ID {
	case rcSet, rcCheck, rcUpdate, rcRemove:
		m.CheckSet |= map[uint]uint8{rcSet: RecentSet, rcCheck: RecentCheck, rcUpdate: RecentUpdate, rcRemove: RecentRemove}[c.Opt.ID]
		if c.Invert {
			m.Invert = true
		}
	case rcTTL:
		m.CheckSet |= RecentTTL
	case rcReap:
		m.CheckSet |= RecentReap
	case rcSource:
		m.Dest = false
	case rcDest:
		m.Dest = true
	case rcSeconds:
		m.Seconds = uint32(c.U64)
	case rcHitCount:
		m.HitCount = uint32(c.U64)
	case rcName:
		m.ListName = c.Arg
	case rcMask:
		m.Mask = c.Addr
	}
	return nil
}

// Final is recent_check: one command is needed.
func (m *Recent) Final(c *Final) error {
	if c.Seen&rcAnyOp == 0 {
		return c.Errorf("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'")
	}
	return nil
}

// Save prints the match as recent_save does for revision 1.
func (m *Recent) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	for _, o := range []struct {
		bit  uint8
		name string
	}{{RecentSet, "set"}, {RecentCheck, "rcheck"}, {RecentUpdate, "update"}, {RecentRemove, "remove"}} {
		if m.CheckSet&o.bit != 0 {
			b.WriteString(" --" + o.name)
		}
	}
	if m.Seconds != 0 {
		Savef(b, " --seconds %d", m.Seconds)
	}
	if m.CheckSet&RecentReap != 0 {
		b.WriteString(" --reap")
	}
	if m.HitCount != 0 {
		Savef(b, " --hitcount %d", m.HitCount)
	}
	if m.CheckSet&RecentTTL != 0 {
		b.WriteString(" --rttl")
	}
	// printf("%s"): the name is printed as it is, unquoted.
	b.WriteString(" --name")
	SaveWord(b, m.ListName)
	b.WriteString(" --mask " + translator.InetNtop(m.Mask))
	if m.Dest {
		b.WriteString(" --rdest")
	} else {
		b.WriteString(" --rsource")
	}
}

// Check refuses what recent_mt_check refuses.
func (m *Recent) Check(c *translator.CheckContext) error {
	cmds := m.CheckSet & recentCommands
	switch {
	case m.CheckSet&^recentValid != 0:
		return c.Errorf("recent: Unsupported user space flags (%08x)", m.CheckSet)
	case cmds == 0 || cmds&(cmds-1) != 0:
		return c.Errorf("recent: exactly one of --set, --rcheck, --update and --remove is needed")
	case cmds&(RecentSet|RecentRemove) != 0 && (m.Seconds != 0 || m.HitCount != 0 || m.CheckSet&(RecentTTL|RecentReap) != 0):
		return c.Errorf("recent: --seconds, --hitcount, --rttl and --reap go only with --rcheck and --update")
	case m.CheckSet&RecentReap != 0 && m.Seconds == 0:
		return c.Errorf("recent: --reap needs --seconds")
	case m.HitCount >= recentMaxStamps:
		return c.Errorf("recent: hitcount (%d) is larger than allowed maximum (%d)", m.HitCount, recentMaxStamps-1)
	}
	return checkProcName(c, "recent", m.ListName, recentNameLen)
}

// recentEntry is struct recent_entry: one address of a list.
type recentEntry struct {
	addr netip.Addr
	ttl  uint8
	// stamps are the jiffies the address was seen at, oldest first.
	stamps []uint64
	lru    *list.Element
}

// recentTable is struct recent_table: one named list.
type recentTable struct {
	mask    [16]byte
	entries map[netip.Addr]*recentEntry
	lru     *list.List // of *recentEntry, least recently used first
}

// recentTableKey names a list in State: the kernel shares lists by name
// only, across families and tables.
type recentTableKey struct{ name string }

// newRecentTable makes the list with the mask of the rule that creates
// it (struct nf_inet_addr: an IPv4 mask in the first word).
func newRecentTable(m *Recent) *recentTable {
	t := &recentTable{entries: map[netip.Addr]*recentEntry{}, lru: list.New()}
	for i := range t.mask {
		t.mask[i] = 0xff
	}
	copy(t.mask[:], m.Mask.AsSlice())
	return t
}

func (t *recentTable) remove(e *recentEntry) {
	t.lru.Remove(e.lru)
	delete(t.entries, e.addr)
}

// update is recent_entry_update: one more time stamp.
//
// The kernel keeps the last 2^k stamps, 2^k being at least the largest
// hit count of the rules using the list; whether a rule sees enough hits
// depends only on having at least its hit count of the latest stamps, so
// keeping XT_RECENT_MAX_NSTAMPS of them gives every rule the kernel's
// answer without knowing the others.
func (t *recentTable) update(e *recentEntry, now uint64) {
	if len(e.stamps) >= recentMaxStamps {
		e.stamps = append(e.stamps[:0], e.stamps[1:]...)
	}
	e.stamps = append(e.stamps, now)
	t.lru.MoveToBack(e.lru)
}

// Match is recent_mt. The list of the rule's name is created, with this
// rule's mask, by the first rule of that name to see a packet (the kernel
// creates it when the first such rule is loaded).
func (m *Recent) Match(c *translator.Context) bool {
	p := c.Packet
	now := jiffies(c.Now)
	mk := func() any { return newRecentTable(m) }
	var t *recentTable
	if c.State == nil {
		t = mk().(*recentTable)
	} else {
		t = c.State.Get(recentTableKey{m.ListName}, mk).(*recentTable)
	}

	addr := p.Src
	if m.Dest {
		addr = p.Dst
	}
	ttl := p.TTL
	// Use the TTL as seen before forwarding: the kernel adds one where
	// there is an output device and no local socket.
	switch c.Hook {
	case translator.Forward, translator.Output, translator.PostRouting:
		if p.Sock == nil {
			ttl++
		}
	}
	a := addr.AsSlice()
	for i := range a {
		a[i] &= t.mask[i]
	}
	addr, _ = netip.AddrFromSlice(a)

	ret := m.Invert
	lookupTTL := uint8(0)
	if m.CheckSet&RecentTTL != 0 {
		lookupTTL = ttl
	}
	e := t.entries[addr]
	if e != nil && lookupTTL != 0 && e.ttl != 0 && e.ttl != lookupTTL {
		e = nil
	}
	if e == nil {
		if m.CheckSet&RecentSet == 0 {
			return ret
		}
		if len(t.entries) >= recentListTot {
			t.remove(t.lru.Front().Value.(*recentEntry))
		}
		e = &recentEntry{addr: addr, ttl: ttl, stamps: []uint64{now}}
		e.lru = t.lru.PushBack(e)
		t.entries[addr] = e
		return !ret
	}

	removed := false
	switch {
	case m.CheckSet&RecentSet != 0:
		ret = !ret
	case m.CheckSet&RecentRemove != 0:
		t.remove(e)
		ret = !ret
	case m.CheckSet&(RecentCheck|RecentUpdate) != 0:
		// seconds * HZ is computed in 32 bits.
		since := now - uint64(m.Seconds*HZ)
		hits := uint32(0)
		for _, s := range e.stamps {
			if m.Seconds != 0 && timeAfter(since, s) {
				continue
			}
			hits++
			if m.HitCount == 0 || hits >= m.HitCount {
				ret = !ret
				break
			}
		}
		if m.CheckSet&RecentReap != 0 {
			// recent_entry_reap: the least recently used address goes if
			// its latest stamp is older than the window.
			oldest := t.lru.Front().Value.(*recentEntry)
			if timeAfter(since, oldest.stamps[len(oldest.stamps)-1]) {
				t.remove(oldest)
				removed = oldest == e
			}
		}
	}
	// The kernel would update an entry it has just reaped (freed); there is
	// nothing left to update here.
	if !removed && (m.CheckSet&RecentSet != 0 || (m.CheckSet&RecentUpdate != 0 && ret)) {
		t.update(e, now)
		e.ttl = ttl
	}
	return ret
}
