package xt

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// Hashlimit is the hashlimit match: a token bucket per group of packets
// (source/destination address and port, as its mode says), in a table
// shared by every rule of the same name. It is revision 3 (struct
// xt_hashlimit_mtinfo3), the one iptables 1.8 uses on every kernel since
// 4.12.
type Hashlimit struct {
	// TableName is --hashlimit-name: rules of one name share buckets.
	TableName string
	// Mode holds the HashlimitHash* bits (what makes up a bucket's key)
	// and the HashlimitInvert, HashlimitBytes and HashlimitRateMatch
	// flags.
	Mode uint32
	// Avg is the average time between packets in 1/1000000 s, or for
	// byte rates (HashlimitBytes) the cost of a 16-byte chunk.
	Avg uint64
	// Burst is the number of packets of a burst, or for byte rates the
	// number of times the bucket may be refilled at once.
	Burst uint64
	// Size and Max are the bucket count and entry limit of the table (0:
	// the kernel's default), GCInterval and Expire in milliseconds.
	Size, Max, GCInterval, Expire uint32
	// Interval is the measuring interval of --hashlimit-rate-match, in
	// seconds.
	Interval uint32
	// SrcMask and DstMask are the prefix lengths the addresses are
	// grouped by; 255 for a mask that is not a prefix (refused by the
	// kernel).
	SrcMask, DstMask uint8

	// mult is the length in seconds of the rate's unit (the C
	// extension's udata), needed by the final check.
	mult uint32
}

// Mode bits of Hashlimit (XT_HASHLIMIT_*).
const (
	HashlimitHashDstIP   = 1 << 0
	HashlimitHashDstPort = 1 << 1
	HashlimitHashSrcIP   = 1 << 2
	HashlimitHashSrcPort = 1 << 3
	HashlimitInvert      = 1 << 4
	HashlimitBytes       = 1 << 5
	HashlimitRateMatch   = 1 << 6
	hashlimitAll         = 1<<7 - 1
)

const (
	hashlimitScale       = 1000000 // XT_HASHLIMIT_SCALE_v2
	hashlimitByteShift   = 4       // XT_HASHLIMIT_BYTE_SHIFT
	hashlimitBurstMax    = 1000000 // XT_HASHLIMIT_BURST_MAX
	hashlimitGCInterval  = 1000    // XT_HASHLIMIT_GCINTERVAL
	hashlimitByteExpire  = 15      // XT_HASHLIMIT_BYTE_EXPIRE
	hashlimitBurstExpire = 60      // XT_HASHLIMIT_BYTE_EXPIRE_BURST
	hashlimitMaxSize     = 1048576 // HASHLIMIT_MAX_SIZE of the kernel
	hashlimitNameMax     = 255     // NAME_MAX: the size of the name field
)

const (
	hlUpto = iota
	hlAbove
	hlLimit
	hlMode
	hlSrcMask
	hlDstMask
	hlName
	hlBurst
	hlSize
	hlMax
	hlGCInterval
	hlExpire
	hlRateMatch
	hlInterval
)

var hashlimitOptions = []Option{
	{Name: "hashlimit-upto", Type: String, ID: hlUpto, Excl: Bit(hlAbove), Flags: Invert},
	{Name: "hashlimit-above", Type: String, ID: hlAbove, Excl: Bit(hlUpto), Flags: Invert},
	{Name: "hashlimit", Type: String, ID: hlUpto, Excl: Bit(hlAbove), Flags: Invert},
	{Name: "hashlimit-srcmask", Type: Plen, ID: hlSrcMask},
	{Name: "hashlimit-dstmask", Type: Plen, ID: hlDstMask},
	{Name: "hashlimit-burst", Type: String, ID: hlBurst},
	{Name: "hashlimit-htable-size", Type: Uint32, ID: hlSize},
	{Name: "hashlimit-htable-max", Type: Uint32, ID: hlMax},
	{Name: "hashlimit-htable-gcinterval", Type: Uint32, ID: hlGCInterval},
	{Name: "hashlimit-htable-expire", Type: Uint32, ID: hlExpire},
	{Name: "hashlimit-mode", Type: String, ID: hlMode},
	{Name: "hashlimit-name", Type: String, ID: hlName, Flags: Mand, Min: 1, Size: hashlimitNameMax},
	{Name: "hashlimit-rate-match", Type: None, ID: hlRateMatch},
	{Name: "hashlimit-rate-interval", Type: String, ID: hlInterval},
}

