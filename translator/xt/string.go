package xt

import (
	"math"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// StringMatch is the string match: a byte pattern searched for in the
// packet, from the IP header on, between two offsets (struct
// xt_string_info, revision 1).
type StringMatch struct {
	// From and To bound the search: the pattern must lie in bytes
	// [From, To) of the packet.
	From, To uint16
	// Algo is the kernel text search algorithm: "bm" or "kmp".
	Algo    string
	Pattern []byte
	Invert  bool
	ICase   bool
}

// Limits of struct xt_string_info.
const (
	stringMaxPattern = 128 // XT_STRING_MAX_PATTERN_SIZE
	stringAlgoSize   = 16  // XT_STRING_MAX_ALGO_NAME_SIZE
)

const (
	stringOptFrom = iota
	stringOptTo
	stringOptAlgo
	stringOptICase
	stringOptString
	stringOptHexString
)

func init() {
	RegisterMatch(&MatchDef{
		Name: "string",
		Options: []Option{
			{Name: "from", Type: Uint16, ID: stringOptFrom},
			{Name: "to", Type: Uint16, ID: stringOptTo},
			{Name: "algo", Type: String, ID: stringOptAlgo, Flags: Mand, Size: stringAlgoSize},
			{Name: "string", Type: String, ID: stringOptString, Flags: Invert, Excl: Bit(stringOptHexString)},
			{Name: "hex-string", Type: String, ID: stringOptHexString, Flags: Invert, Excl: Bit(stringOptString)},
			{Name: "icase", Type: None, ID: stringOptICase},
		},
		New: func(translator.Family) MatchParser { return &StringMatch{To: math.MaxUint16} },
	})
}

// Name returns "string".
func (m *StringMatch) Name() string { return "string" }

// Parse takes one string option.
func (m *StringMatch) Parse(c *Call) error {
	switch c.Opt.ID {
	case stringOptFrom:
		m.From = uint16(c.U64)
	case stringOptTo:
		m.To = uint16(c.U64)
	case stringOptAlgo:
		m.Algo = c.Arg
	case stringOptICase:
		m.ICase = true
	case stringOptString:
		if len(c.Arg) > stringMaxPattern {
			return c.Errorf("STRING too long \"%s\"", c.Arg)
		}
		m.Pattern, m.Invert = []byte(c.Arg), c.Invert
	case stringOptHexString:
		p, err := parseHexString(c.Arg)
		if err != nil {
			return err
		}
		m.Pattern, m.Invert = p, c.Invert
	}
	return nil
}

// parseHexString parses a --hex-string argument as parse_hex_string does:
// text, with "|hex hex|" blocks of byte values and "\c" for a literal
// character outside them.
func parseHexString(s string) ([]byte, error) {
	// at reads s as the C string it is: NUL past its end.
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	slen := len(s)
	if slen == 0 {
		return nil, Errorf("STRING must contain at least one char")
	}
	var pat []byte
	hex, literal := false, false
	for i := 0; i < slen; {
		if len(pat) >= stringMaxPattern {
			return nil, Errorf("STRING too long \"%s\"", s)
		}
		switch {
		case s[i] == '\\' && !hex:
			literal = true
		case s[i] == '\\':
			return nil, Errorf("Cannot include literals in hex data")
		case s[i] == '|':
			if hex {
				hex = false
			} else {
				hex = true
				// skip whitespace just after the opening '|'
				for at(i+1) == ' ' {
					i++
				}
			}
			if i+1 >= slen {
				return pat, nil
			}
			i++
		}
		switch {
		case literal:
			if i+1 >= slen {
				return nil, Errorf("Bad literal placement at end of string")
			}
			pat = append(pat, s[i+1])
			i += 2
			literal = false
		case hex:
			if i+1 >= slen {
				return nil, Errorf("Odd number of hex digits")
			}
			if i+2 >= slen {
				// a hex block must end with '|'
				return nil, Errorf("Invalid hex block")
			}
			if !isHexDigit(s[i]) {
				return nil, Errorf("Invalid hex char '%c'", s[i])
			}
			if !isHexDigit(s[i+1]) {
				return nil, Errorf("Invalid hex char '%c'", s[i+1])
			}
			pat = append(pat, unhex(s[i])<<4|unhex(s[i+1]))
			if at(i+2) == ' ' {
				i += 3 // a space may follow each byte of a block
			} else {
				i += 2
			}
		default:
			pat = append(pat, s[i])
			i++
		}
	}
	return pat, nil
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// Final requires a pattern.
func (m *StringMatch) Final(c *Final) error {
	if !c.Has(stringOptString) && !c.Has(stringOptHexString) {
		return c.Errorf("STRING match: You must specify `--string' or `--hex-string'")
	}
	return nil
}

// Save prints the match as string_save does: the pattern as a quoted
// string, or in hex when it has a byte that is not printable ASCII or ends
// in a backslash; then the algorithm, the offsets that are not the
// defaults, and --icase.
func (m *StringMatch) Save(b *strings.Builder, _ translator.Family) {
	if stringNeedsHex(m.Pattern) {
		SaveInv(b, m.Invert)
		b.WriteString(" --hex-string \"|")
		for _, c := range m.Pattern {
			Savef(b, "%02x", c)
		}
		b.WriteString("|\"")
	} else {
		SaveInv(b, m.Invert)
		b.WriteString(" --string \"")
		for _, c := range m.Pattern {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
	b.WriteString(" --algo " + m.Algo)
	if m.From != 0 {
		Savef(b, " --from %d", m.From)
	}
	if m.To != math.MaxUint16 {
		Savef(b, " --to %d", m.To)
	}
	if m.ICase {
		b.WriteString(" --icase")
	}
}

// stringNeedsHex is is_hex_string.
func stringNeedsHex(p []byte) bool {
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			return true
		}
	}
	return len(p) > 0 && p[len(p)-1] == '\\'
}

// Check makes string_mt_check's checks: a window that is not reversed, and
// a search the kernel can prepare (a known algorithm, a pattern that is
// not empty).
func (m *StringMatch) Check(c *translator.CheckContext) error {
	if m.From > m.To {
		return c.Errorf("string match: --from %d is beyond --to %d", m.From, m.To)
	}
	if len(m.Pattern) == 0 {
		return c.Errorf("string match: empty pattern")
	}
	switch m.Algo {
	case "bm", "kmp":
	case "fsm":
		// ts_fsm takes a pattern of state machine tokens, not text.
		return c.Errorf("string match: algorithm fsm is %v", ErrUnsupported)
	default:
		return c.Errorf("string match: unknown algorithm %q", m.Algo)
	}
	return nil
}

// Match searches the packet as skb_find_text does: the algorithm runs over
// the packet from From to its end and finds the first occurrence it can,
// which counts only if it ends by To.
func (m *StringMatch) Match(c *translator.Context) bool {
	data := c.Packet.Data
	from, to := int(m.From), int(m.To)
	found := false
	if from < to && from < len(data) && len(m.Pattern) > 0 {
		var pos int
		if m.Algo == "kmp" {
			pos = kmpFind(m.Pattern, data[from:], m.ICase)
		} else {
			pos = bmFind(m.Pattern, data[from:], m.ICase)
		}
		found = pos >= 0 && pos+len(m.Pattern) <= to-from
	}
	return found != m.Invert
}

// kernelToUpper and kernelToLower are the kernel's toupper and tolower,
// whose ctype table is ISO 8859-1: besides ASCII they fold the Latin-1
// letters, and 0xdf and 0xff count as lower case (to 0xbf and 0xdf).
func kernelToUpper(c byte) byte {
	if 'a' <= c && c <= 'z' || c >= 0xdf && c != 0xf7 {
		return c - 0x20
	}
	return c
}

func kernelToLower(c byte) byte {
	if 'A' <= c && c <= 'Z' || c >= 0xc0 && c <= 0xde && c != 0xd7 {
		return c + 0x20
	}
	return c
}

// bmFind is the kernel's Boyer-Moore search (lib/ts_bm.c) on one linear
// block, ported with its shift tables as they are, so that it finds what
// the kernel finds. It returns the position of the match or -1.
func bmFind(pattern, text []byte, icase bool) int {
	n := len(pattern)
	pat := make([]byte, n)
	for i, c := range pattern {
		if icase {
			c = kernelToUpper(c)
		}
		pat[i] = c
	}
	var bad [256]int
	for i := range bad {
		bad[i] = n
	}
	for i := 0; i < n-1; i++ {
		bad[pat[i]] = n - 1 - i
		if icase {
			bad[kernelToLower(pat[i])] = n - 1 - i
		}
	}
	good := make([]int, n)
	good[0] = 1
	for i := 1; i < n; i++ {
		good[i] = n
	}
	for i, g := n-1, 1; i > 0; i, g = i-1, g+1 {
		for j := i - 1; j >= 1-g; j-- {
			if bmSubpattern(pat, i, j, g) {
				good[g] = n - j - g
				break
			}
		}
	}

	for shift := n - 1; shift < len(text); {
		i := 0
		for ; i < n; i++ {
			t := text[shift-i]
			if icase {
				t = kernelToUpper(t)
			}
			if t != pat[n-1-i] {
				break
			}
		}
		if i == n {
			return shift - (n - 1)
		}
		// The bad character is looked up as it is in the text, not
		// folded, as the kernel does.
		shift = max(shift-i+bad[text[shift-i]], shift+good[i])
	}
	return -1
}

// bmSubpattern is ts_bm's subpattern.
func bmSubpattern(pat []byte, i, j, g int) bool {
	x, y := i+g-1, j+g-1
	for pat[x] == pat[y] {
		x, y = x-1, y-1
		if y < 0 {
			return true
		}
		if g--; g == 0 {
			return pat[i-1] != pat[j-1]
		}
	}
	return false
}

// kmpFind is the kernel's Knuth-Morris-Pratt search (lib/ts_kmp.c). It
// returns the position of the first match or -1.
func kmpFind(pattern, text []byte, icase bool) int {
	n := len(pattern)
	fold := func(c byte) byte {
		if icase {
			return kernelToUpper(c)
		}
		return c
	}
	pat := make([]byte, n)
	for i, c := range pattern {
		pat[i] = fold(c)
	}
	prefix := make([]int, n)
	for k, q := 0, 1; q < n; q++ {
		for k > 0 && pat[k] != pat[q] {
			k = prefix[k-1]
		}
		if pat[k] == pat[q] {
			k++
		}
		prefix[q] = k
	}
	q := 0
	for i, c := range text {
		c = fold(c)
		for q > 0 && pat[q] != c {
			q = prefix[q-1]
		}
		if pat[q] == c {
			q++
		}
		if q == n {
			return i + 1 - n
		}
	}
	return -1
}
