package xt

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// RT is the IPv6 routing header match (struct ip6t_rt): the header's
// type, segments left and length, and for type 0 its reserved field and
// addresses. ufw drops type 0 routing headers with it.
type RT struct {
	Type     uint32
	SegsLeft [2]uint32
	HdrLen   uint32
	// Flags say which fields are tested: rtType, rtLen, rtRes, rtAddrs,
	// rtNotStrict (IP6T_RT_*).
	Flags                    uint8
	InvType, InvSegs, InvLen bool
	Addrs                    []netip.Addr // at most rtHops
}

// Flags of struct ip6t_rt.
const (
	rtType      = 0x01
	rtSegs      = 0x02
	rtLen       = 0x04
	rtRes       = 0x08
	rtAddrs     = 0x10
	rtNotStrict = 0x20

	rtHops = 16 // IP6T_RT_HOPS
)

const (
	rtOptType = iota
	rtOptSegsLeft
	rtOptLen
	rtOpt0Res
	rtOpt0Addrs
	rtOpt0NotStrict
)

func init() {
	RegisterMatch(&MatchDef{
		Name:   "rt",
		Family: translator.IPv6,
		Options: []Option{
			{Name: "rt-type", Type: Uint32, ID: rtOptType, Flags: Invert},
			{Name: "rt-segsleft", Type: Uint32RC, ID: rtOptSegsLeft, Flags: Invert},
			{Name: "rt-len", Type: Uint32, ID: rtOptLen, Flags: Invert},
			{Name: "rt-0-res", Type: None, ID: rtOpt0Res},
			{Name: "rt-0-addrs", Type: String, ID: rtOpt0Addrs},
			{Name: "rt-0-not-strict", Type: None, ID: rtOpt0NotStrict},
		},
		New: func(translator.Family) MatchParser { return &RT{SegsLeft: [2]uint32{0, math.MaxUint32}} },
	})
}

// Name returns "rt".
func (m *RT) Name() string { return "rt" }

// type0 reports whether --rt-type 0 was given, not inverted, as the
// type 0 options need.
func (m *RT) type0(c *Call) bool {
	return c.Has(rtOptType) && m.Type == 0 && !m.InvType
}

// Parse takes one rt option (rt_parse).
func (m *RT) Parse(c *Call) error {
	switch c.Opt.ID {
	case rtOptType:
		m.Type, m.InvType = uint32(c.U64), c.Invert
		m.Flags |= rtType
	case rtOptSegsLeft:
		m.SegsLeft = [2]uint32{uint32(c.Range[0]), uint32(c.Range[1])}
		if c.NVals == 1 {
			m.SegsLeft[1] = m.SegsLeft[0]
		}
		m.InvSegs = c.Invert
		m.Flags |= rtSegs
	case rtOptLen:
		m.HdrLen, m.InvLen = uint32(c.U64), c.Invert
		m.Flags |= rtLen
	case rtOpt0Res:
		if !m.type0(c) {
			return c.Errorf("`--rt-type 0' required before `--rt-0-res'")
		}
		m.Flags |= rtRes
	case rtOpt0Addrs:
		if !m.type0(c) {
			return c.Errorf("`--rt-type 0' required before `--rt-0-addrs'")
		}
		parts := strings.Split(c.Arg, ",")
		if len(parts) > rtHops {
			return c.Errorf("too many addresses specified")
		}
		for _, p := range parts {
			a, err := netip.ParseAddr(p)
			if err != nil || !a.Is6() || a.Zone() != "" {
				return c.Errorf("bad address: %s", p)
			}
			m.Addrs = append(m.Addrs, a)
		}
		m.Flags |= rtAddrs
	case rtOpt0NotStrict:
		if !c.Has(rtOpt0Addrs) {
			return c.Errorf("`--rt-0-addr ...' required before `--rt-0-not-strict'")
		}
		m.Flags |= rtNotStrict
	}
	return nil
}

// Final has nothing to check.
func (m *RT) Final(*Final) error { return nil }