func init() {
	RegisterMatch(&MatchDef{
		Name:    "hashlimit",
		Options: hashlimitOptions,
		New: func(f translator.Family) MatchParser {
			bits := uint8(f.Bits())
			return &Hashlimit{Burst: 5, GCInterval: hashlimitGCInterval, SrcMask: bits, DstMask: bits}
		},
	})
}

// Name returns "hashlimit".
func (m *Hashlimit) Name() string { return "hashlimit" }

// hashlimitFactor is get_factor: the multiplier of a "k" or "m" suffix.
func hashlimitFactor(c byte) uint64 {
	switch c {
	case 'm':
		return 1024 * 1024
	case 'k':
		return 1024
	}
	return 1
}

// hashlimitBytesToCost is bytes_to_cost; ok is false where the C code
// divides by zero.
func hashlimitBytesToCost(bytes uint64) (uint64, bool) {
	r := uint32(bytes>>hashlimitByteShift) + 1
	if r == 0 {
		return 0, false
	}
	return math.MaxUint32 / uint64(r), true
}

// hashlimitCostToBytes is cost_to_bytes.
func hashlimitCostToBytes(cost uint64) uint64 {
	r := uint64(math.MaxUint32)
	if cost != 0 {
		r = math.MaxUint32 / cost
	}
	return (r - 1) << hashlimitByteShift
}

// parseBytes is parse_bytes: "N[k|m]b/s". ok is false when the argument
// is not a byte rate.
func (m *Hashlimit) parseBytes(rate string) (ok bool, err error) {
	i := strings.Index(rate, "b/s")
	if i <= 0 {
		return false, nil
	}
	r := uint64(strtol(rate))
	if r == 0 {
		return false, nil
	}
	cost, valid := hashlimitBytesToCost(r * hashlimitFactor(rate[i-1]))
	if !valid || cost == 0 {
		return false, Errorf("Rate too high \"%s\"", rate)
	}
	// Below one unit of the kernel's byte cost, iptables keeps a rate it
	// prints as 0b/s, which does not parse back: refuse it.
	if hashlimitCostToBytes(cost) == 0 {
		return false, Errorf("Rate too low \"%s\" (the smallest byte rate is %db/s)", rate, 1<<hashlimitByteShift)
	}
	m.mult = hashlimitByteExpire
	m.Avg = cost
	return true, nil
}

// parseRate is parse_rate: "N[/unit]".
func (m *Hashlimit) parseRate(rate string) (ok bool, err error) {
	mult, ok := rateUnit(rate)
	m.mult = 1
	if !ok {
		return false, nil
	}
	m.mult = mult
	r := uint64(strtol(rate))
	if r == 0 {
		return false, nil
	}
	avg := hashlimitScale * uint64(mult) / r
	if avg == 0 {
		// The rate maps to infinity.
		return false, Errorf("Rate too fast \"%s\"", rate)
	}
	m.Avg = avg
	return true, nil
}

func hashlimitBadValue(opt, arg string) error {
	return Errorf("hashlimit: Bad value for \"%s\" option: \"%s\"", opt, arg)
}

// parseHashlimitMode is parse_mode: names separated by "," or "|".
func parseHashlimitMode(s string) (uint32, bool) {
	var mode uint32
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' }) {
		switch tok {
		case "dstip":
			mode |= HashlimitHashDstIP
		case "srcip":
			mode |= HashlimitHashSrcIP
		case "srcport":
			mode |= HashlimitHashSrcPort
		case "dstport":
			mode |= HashlimitHashDstPort
		default:
			return 0, false
		}
	}
	return mode, true
}

