package plan

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// String prints a test as "field op value", readable: addresses as
// addresses, numbers in decimal.
func (t Test) String() string {
	var s string
	switch t.Op {
	case OpEq:
		s = t.eqString()
	case OpRange:
		s = fmt.Sprintf("%s in %s..%s", t.Field, t.value(t.Lo), t.value(t.Hi))
	case OpSet, OpSetEither:
		var parts []string
		for _, r := range t.Ranges {
			if r[0] == r[1] {
				parts = append(parts, fmt.Sprint(r[0]))
			} else {
				parts = append(parts, fmt.Sprintf("%d..%d", r[0], r[1]))
			}
		}
		f := t.Field.String()
		if t.Op == OpSetEither {
			f = "sport|dport"
		}
		s = fmt.Sprintf("%s in {%s}", f, strings.Join(parts, ", "))
	case OpIface:
		s = fmt.Sprintf("%s ~ pattern %d", t.Field, t.Pattern)
	case OpRandom, OpNth:
		s = t.statString()
	case OpLimit:
		s = t.limitString()
	}
	switch {
	case t.HotDrop:
		return "hotdrop if " + s
	case t.Invert:
		return "!(" + s + ")"
	}
	return s
}

func (t Test) eqString() string {
	if t.Field == FieldSrc || t.Field == FieldDst {
		a, _ := netip.AddrFromSlice(t.Value)
		if n := prefixLen(Test{Op: OpEq, Field: t.Field, Mask: t.Mask}); n >= 0 {
			return fmt.Sprintf("%s in %s/%d", t.Field, a, n)
		}
		m, _ := netip.AddrFromSlice(t.Mask)
		return fmt.Sprintf("%s & %s == %s", t.Field, m, a)
	}
	if allOnes(t.Mask) {
		return fmt.Sprintf("%s == %s", t.Field, t.value(t.Value))
	}
	return fmt.Sprintf("%s & 0x%x == 0x%x", t.Field, t.Mask, t.Value)
}

// value prints a field value: a number for fields up to 8 bytes, a MAC
// or an address otherwise.
func (t Test) value(b []byte) string {
	switch {
	case t.Field == FieldSrcMAC:
		var parts []string
		for _, x := range b {
			parts = append(parts, fmt.Sprintf("%02x", x))
		}
		return strings.Join(parts, ":")
	case t.Field == FieldSrc || t.Field == FieldDst:
		a, _ := netip.AddrFromSlice(b)
		return a.String()
	}
	var v [8]byte
	copy(v[8-len(b):], b)
	return fmt.Sprint(binary.BigEndian.Uint64(v[:]))
}

// keyString prints a hash or LPM key as the values of its fields.
func (s *Segment) keyString(e Entry, fam translator.Family) string {
	if s.Kind == LPM {
		a, _ := netip.AddrFromSlice(e.Key)
		return fmt.Sprintf("%s/%d", a, e.PrefixLen)
	}
	var parts []string
	off := 0
	for _, f := range s.Key {
		size := f.Size(fam)
		t := Test{Field: f}
		parts = append(parts, fmt.Sprintf("%s=%s", f, t.value(e.Key[off:off+size])))
		off += size
	}
	return strings.Join(parts, " ")
}

func (a Action) describe(p *Plan) string {
	switch a.Kind {
	case ActJump, ActGoto:
		return fmt.Sprintf("%s %s", a.Kind, p.Chains[a.Target].Name)
	case ActLog:
		return p.Logs[a.Log].String()
	case ActReject:
		if a.Target == RejectReset {
			return "reject tcp-reset"
		}
		return fmt.Sprintf("reject icmp code %d", a.Target)
	}
	return a.Kind.String()
}

// Print writes the plan readably: chains, their segments and rules, and
// how each segment classifies.
func (p *Plan) Print(w io.Writer) {
	fmt.Fprintf(w, "plan %s %s: %d chains, %d rules, %d counters\n", p.Family, p.Table, len(p.Chains), len(p.Rules), p.Counters())
	for i, pat := range p.Ifaces {
		fmt.Fprintf(w, "interface pattern %d: %s\n", i, pat)
	}
	for _, c := range p.Chains {
		if c.Builtin {
			fmt.Fprintf(w, "chain %s (policy %s, counter %d)\n", c.Name, c.Policy, c.PolicyID)
		} else if c.Program {
			fmt.Fprintf(w, "chain %s (own program)\n", c.Name)
		} else {
			fmt.Fprintf(w, "chain %s\n", c.Name)
		}
		for i, s := range c.Segments {
			if s.Block > 0 && (i == 0 || c.Segments[i-1].Block != s.Block) {
				fmt.Fprintf(w, "  block %d\n", s.Block)
			}
			switch s.Kind {
			case Linear:
				fmt.Fprintf(w, "  segment %d: linear, %d rules\n", i+1, len(s.Rules))
				for _, r := range s.Rules {
					fmt.Fprintf(w, "    rule %d (counter %d):%s => %s\n", r.Index, r.ID, r.Source.Spec(p.Family), r.describe(p))
					for _, t := range r.Tests {
						fmt.Fprintf(w, "      %s\n", t)
					}
				}
				continue
			case Hash:
				var keys []string
				for _, f := range s.Key {
					keys = append(keys, f.String())
				}
				fmt.Fprintf(w, "  segment %d: hash on %s, %d rules, %d entries\n", i+1, strings.Join(keys, ","), len(s.Rules), len(s.Entries))
			case LPM:
				fmt.Fprintf(w, "  segment %d: lpm on %s, %d rules, %d entries\n", i+1, s.Key[0], len(s.Rules), len(s.Entries))
			case BitVector:
				fmt.Fprintf(w, "  segment %d: bitvector, %d rules, %d chunks, %d bytes of bitmaps\n", i+1, len(s.Rules), len(s.BV.Chunks), s.BV.Bytes())
				for _, r := range s.Rules {
					fmt.Fprintf(w, "    rule %d (counter %d):%s => %s\n", r.Index, r.ID, r.Source.Spec(p.Family), r.describe(p))
				}
				s.BV.print(w, s.Rules)
				continue
			}
			for _, t := range s.Common {
				fmt.Fprintf(w, "    common %s\n", t)
			}
			if len(s.PreKey) > 0 {
				var keys []string
				for _, f := range s.PreKey {
					keys = append(keys, f.String())
				}
				fmt.Fprintf(w, "    hot drop needs a rule with the packet's %s\n", strings.Join(keys, ","))
			}
			for _, r := range s.Rules {
				fmt.Fprintf(w, "    rule %d (counter %d):%s => %s\n", r.Index, r.ID, r.Source.Spec(p.Family), r.describe(p))
			}
			for _, e := range s.Entries {
				fmt.Fprintf(w, "    entry %s -> rule %d\n", s.keyString(e, p.Family), e.Rule.Index)
			}
		}
	}
}