// Save prints the match as rt_save does.
func (m *RT) Save(b *strings.Builder, _ translator.Family) {
	if m.Flags&rtType != 0 {
		SaveInv(b, m.InvType)
		Savef(b, " --rt-type %d", m.Type)
	}
	if m.SegsLeft != [2]uint32{0, math.MaxUint32} || m.InvSegs {
		SaveInv(b, m.InvSegs)
		if m.SegsLeft[0] != m.SegsLeft[1] {
			Savef(b, " --rt-segsleft %d:%d", m.SegsLeft[0], m.SegsLeft[1])
		} else {
			Savef(b, " --rt-segsleft %d", m.SegsLeft[0])
		}
	}
	if m.Flags&rtLen != 0 {
		SaveInv(b, m.InvLen)
		Savef(b, " --rt-len %d", m.HdrLen)
	}
	if m.Flags&rtRes != 0 {
		b.WriteString(" --rt-0-res")
	}
	if m.Flags&rtAddrs != 0 {
		b.WriteString(" --rt-0-addrs")
	}
	for i, a := range m.Addrs {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(translator.InetNtop(a))
	}
	if m.Flags&rtNotStrict != 0 {
		b.WriteString(" --rt-0-not-strict")
	}
}

// Check refuses type 0 options without --rt-type 0, as the kernel's
// checkentry does.
func (m *RT) Check(c *translator.CheckContext) error {
	if m.Flags&(rtRes|rtAddrs|rtNotStrict) != 0 && (m.Flags&rtType == 0 || m.Type != 0 || m.InvType) {
		return c.Errorf("rt match: `--rt-type 0' required before `--rt-0-*'")
	}
	return nil
}

// findIPv6Header returns the offset of the first extension header of the
// given type, walking the chain as ipv6_find_hdr does; ok is false when the
// packet has none (or it lies past a non-first fragment), and truncated is
// set when the chain cannot be read.
func findIPv6Header(data []byte, target uint8) (off int, ok, truncated bool) {
	if len(data) < 40 {
		return 0, false, true
	}
	next, off := data[6], 40
	for {
		if next == target {
			return off, true, false
		}
		switch next {
		case ipv6HopByHop, ipv6Routing, ipv6Fragment, packet.ProtoAH, ipv6DestOpts:
		default:
			return 0, false, false
		}
		if len(data) < off+2 {
			return 0, false, true
		}
		var n int
		switch next {
		case ipv6Fragment:
			if len(data) < off+8 {
				return 0, false, true
			}
			if binary.BigEndian.Uint16(data[off+2:])&^7 != 0 {
				return 0, false, false // later fragments have no headers to find
			}
			n = 8
		case packet.ProtoAH:
			n = (int(data[off+1]) + 2) << 2
		default:
			n = (int(data[off+1]) + 1) << 3
		}
		next, off = data[off], off+n
	}
}

// Match evaluates the match as ip6t_rt's match function.
func (m *RT) Match(c *translator.Context) bool {
	d := c.Packet.Data
	ptr, ok, truncated := findIPv6Header(d, ipv6Routing)
	if !ok {
		c.HotDrop = truncated
		return false
	}
	if len(d) < ptr+4 {
		c.HotDrop = true
		return false
	}
	hdrlen := (uint32(d[ptr+1]) + 1) << 3
	if uint32(len(d)-ptr) < hdrlen {
		return false // packet smaller than its length field
	}
	typ, segs := uint32(d[ptr+2]), uint32(d[ptr+3])
	ret := (segs >= m.SegsLeft[0] && segs <= m.SegsLeft[1]) != m.InvSegs &&
		(m.Flags&rtLen == 0 || (m.HdrLen == hdrlen) != m.InvLen) &&
		(m.Flags&rtType == 0 || (m.Type == typ) != m.InvType)
	if ret && m.Flags&rtRes != 0 {
		ret = len(d) >= ptr+8 && binary.BigEndian.Uint32(d[ptr+4:]) == 0
	}
	if m.Flags&rtAddrs == 0 {
		return ret
	}
	room := 0
	if hdrlen >= 8 {
		room = int(hdrlen-8) / 16
	}
	if len(m.Addrs) > room {
		return false
	}
	addr := func(i int) netip.Addr {
		o := ptr + 8 + 16*i
		return netip.AddrFrom16([16]byte(d[o : o+16]))
	}
	if m.Flags&rtNotStrict != 0 {
		i := 0
		for t := 0; t < room && i < len(m.Addrs); t++ {
			if addr(t) == m.Addrs[i] {
				i++
			}
		}
		return i == len(m.Addrs) && ret
	}
	t := 0
	for ; t < len(m.Addrs); t++ {
		if addr(t) != m.Addrs[t] {
			break
		}
	}
	return t == len(m.Addrs) && t == room && ret
}