// Parse takes one option, as hashlimit_mt_parse does.
func (m *Hashlimit) Parse(c *Call) error {
	switch c.Opt.ID {
	case hlBurst:
		v, rest, ok := translator.ParseUintBase(c.Arg, 1, 0, 0)
		if !ok || (rest == "" && v > hashlimitBurstMax) {
			return hashlimitBurstError()
		}
		if rest != "" {
			v *= hashlimitFactor(rest[0])
		}
		m.Burst = v
	case hlUpto, hlAbove:
		// --hashlimit-upto and ! --hashlimit-above are the same match.
		if c.Invert == (c.Opt.ID == hlUpto) {
			m.Mode |= HashlimitInvert
		}
		bytes, err := m.parseBytes(c.Arg)
		if err != nil {
			return err
		}
		if bytes {
			m.Mode |= HashlimitBytes
			break
		}
		if ok, err := m.parseRate(c.Arg); err != nil || !ok {
			if err != nil {
				return err
			}
			name := "--hashlimit-upto" // also for the old name --hashlimit
			if c.Opt.ID == hlAbove {
				name = "--hashlimit-above"
			}
			return hashlimitBadValue(name, c.Arg)
		}
	case hlMode:
		mode, ok := parseHashlimitMode(c.Arg)
		if !ok {
			return hashlimitBadValue("--hashlimit-mode", c.Arg)
		}
		m.Mode |= mode
	case hlSrcMask, hlDstMask:
		plen := uint8(255) // (uint8_t)-1: a mask that is not a prefix
		if c.PLen >= 0 {
			plen = uint8(c.PLen)
		}
		if c.Opt.ID == hlSrcMask {
			m.SrcMask = plen
		} else {
			m.DstMask = plen
		}
	case hlRateMatch:
		m.Mode |= HashlimitRateMatch
	case hlInterval:
		r := atoi(c.Arg)
		if r <= 0 {
			return hashlimitBadValue("--hashlimit-rate-interval", c.Arg)
		}
		m.Interval = uint32(r)
	case hlName:
		m.TableName = c.Arg
	case hlSize:
		m.Size = uint32(c.U64)
	case hlMax:
		m.Max = uint32(c.U64)
	case hlGCInterval:
		m.GCInterval = uint32(c.U64)
	case hlExpire:
		m.Expire = uint32(c.U64)
	}
	return nil
}

func hashlimitBurstError() error {
	return Errorf("bad value for option \"--hashlimit-burst\", or out of range (1-%d).", hashlimitBurstMax)
}

// Final is hashlimit_mt_check: defaults that depend on the rate, the byte
// burst, and the rate-match conversion.
func (m *Hashlimit) Final(c *Final) error {
	if !c.Has(hlUpto) && !c.Has(hlAbove) {
		return c.Errorf("You have to specify --hashlimit")
	}
	if !c.Has(hlExpire) {
		m.Expire = m.mult * 1000
	}
	if m.Mode&HashlimitBytes != 0 {
		var burst uint32
		if c.Has(hlBurst) {
			unit := hashlimitCostToBytes(m.Avg)
			if m.Burst < unit {
				return c.Errorf("burst cannot be smaller than %db", unit)
			}
			if unit == 0 {
				// A rate of 0b/s: iptables divides by zero here and dies.
				return c.Errorf("burst cannot be used with a byte rate of 0b/s")
			}
			// The C code keeps the burst in 32 bits for this.
			burst = uint32(uint64(uint32(m.Burst)) / unit)
			if m.Burst%unit != 0 {
				burst++
			}
			if !c.Has(hlExpire) {
				m.Expire = hashlimitBurstExpire * 1000
			}
		}
		m.Burst = uint64(burst)
	} else if m.Burst > hashlimitBurstMax {
		return hashlimitBurstError()
	}
	if m.Mode&HashlimitRateMatch != 0 {
		if m.Mode&HashlimitBytes == 0 {
			m.Avg /= uint64(m.mult)
		}
		if m.Interval == 0 {
			if m.Mode&HashlimitBytes != 0 {
				m.Interval = 1
			} else {
				m.Interval = m.mult
			}
		}
	}
	// The kernel truncates an oversized table when it loads the rule and
	// iptables-save then prints what the kernel holds.
	m.Size = min(m.Size, hashlimitMaxSize)
	m.Max = min(m.Max, hashlimitMaxSize)
	return nil
}

