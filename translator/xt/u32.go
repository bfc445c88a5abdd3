package xt

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// U32 is the u32 match: tests of 32-bit words read from the packet at
// computed offsets (struct xt_u32). Every test must hold.
type U32 struct {
	Tests  []U32Test
	Invert bool
}

// U32Test is one test ("location=values"): the word the location computes
// must lie in one of the value ranges.
type U32Test struct {
	// Location is a start offset followed by operations: the first
	// element's Op is ignored.
	Location []U32Loc
	Values   []U32Range
}

// U32Loc is one element of a location: an operator and its number.
type U32Loc struct {
	Op     U32Op
	Number uint32
}

// U32Range is an inclusive range of word values.
type U32Range struct {
	Min, Max uint32
}

// U32Op is a location operator (XT_U32_*).
type U32Op uint8

// Location operators: AND masks the word, shifts shift it, and At moves the
// base offset by the word and reads the word at the number from there.
const (
	U32And U32Op = iota
	U32LeftShift
	U32RightShift
	U32At
)

// u32MaxSize is XT_U32_MAXSIZE: at most this many tests, location elements
// and values each.
const u32MaxSize = 10

func init() {
	RegisterMatch(&MatchDef{
		Name: "u32",
		Options: []Option{
			{Name: "u32", Type: String, Flags: Mand | Invert},
		},
		New: func(translator.Family) MatchParser { return &U32{} },
	})
}

// Name returns "u32".
func (m *U32) Name() string { return "u32" }

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// Parse takes --u32 as u32_parse does: a state machine over the text,
// whose messages give the offset of the character in error.
func (m *U32) Parse(c *Call) error {
	s := c.Arg
	m.Invert = c.Invert
	m.Tests = nil
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	number := func(i int) (uint32, int, error) {
		v, rest, ok := translator.ParseUintPrefix(s[i:], 0, math.MaxUint32)
		if !ok || len(rest) == len(s[i:]) {
			return 0, i, Errorf("u32: at char %d: not a number or out of range", i)
		}
		return uint32(v), len(s) - len(rest), nil
	}
	var ct U32Test
	readingValues := false
	ntests := 0
	for i := 0; ; {
		for isCSpace(at(i)) {
			i++
		}
		if i >= len(s) {
			if !readingValues {
				return c.Errorf("u32: abrupt end of input after location specifier")
			}
			if len(ct.Values) == 0 {
				return c.Errorf("u32: test ended with no value specified")
			}
			m.Tests = append(m.Tests, ct)
			if ntests++; ntests > u32MaxSize {
				return c.Errorf("u32: at char %d: too many \"&&\"s", i)
			}
			return nil
		}
		if !readingValues {
			if s[i] == '=' {
				if len(ct.Location) == 0 {
					return c.Errorf("u32: at char %d: location spec missing", i)
				}
				i++
				readingValues = true
				continue
			}
			var op U32Op
			if len(ct.Location) != 0 {
				// an operator must come before the next number
				switch s[i] {
				case '&':
					op = U32And
				case '<':
					if i++; at(i) != '<' {
						return c.Errorf("u32: at char %d: a second '<' was expected", i)
					}
					op = U32LeftShift
				case '>':
					if i++; at(i) != '>' {
						return c.Errorf("u32: at char %d: a second '>' was expected", i)
					}
					op = U32RightShift
				case '@':
					op = U32At
				default:
					return c.Errorf("u32: at char %d: operator expected", i)
				}
				i++
			}
			v, next, err := number(i)
			if err != nil {
				return err
			}
			i = next
			ct.Location = append(ct.Location, U32Loc{Op: op, Number: v})
			if len(ct.Location) > u32MaxSize {
				return c.Errorf("u32: at char %d: too many operators", i)
			}
			continue
		}
		if s[i] == '&' {
			if i++; at(i) != '&' {
				return c.Errorf("u32: at char %d: a second '&' was expected", i)
			}
			if len(ct.Values) == 0 {
				return c.Errorf("u32: at char %d: value spec missing", i)
			}
			m.Tests = append(m.Tests, ct)
			ct = U32Test{}
			if ntests++; ntests > u32MaxSize {
				return c.Errorf("u32: at char %d: too many \"&&\"s", i)
			}
			i++
			readingValues = false
			continue
		}
		if len(ct.Values) > 0 {
			// a comma must come before the next range
			if s[i] != ',' {
				return c.Errorf("u32: at char %d: expected \",\" or \"&&\"", i)
			}
			i++
		}
		lo, next, err := number(i)
		if err != nil {
			return err
		}
		i = next
		for isCSpace(at(i)) {
			i++
		}
		hi := lo
		if at(i) == ':' {
			i++
			if hi, next, err = number(i); err != nil {
				return err
			}
			i = next
		}
		ct.Values = append(ct.Values, U32Range{lo, hi})
		if len(ct.Values) > u32MaxSize {
			return c.Errorf("u32: at char %d: too many \",\"s", i)
		}
	}
}

// Final has nothing to check: --u32 is mandatory.
func (m *U32) Final(*Final) error { return nil }

var u32OpText = [...]string{U32And: "&", U32LeftShift: "<<", U32RightShift: ">>", U32At: "@"}

// Save prints the tests as u32_dump does, every number in hex, in double
// quotes.
func (m *U32) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	b.WriteString(" --u32 \"")
	for t, ct := range m.Tests {
		if t > 0 {
			b.WriteString("&&")
		}
		for i, l := range ct.Location {
			if i > 0 {
				b.WriteString(u32OpText[l.Op])
			}
			Savef(b, "0x%x", l.Number)
		}
		b.WriteByte('=')
		for i, v := range ct.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			if v.Min == v.Max {
				Savef(b, "0x%x", v.Min)
			} else {
				Savef(b, "0x%x:0x%x", v.Min, v.Max)
			}
		}
	}
	b.WriteByte('"')
}

// Check makes u32_mt_checkentry's check: a shift by 32 or more, which C
// leaves undefined, is refused.
func (m *U32) Check(c *translator.CheckContext) error {
	for _, ct := range m.Tests {
		for _, l := range ct.Location[1:] {
			if (l.Op == U32LeftShift || l.Op == U32RightShift) && l.Number >= 32 {
				return c.Errorf("u32 match: shift by %d is out of range (0-31)", l.Number)
			}
		}
	}
	return nil
}

// Match evaluates the tests as u32_match_it does on the packet from its
// IP header on; a word that would lie beyond the packet, or an offset that
// overflows, fails the whole match (which its inversion then turns into a
// match).
func (m *U32) Match(c *translator.Context) bool {
	return u32MatchIt(m.Tests, c.Packet.Data) != m.Invert
}

func u32MatchIt(tests []U32Test, data []byte) bool {
	n := uint32(len(data))
	word := func(off uint32) uint32 { return binary.BigEndian.Uint32(data[off:]) }
	for _, ct := range tests {
		var at uint32
		pos := ct.Location[0].Number
		if n < 4 || pos > n-4 {
			return false
		}
		val := word(pos)
		for _, l := range ct.Location[1:] {
			switch l.Op {
			case U32And:
				val &= l.Number
			case U32LeftShift:
				val <<= l.Number
			case U32RightShift:
				val >>= l.Number
			case U32At:
				if at+val < at {
					return false
				}
				at += val
				pos = l.Number
				if at+4 < at || n < at+4 || pos > n-at-4 {
					return false
				}
				val = word(at + pos)
			}
		}
		ok := false
		for _, v := range ct.Values {
			if v.Min <= val && val <= v.Max {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
