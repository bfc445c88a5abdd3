package xt

import (
	"fmt"
	"math"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// SetTarget is the SET target: it adds the packet's addresses and ports
// to an ipset, deletes them from one, or maps a set element's stored
// mark, priority and queue onto the packet (struct
// xt_set_info_target_v3, revision 3).
type SetTarget struct {
	Add, Del, Map SetRef
	// Flags holds IPSET_FLAG_EXIST and the IPSET_FLAG_MAP_SKB* bits.
	Flags SetTargetFlags
	// Timeout is the timeout of added elements in seconds;
	// SetNoTimeout for the set's default.
	Timeout uint32
}

// SetRef names an ipset and the packet directions its elements are
// built from (struct xt_set_info, with the set by name instead of kernel
// index). Dim is 0 when no set is given.
type SetRef struct {
	Name string
	Dim  uint8
	// Flags has bit i set when dimension i (1-based) is taken from the
	// source of the packet, clear for the destination.
	Flags uint8
}

// SetTargetFlags are the command flags of the SET target (IPSET_FLAG_*).
type SetTargetFlags uint32

// SET target flags, with the kernel's values.
const (
	SetExist    SetTargetFlags = 1 << 0  // --exist: re-adding resets the timeout
	SetMapMark  SetTargetFlags = 1 << 8  // --map-mark
	SetMapPrio  SetTargetFlags = 1 << 9  // --map-prio
	SetMapQueue SetTargetFlags = 1 << 10 // --map-queue
)

// SetNoTimeout is the Timeout of a SET target without --timeout.
const SetNoTimeout = math.MaxUint32

// The longest set name (IPSET_MAXNAMELEN - 1) and the most dimensions
// (IPSET_DIM_MAX).
const (
	setMaxNameLen = 31
	setMaxDim     = 6
)

// Option IDs of the SET target. It parses in the old style, so every
// option takes its own checks.
const (
	setTgOptAdd = iota
	setTgOptDel
	setTgOptExist
	setTgOptTimeout
	setTgOptMap
	setTgOptMapMark
	setTgOptMapPrio
	setTgOptMapQueue
)

func init() {
	RegisterTarget(&TargetDef{
		Name: "SET",
		Options: []Option{
			{Name: "add-set", Type: Raw, ID: setTgOptAdd, Flags: Multi | Invert},
			{Name: "del-set", Type: Raw, ID: setTgOptDel, Flags: Multi | Invert},
			{Name: "exist", Type: None, ID: setTgOptExist, Flags: Multi | Invert},
			{Name: "timeout", Type: Raw, ID: setTgOptTimeout, Flags: Multi | Invert},
			{Name: "map-set", Type: Raw, ID: setTgOptMap, Flags: Multi | Invert},
			{Name: "map-mark", Type: None, ID: setTgOptMapMark, Flags: Multi | Invert},
			{Name: "map-prio", Type: None, ID: setTgOptMapPrio, Flags: Multi | Invert},
			{Name: "map-queue", Type: None, ID: setTgOptMapQueue, Flags: Multi | Invert},
		},
		New: func(translator.Family) TargetParser { return &SetTarget{Timeout: SetNoTimeout} },
	})
}

// Name returns "SET".
func (t *SetTarget) Name() string { return "SET" }

// Parse takes one option as set_target_parse_v3 does. A "!" before an
// option is ignored, as iptables ignores it.
func (t *SetTarget) Parse(c *Call) error {
	switch c.Opt.ID {
	case setTgOptAdd:
		return t.Add.parse(c, "add-set")
	case setTgOptDel:
		return t.Del.parse(c, "del-set")
	case setTgOptMap:
		return t.Map.parse(c, "map-set")
	case setTgOptExist:
		t.Flags |= SetExist
	case setTgOptTimeout:
		v, ok := translator.ParseUint(c.Arg, 0, math.MaxUint32-1)
		if !ok {
			return c.Errorf("Invalid value for option --timeout or out of range 0-%d", uint32(math.MaxUint32-1))
		}
		t.Timeout = uint32(v)
	case setTgOptMapMark:
		t.Flags |= SetMapMark
	case setTgOptMapPrio:
		t.Flags |= SetMapPrio
	case setTgOptMapQueue:
		t.Flags |= SetMapQueue
	}
	return nil
}

// parse takes "--OPT name dir[,dir...]" as libxt_SET's parse_target and
// parse_dirs do. Whether the set exists is iptables' next question, asked
// of the kernel while parsing; bpftables asks it in Check, where the sets
// that exist are known.
func (s *SetRef) parse(c *Call, what string) error {
	if s.Dim != 0 {
		return c.Errorf("--%s can be specified only once", what)
	}
	dirs, ok := c.TakeArg()
	if !ok {
		return c.Errorf("--%s requires two args.", what)
	}
	if len(c.Arg) > setMaxNameLen {
		return c.Errorf("setname `%s' too long, max %d characters.", c.Arg, setMaxNameLen)
	}
	s.Name = c.Arg
	// Like strsep: a trailing comma leaves an empty direction, which is
	// refused; only the first three letters of a direction count.
	rest, more := dirs, true
	for s.Dim < setMaxDim && more {
		s.Dim++
		var dir string
		dir, rest, more = strings.Cut(rest, ",")
		if strings.HasPrefix(dir, "src") {
			s.Flags |= 1 << s.Dim
		} else if !strings.HasPrefix(dir, "dst") {
			return c.Errorf("You must specify (the comma separated list of) 'src' or 'dst'.")
		}
	}
	if more {
		return c.Errorf("Can't be more src/dst options than %d.", setMaxDim)
	}
	return nil
}

// Final makes set_target_check_v3's checks of the options together.
func (t *SetTarget) Final(c *Final) error {
	if !c.Has(setTgOptAdd) && !c.Has(setTgOptDel) && !c.Has(setTgOptMap) {
		return c.Errorf("You must specify either `--add-set' or `--del-set' or `--map-set'")
	}
	if !c.Has(setTgOptAdd) {
		if c.Has(setTgOptExist) {
			return c.Errorf("Flag `--exist' can be used with `--add-set' only")
		}
		if c.Has(setTgOptTimeout) {
			return c.Errorf("Option `--timeout' can be used with `--add-set' only")
		}
	}
	if !c.Has(setTgOptMap) {
		for _, o := range []struct {
			id   uint
			name string
		}{{setTgOptMapMark, "map-mark"}, {setTgOptMapPrio, "map-prio"}, {setTgOptMapQueue, "map-queue"}} {
			if c.Has(o.id) {
				return c.Errorf("Flag `--%s' can be used with `--map-set' only", o.name)
			}
		}
	}
	if c.Has(setTgOptMap) && !c.Has(setTgOptMapMark) && !c.Has(setTgOptMapPrio) && !c.Has(setTgOptMapQueue) {
		return c.Errorf("You must specify flags `--map-mark' or '--map-prio` or `--map-queue'")
	}
	return nil
}

// save appends " OPT name dir,dir" as print_target does, nothing for an
// absent set.
func (s *SetRef) save(b *strings.Builder, opt string) {
	if s.Dim == 0 {
		return
	}
	b.WriteString(" " + opt)
	SaveWord(b, s.Name)
	for i := uint8(1); i <= s.Dim; i++ {
		if i == 1 {
			b.WriteByte(' ')
		} else {
			b.WriteByte(',')
		}
		if s.Src(i) {
			b.WriteString("src")
		} else {
			b.WriteString("dst")
		}
	}
}

// Src reports whether dimension i (1-based) comes from the packet's
// source.
func (s *SetRef) Src(i uint8) bool { return s.Flags&(1<<i) != 0 }

// Save prints the target as set_target_save_v3 does.
func (t *SetTarget) Save(b *strings.Builder, _ translator.Family) {
	t.Add.save(b, "--add-set")
	if t.Flags&SetExist != 0 {
		b.WriteString(" --exist")
	}
	if t.Timeout != SetNoTimeout {
		Savef(b, " --timeout %d", t.Timeout)
	}
	t.Del.save(b, "--del-set")
	t.Map.save(b, "--map-set")
	if t.Flags&SetMapMark != 0 {
		b.WriteString(" --map-mark")
	}
	if t.Flags&SetMapPrio != 0 {
		b.WriteString(" --map-prio")
	}
	if t.Flags&SetMapQueue != 0 {
		b.WriteString(" --map-queue")
	}
}

// Check refuses, when the sets that exist are known (Objects not nil), a
// set that does not exist or is of the other family, with iptables'
// messages (iptables asks while parsing); then makes the kernel's checks
// of --map-set: only in the mangle table, and mapping the priority or the
// queue only from FORWARD, OUTPUT and POSTROUTING.
func (t *SetTarget) Check(c *translator.CheckContext) error {
	if c.Objects != nil {
		for _, s := range []*SetRef{&t.Add, &t.Del, &t.Map} {
			if s.Dim == 0 {
				continue
			}
			info, ok := c.Objects.IPSet(s.Name)
			if !ok {
				return c.Errorf("Set %s doesn't exist.", s.Name)
			}
			if info.Family != 0 && info.Family != c.Family {
				fam := "IPv6"
				if info.Family == translator.IPv4 {
					fam = "IPv4"
				}
				return c.Errorf("The protocol family of set %s is %s, which is not applicable.", s.Name, fam)
			}
		}
	}
	if t.Map.Dim != 0 {
		if c.Table != "mangle" {
			return c.Errorf("SET target: --map-set only usable from mangle table")
		}
		allowed := translator.Forward.Mask() | translator.Output.Mask() | translator.PostRouting.Mask()
		if t.Flags&(SetMapPrio|SetMapQueue) != 0 && c.Hooks&^allowed != 0 {
			return c.Errorf("SET target: mapping of prio or/and queue is allowed only from OUTPUT/FORWARD/POSTROUTING chains")
		}
	}
	return nil
}

// IPSetSkbInfo is implemented by the translator.IPSets of an evaluation
// whose sets keep the skbinfo extension (skbmark, skbprio, skbqueue), which
// -j SET --map-set applies to packets. IPSets without it map nothing.
type IPSetSkbInfo interface {
	// SkbInfo returns the skbinfo of the element key matches in the set,
	// and whether one does.
	SkbInfo(set string, key []translator.IPSetPart) (SkbInfo, bool)
}

// SkbInfo is the skbinfo extension of an ipset element.
type SkbInfo struct {
	Mark, MarkMask uint32
	Prio           uint32
	Queue          uint16
}

// Apply adds to and deletes from the sets through c.IPSets, then maps
// the element of the map set the packet matches onto it, and continues.
// The element of each set is built from the packet as the kernel's ipset
// types build theirs: one part per dimension, from the source or the
// destination, each with the address, the protocol and the port (type
// and code for ICMP); which of these a set's type uses is up to the set.
// The timeout and --exist of added elements are recorded in the effect:
// IPSets has no way to take them.
func (t *SetTarget) Apply(c *translator.Context) translator.Verdict {
	p := c.Packet
	if t.Add.Dim != 0 {
		key := t.Add.key(p)
		if c.IPSets != nil {
			c.IPSets.Add(t.Add.Name, key)
		}
		detail := fmt.Sprintf("add %s to %s", setKeyString(key), t.Add.Name)
		if t.Timeout != SetNoTimeout {
			detail += fmt.Sprintf(" with timeout %d", t.Timeout)
		}
		if t.Flags&SetExist != 0 {
			detail += " (exist)"
		}
		c.Effect("SET", "%s", detail)
	}
	if t.Del.Dim != 0 {
		key := t.Del.key(p)
		if c.IPSets != nil {
			c.IPSets.Del(t.Del.Name, key)
		}
		c.Effect("SET", "del %s from %s", setKeyString(key), t.Del.Name)
	}
	if t.Map.Dim != 0 && c.IPSets != nil {
		key := t.Map.key(p)
		if !c.IPSets.Test(t.Map.Name, key) {
			return translator.Continue
		}
		var info SkbInfo
		if si, ok := c.IPSets.(IPSetSkbInfo); ok {
			info, _ = si.SkbInfo(t.Map.Name, key)
		}
		var what []string
		if t.Flags&SetMapMark != 0 {
			p.Mark = p.Mark&^info.MarkMask ^ info.Mark
			what = append(what, fmt.Sprintf("mark 0x%x", p.Mark))
		}
		if t.Flags&SetMapPrio != 0 {
			what = append(what, fmt.Sprintf("priority 0x%x", info.Prio))
		}
		if t.Flags&SetMapQueue != 0 {
			what = append(what, fmt.Sprintf("queue %d (if the device has that many)", info.Queue))
		}
		c.Effect("SET", "map %s from %s: %s", setKeyString(key), t.Map.Name, strings.Join(what, ", "))
	}
	return translator.Continue
}

// key builds the element of the set from the packet.
func (s *SetRef) key(p *packet.Packet) []translator.IPSetPart {
	key := make([]translator.IPSetPart, s.Dim)
	for i := range key {
		src := s.Src(uint8(i + 1))
		part := translator.IPSetPart{Addr: p.Dst, Proto: p.Proto}
		if src {
			part.Addr = p.Src
		}
		if !p.Fragment && !p.L4Truncated {
			switch p.Proto {
			case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP:
				part.Port = p.DstPort
				if src {
					part.Port = p.SrcPort
				}
			case packet.ProtoICMP, packet.ProtoICMPv6:
				part.Port = uint16(p.ICMPType)<<8 | uint16(p.ICMPCode)
			}
		}
		key[i] = part
	}
	return key
}

// setKeyString formats an element for an effect: "10.0.0.1/tcp:80".
func setKeyString(key []translator.IPSetPart) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = fmt.Sprintf("%s/%s:%d", k.Addr, translator.ProtoName(k.Proto), k.Port)
	}
	return strings.Join(parts, ",")
}