var byteUnits = [...]struct {
	name   string
	thresh uint64
}{{"m", 1024 * 1024}, {"k", 1024}, {"", 1}}

// saveBytes is print_bytes: the byte rate and burst in the largest unit
// that shows them exactly (the burst: in which it is at least one); it
// returns the default expiry for them in milliseconds.
func (m *Hashlimit) saveBytes(b *strings.Builder) uint32 {
	r := hashlimitCostToBytes(m.Avg)
	i := 0
	for ; i < len(byteUnits)-1; i++ {
		u := byteUnits[i].thresh
		// The C mask ~(thresh - 1) is 32 bits wide: it also clears the
		// upper half of r.
		if r >= u {
			if cost, ok := hashlimitBytesToCost(r & uint64(^uint32(u-1))); ok && cost == m.Avg {
				break
			}
		}
	}
	Savef(b, " %d%sb/s", r/byteUnits[i].thresh, byteUnits[i].name)
	if m.Burst == 0 {
		return hashlimitByteExpire * 1000
	}
	r *= m.Burst
	for i = 0; i < len(byteUnits)-1; i++ {
		if r >= byteUnits[i].thresh {
			break
		}
	}
	Savef(b, " --hashlimit-burst %d%sb", r/byteUnits[i].thresh, byteUnits[i].name)
	return hashlimitBurstExpire * 1000
}

// Save prints the match as hashlimit_mt_save does for revision 3.
func (m *Hashlimit) Save(b *strings.Builder, f translator.Family) {
	if m.Mode&HashlimitInvert != 0 {
		b.WriteString(" --hashlimit-above")
	} else {
		b.WriteString(" --hashlimit-upto")
	}
	var quantum uint32
	if m.Mode&HashlimitBytes != 0 {
		quantum = m.saveBytes(b)
	} else {
		if m.Avg == 0 {
			b.WriteString(" inf")
		} else {
			n, unit, msecs := rateName(m.Avg, hashlimitScale)
			Savef(b, " %d/%s", n, unit)
			quantum = msecs
		}
		Savef(b, " --hashlimit-burst %d", m.Burst)
	}
	if m.Mode&(HashlimitHashSrcIP|HashlimitHashSrcPort|HashlimitHashDstIP|HashlimitHashDstPort) != 0 {
		b.WriteString(" --hashlimit-mode ")
		var names []string
		for _, n := range []struct {
			bit  uint32
			name string
		}{{HashlimitHashSrcIP, "srcip"}, {HashlimitHashSrcPort, "srcport"}, {HashlimitHashDstIP, "dstip"}, {HashlimitHashDstPort, "dstport"}} {
			if m.Mode&n.bit != 0 {
				names = append(names, n.name)
			}
		}
		b.WriteString(strings.Join(names, ","))
	}
	// printf("%s"): the name is printed as it is, unquoted.
	b.WriteString(" --hashlimit-name")
	SaveWord(b, m.TableName)
	if m.Size != 0 {
		Savef(b, " --hashlimit-htable-size %d", m.Size)
	}
	if m.Max != 0 {
		Savef(b, " --hashlimit-htable-max %d", m.Max)
	}
	if m.GCInterval != hashlimitGCInterval {
		Savef(b, " --hashlimit-htable-gcinterval %d", m.GCInterval)
	}
	if m.Expire != quantum {
		Savef(b, " --hashlimit-htable-expire %d", m.Expire)
	}
	bits := uint8(f.Bits())
	if m.SrcMask != bits {
		Savef(b, " --hashlimit-srcmask %d", m.SrcMask)
	}
	if m.DstMask != bits {
		Savef(b, " --hashlimit-dstmask %d", m.DstMask)
	}
	if m.Mode&HashlimitRateMatch != 0 {
		b.WriteString(" --hashlimit-rate-match")
		if m.Interval != 1 {
			Savef(b, " --hashlimit-rate-interval %d", m.Interval)
		}
	}
}

