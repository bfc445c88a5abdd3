package translator

import (
	"net/netip"
	"strconv"
	"strings"
)

// AddrMask is an address with a netmask, as iptables keeps -s and -d. The
// mask need not be contiguous (iptables accepts -s 10.0.12.0/255.0.255.0).
// The zero value matches every address.
type AddrMask struct {
	Addr netip.Addr
	Mask netip.Addr
}

// IsAny reports whether the mask is empty, so every address matches.
func (a AddrMask) IsAny() bool {
	if !a.Mask.IsValid() {
		return true
	}
	for _, b := range a.Mask.AsSlice() {
		if b != 0 {
			return false
		}
	}
	return true
}

// PrefixLen returns the length of a contiguous mask, or -1.
func (a AddrMask) PrefixLen() int {
	if !a.Mask.IsValid() {
		return 0
	}
	return MaskLen(a.Mask)
}

// Contains reports whether ip&mask == addr. An address of the other family
// never matches a non-empty mask.
func (a AddrMask) Contains(ip netip.Addr) bool {
	if a.IsAny() {
		return true
	}
	if ip.Is4() != a.Addr.Is4() {
		return false
	}
	x, m, want := ip.AsSlice(), a.Mask.AsSlice(), a.Addr.AsSlice()
	for i := range x {
		if x[i]&m[i] != want[i] {
			return false
		}
	}
	return true
}

// String prints the address as iptables-save does: address/prefix, or
// address/dotted-mask when the mask is not contiguous.
func (a AddrMask) String() string {
	addr, mask := a.Addr, a.Mask
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	if !mask.IsValid() {
		mask = zeroLike(addr)
	}
	if n := MaskLen(mask); n >= 0 {
		return InetNtop(addr) + "/" + strconv.Itoa(n)
	}
	return InetNtop(addr) + "/" + InetNtop(mask)
}

// MaskLen returns the prefix length of a contiguous mask, or -1.
func MaskLen(mask netip.Addr) int {
	b := mask.AsSlice()
	n := 0
	i := 0
	for ; i < len(b) && b[i] == 0xff; i++ {
		n += 8
	}
	if i < len(b) {
		x := b[i]
		for x&0x80 != 0 {
			n++
			x <<= 1
		}
		if x != 0 {
			return -1
		}
		for i++; i < len(b); i++ {
			if b[i] != 0 {
				return -1
			}
		}
	}
	return n
}

// PrefixMask returns the mask of the given prefix length in the family of
// like.
func PrefixMask(like netip.Addr, bits int) netip.Addr {
	b := make([]byte, like.BitLen()/8)
	for i := range b {
		switch {
		case bits >= 8:
			b[i] = 0xff
			bits -= 8
		case bits > 0:
			b[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	m, _ := netip.AddrFromSlice(b)
	return m
}

// ApplyMask returns addr & mask.
func ApplyMask(addr, mask netip.Addr) netip.Addr {
	a, m := addr.AsSlice(), mask.AsSlice()
	for i := range a {
		a[i] &= m[i]
	}
	r, _ := netip.AddrFromSlice(a)
	return r
}

func zeroLike(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// Rule is one rule of a chain: the IP header part every rule has
// (struct ipt_ip), the extension matches in order, and the target.
type Rule struct {
	Src, Dst       AddrMask
	InvSrc, InvDst bool

	// InIface and OutIface are interface names; a trailing "+" matches
	// every name with that prefix. Empty matches every interface.
	InIface, OutIface string
	InvIn, InvOut     bool

	// Proto is the layer 4 protocol number, 0 for any.
	Proto    uint8
	InvProto bool

	// Fragment (-f, IPv4 only) matches second and later fragments.
	Fragment, InvFragment bool

	Matches []Match
	// Target is what happens when the rule matches; nil means the rule
	// only counts the packet and evaluation continues.
	Target Target

	Counters Counters

	// Line is the input line the rule was read from, for error messages.
	// It is not part of the rule's identity.
	Line int
}

// Spec returns the rule as iptables-save prints it after "-A CHAIN", with a
// leading space (or empty for a rule that matches everything and has no
// target).
func (r *Rule) Spec(f Family) string {
	var b strings.Builder
	saveAddr(&b, 's', r.Src, r.InvSrc, f)
	saveAddr(&b, 'd', r.Dst, r.InvDst, f)
	saveIface(&b, 'i', r.InIface, r.InvIn)
	saveIface(&b, 'o', r.OutIface, r.InvOut)
	if r.Proto > 0 {
		if r.InvProto {
			b.WriteString(" !")
		}
		b.WriteString(" -p ")
		b.WriteString(ProtoName(r.Proto))
	}
	if r.Fragment {
		if r.InvFragment {
			b.WriteString(" !")
		}
		b.WriteString(" -f")
	}
	for _, m := range r.Matches {
		b.WriteString(" -m ")
		b.WriteString(m.Name())
		m.Save(&b, f)
	}
	switch t := r.Target.(type) {
	case nil:
	case *Goto:
		b.WriteString(" -g ")
		b.WriteString(t.Chain)
	default:
		b.WriteString(" -j ")
		b.WriteString(t.Name())
		t.Save(&b, f)
	}
	return b.String()
}

func saveAddr(b *strings.Builder, letter byte, a AddrMask, inv bool, f Family) {
	if a.IsAny() && !inv && (!a.Addr.IsValid() || a.Addr.IsUnspecified()) {
		return
	}
	if !a.Addr.IsValid() {
		if f == IPv6 {
			a = AddrMask{netip.IPv6Unspecified(), netip.IPv6Unspecified()}
		} else {
			a = AddrMask{netip.IPv4Unspecified(), netip.IPv4Unspecified()}
		}
	}
	if inv {
		b.WriteString(" !")
	}
	b.WriteString(" -")
	b.WriteByte(letter)
	b.WriteByte(' ')
	b.WriteString(a.String())
}

func saveIface(b *strings.Builder, letter byte, name string, inv bool) {
	if name == "" || (name == "+" && !inv) {
		return
	}
	if inv {
		b.WriteString(" !")
	}
	b.WriteString(" -")
	b.WriteByte(letter)
	b.WriteByte(' ')
	b.WriteString(name)
}

// Equal reports whether two rules are the same rule, as `iptables -D` and
// `-C` decide it: same header, matches and target, whatever the counters.
func (r *Rule) Equal(o *Rule, f Family) bool {
	return r.Spec(f) == o.Spec(f)
}

// Clone returns a copy of the rule whose jump target can be changed
// without changing the original.
func (r *Rule) Clone() *Rule {
	n := *r
	n.Matches = append([]Match(nil), r.Matches...)
	switch t := r.Target.(type) {
	case *Jump:
		c := *t
		n.Target = &c
	case *Goto:
		c := *t
		n.Target = &c
	}
	return &n
}

// IfaceMatch reports whether the interface name matches the pattern of a
// rule (-i/-o): empty matches all, a trailing "+" matches by prefix.
func IfaceMatch(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	if strings.HasSuffix(pattern, "+") {
		return strings.HasPrefix(name, pattern[:len(pattern)-1])
	}
	return pattern == name
}