// hashlimitCreditsPerJiffy is CREDITS_PER_JIFFY of xt_hashlimit.c (64-bit
// credits) and hashlimitCreditsPerJiffyBytes CREDITS_PER_JIFFY_BYTES.
var (
	hashlimitCreditsPerJiffy      = pow2Below(math.MaxUint64 / (HZ * 60 * 60 * 24))
	hashlimitCreditsPerJiffyBytes = pow2Below(math.MaxUint32 / HZ)
)

// hashlimitUser2Credits is user2credits for revisions 2 and 3.
func hashlimitUser2Credits(user uint64) uint64 {
	if hashlimitScale >= HZ*hashlimitCreditsPerJiffy {
		return user / (hashlimitScale / (HZ * hashlimitCreditsPerJiffy))
	}
	return user * (HZ * hashlimitCreditsPerJiffy / hashlimitScale)
}

// hashlimitUser2CreditsByte is user2credits_byte (a 32-bit argument).
func hashlimitUser2CreditsByte(user uint32) uint32 {
	return uint32(uint64(user) * HZ * hashlimitCreditsPerJiffyBytes >> 32)
}

// checkProcName is xt_check_proc_name: the name becomes a file in /proc.
func checkProcName(c *translator.CheckContext, ext, name string, size int) error {
	switch {
	case name == "" || name == "." || name == ".." || strings.Contains(name, "/"):
		return c.Errorf("%s: invalid name %q", ext, name)
	case len(name) >= size:
		return c.Errorf("%s: name %q too long", ext, name)
	}
	return nil
}

// Check refuses what hashlimit_mt_check refuses.
func (m *Hashlimit) Check(c *translator.CheckContext) error {
	if err := checkProcName(c, "hashlimit", m.TableName, hashlimitNameMax); err != nil {
		return err
	}
	if m.GCInterval == 0 || m.Expire == 0 {
		return c.Errorf("hashlimit: htable-gcinterval and htable-expire must not be 0")
	}
	if bits := uint8(c.Family.Bits()); m.SrcMask > bits || m.DstMask > bits {
		return c.Errorf("hashlimit: srcmask and dstmask must be prefix lengths of at most %d", bits)
	}
	if m.Mode&^hashlimitAll != 0 {
		return c.Errorf("hashlimit: Unknown mode mask %X, kernel too old?", m.Mode)
	}
	switch {
	case m.Mode&HashlimitRateMatch != 0:
		if m.Avg == 0 || m.Avg > math.MaxUint32 {
			return c.Errorf("hashlimit: invalid rate")
		}
		if m.Interval == 0 {
			return c.Errorf("hashlimit: invalid interval")
		}
	case m.Mode&HashlimitBytes != 0:
		if hashlimitUser2CreditsByte(uint32(m.Avg)) == 0 {
			return c.Errorf("hashlimit: overflow, rate too high: %d", m.Avg)
		}
	case m.Burst == 0 || hashlimitUser2Credits(m.Avg*m.Burst) < hashlimitUser2Credits(m.Avg):
		return c.Errorf("hashlimit: overflow, try lower: %d/%d", m.Avg, m.Burst)
	}
	return nil
}

// hashlimitKey is struct dsthash_dst: what the packets of one bucket share.
type hashlimitKey struct {
	src, dst         [16]byte
	srcPort, dstPort uint16
}

// hashlimitEntry is struct dsthash_ent.
type hashlimitEntry struct {
	expires uint64
	prev    uint64
	// token bucket
	credit, creditCap, cost uint64
	// rate match
	interval    uint32
	prevWindow  bool
	currentRate uint64
	rate        uint64
	burst       int64
}

// hashlimitTable is struct xt_hashlimit_htable: the buckets of every rule
// of one name, with the configuration of the rule that created it.
type hashlimitTable struct {
	cfg     Hashlimit
	max     int
	expire  uint64 // jiffies
	gcEvery uint64 // jiffies
	nextGC  uint64
	entries map[hashlimitKey]*hashlimitEntry
}

// hashlimitTableKey names a table in State: the kernel shares tables by
// name and family.
type hashlimitTableKey struct {
	name   string
	family translator.Family
}

// hashlimitDefaultSize is the bucket count the kernel picks on machines
// with more than 1 GiB of memory when --hashlimit-htable-size is not
// given.
const hashlimitDefaultSize = 8192

func newHashlimitTable(cfg *Hashlimit, now uint64) *hashlimitTable {
	size := cfg.Size
	if size == 0 {
		size = hashlimitDefaultSize
	}
	maxEntries := cfg.Max
	if maxEntries == 0 {
		maxEntries = 8 * size
	} else if maxEntries < size {
		maxEntries = size
	}
	t := &hashlimitTable{
		cfg:     *cfg,
		max:     int(maxEntries),
		expire:  msecsToJiffies(cfg.Expire),
		gcEvery: msecsToJiffies(cfg.GCInterval),
		entries: map[hashlimitKey]*hashlimitEntry{},
	}
	t.nextGC = now + t.gcEvery
	return t
}

// gc runs the garbage collections due by now: the kernel's work queue runs
// one every gc_interval and frees the entries that have expired. No entry
// changed since the last packet, so the last collection due does the work
// of all of them.
func (t *hashlimitTable) gc(now uint64) {
	if !timeAfterEq(now, t.nextGC) || t.gcEvery == 0 {
		return
	}
	last := t.nextGC + (now-t.nextGC)/t.gcEvery*t.gcEvery
	for k, e := range t.entries {
		if timeAfterEq(last, e.expires) {
			delete(t.entries, k)
		}
	}
	t.nextGC = last + t.gcEvery
}

// key is hashlimit_init_dst; ok is false where the kernel drops the
// packet.
func (t *hashlimitTable) key(c *translator.Context) (k hashlimitKey, ok bool) {
	p, cfg := c.Packet, &t.cfg
	if cfg.Mode&HashlimitHashDstIP != 0 {
		copy(k.dst[:], translator.ApplyMask(p.Dst, translator.PrefixMask(p.Dst, int(cfg.DstMask))).AsSlice())
	}
	if cfg.Mode&HashlimitHashSrcIP != 0 {
		copy(k.src[:], translator.ApplyMask(p.Src, translator.PrefixMask(p.Src, int(cfg.SrcMask))).AsSlice())
	}
	if cfg.Mode&(HashlimitHashDstPort|HashlimitHashSrcPort) == 0 {
		return k, true
	}
	off, next := p.L4Off, p.Proto
	if p.IPv6 {
		var ok bool
		if off, next, _, ok = ipv6SkipExthdr(p.Data); !ok {
			return k, false
		}
	}
	var sport, dport uint16
	if poff := protoPortsOffset(next); poff >= 0 {
		// The kernel reads the four bytes even from a later fragment.
		at := off + poff
		if at+4 > len(p.Data) {
			return k, false
		}
		sport = binary.BigEndian.Uint16(p.Data[at:])
		dport = binary.BigEndian.Uint16(p.Data[at+2:])
	}
	if cfg.Mode&HashlimitHashSrcPort != 0 {
		k.srcPort = sport
	}
	if cfg.Mode&HashlimitHashDstPort != 0 {
		k.dstPort = dport
	}
	return k, true
}

// hashlimitUser2Rate is user2rate.
func hashlimitUser2Rate(user uint64) uint64 {
	if user == 0 {
		return 0
	}
	return hashlimitScale / user
}

// hashlimitUser2RateBytes is user2rate_bytes.
func hashlimitUser2RateBytes(user uint32) uint64 {
	r := uint64(math.MaxUint32)
	if user != 0 {
		r = math.MaxUint32 / uint64(user)
	}
	return (r - 1) << hashlimitByteShift
}

// init is rateinfo_init, with the table's configuration.
func (t *hashlimitTable) init(e *hashlimitEntry, now uint64) {
	cfg := &t.cfg
	e.prev = now
	switch {
	case cfg.Mode&HashlimitRateMatch != 0:
		e.prevWindow, e.currentRate = false, 0
		if cfg.Mode&HashlimitBytes != 0 {
			e.rate = hashlimitUser2RateBytes(uint32(cfg.Avg))
			if cfg.Burst != 0 {
				e.burst = int64(cfg.Burst * e.rate)
			} else {
				e.burst = int64(e.rate)
			}
		} else {
			e.rate = hashlimitUser2Rate(cfg.Avg)
			e.burst = int64(cfg.Burst + e.rate)
		}
		e.interval = cfg.Interval
	case cfg.Mode&HashlimitBytes != 0:
		e.credit = hashlimitCreditsPerJiffyBytes * HZ
		e.cost = uint64(hashlimitUser2CreditsByte(uint32(cfg.Avg)))
		e.creditCap = cfg.Burst
	default:
		e.credit = hashlimitUser2Credits(cfg.Avg * cfg.Burst)
		e.cost = hashlimitUser2Credits(cfg.Avg)
		e.creditCap = e.credit
	}
}

// recalc is rateinfo_recalc, with the table's mode.
func (t *hashlimitTable) recalc(e *hashlimitEntry, now uint64) {
	delta := now - e.prev
	if delta == 0 {
		return
	}
	mode := t.cfg.Mode
	if mode&HashlimitRateMatch != 0 {
		// interval * HZ is computed in 32 bits.
		interval := uint64(e.interval * HZ)
		if delta < interval {
			return
		}
		e.prev = now
		e.prevWindow = e.currentRate*interval > delta*e.rate
		e.currentRate = 0
		return
	}
	e.prev = now
	var capacity uint64
	if mode&HashlimitBytes != 0 {
		old := e.credit
		e.credit += hashlimitCreditsPerJiffyBytes * delta
		capacity = hashlimitCreditsPerJiffyBytes * HZ
		if old >= e.credit { // overflow
			e.credit = capacity
			return
		}
	} else {
		// 64-bit credit: a pause of some 37 hours at HZ=250 wraps it, as
		// in the kernel.
		e.credit += delta * hashlimitCreditsPerJiffy
		capacity = e.creditCap
	}
	if e.credit > capacity {
		e.credit = capacity
	}
}

// byteCost is hashlimit_byte_cost.
func (e *hashlimitEntry) byteCost(length uint32) uint64 {
	full := hashlimitCreditsPerJiffyBytes * HZ
	tmp := (uint64(length>>hashlimitByteShift) + 1) * e.cost
	if tmp > full {
		tmp = full
	}
	if e.credit < tmp && e.creditCap != 0 {
		e.creditCap--
		e.credit = full
	}
	return uint64(uint32(tmp))
}

// Match is hashlimit_mt for revision 3. The table of the rule's name is
// created, with this rule's configuration, by the first rule of that name
// that sees a packet (the kernel creates it when the first such rule is
// loaded); garbage collection runs every gc_interval from then on.
func (m *Hashlimit) Match(c *translator.Context) bool {
	now := jiffies(c.Now)
	mk := func() any { return newHashlimitTable(m, now) }
	var t *hashlimitTable
	if c.State == nil {
		t = mk().(*hashlimitTable)
	} else {
		t = c.State.Get(hashlimitTableKey{m.TableName, c.Family}, mk).(*hashlimitTable)
	}
	t.gc(now)
	k, ok := t.key(c)
	if !ok {
		c.HotDrop = true
		return false
	}
	e := t.entries[k]
	if e == nil {
		if len(t.entries) >= t.max {
			// "max count of %u reached": the packet is dropped.
			c.HotDrop = true
			return false
		}
		e = &hashlimitEntry{}
		t.entries[k] = e
		e.expires = now + t.expire
		t.init(e, now)
	} else {
		e.expires = now + t.expire
		t.recalc(e, now)
	}
	under := m.Mode&HashlimitInvert == 0
	if m.Mode&HashlimitRateMatch != 0 {
		cost := uint64(1)
		if m.Mode&HashlimitBytes != 0 {
			cost = uint64(len(c.Packet.Data))
		}
		e.currentRate += cost
		if !e.prevWindow && e.currentRate <= uint64(e.burst) {
			return under
		}
		return !under
	}
	var cost uint64
	if m.Mode&HashlimitBytes != 0 {
		cost = e.byteCost(uint32(len(c.Packet.Data)))
	} else {
		cost = e.cost
	}
	if e.credit >= cost {
		e.credit -= cost
		return under
	}
	return !under
}
