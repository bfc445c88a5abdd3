package xt

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// Type is how an option's argument is converted before the extension sees
// it (libxtables' XTTYPE_*).
type Type uint8

// Option types. None takes no argument; Raw takes one and leaves it as
// text (old-style extensions that parse for themselves).
const (
	None        Type = iota
	Raw              // the argument as text, no conversion
	Uint8            // Call.U64
	Uint16           // Call.U64
	Uint32           // Call.U64
	Uint64           // Call.U64
	Uint8RC          // Call.Range, Call.NVals: "a[:b]"
	Uint16RC         // idem
	Uint32RC         // idem
	Uint64RC         // idem
	Double           // Call.Float
	String           // Call.Arg, length checked against Min/Max, cut to Size-1
	TOSMask          // Call.TOS, Call.TOSMask
	MarkMask32       // Call.Mark, Call.MarkMask: "value[/mask]"
	SyslogLevel      // Call.U64
	Host             // Call.Addr (numeric only: bpftables resolves no names)
	HostMask         // Call.Addr, Call.Mask, Call.PLen
	Protocol         // Call.U64
	Port             // Call.U64
	PortRC           // Call.Range, Call.NVals: "port[:port]"
	Plen             // Call.PLen
	PlenMask         // Call.Mask, Call.PLen
	EtherMAC         // Call.MAC
)

// Flag modifies how an option is handled.
type Flag uint8

// Option flags (XTOPT_*).
const (
	Invert Flag = 1 << iota // "! --opt" is allowed
	Mand                    // the option must be given
	Multi                   // the option may be given more than once
)

// Option is one option of an extension (libxtables' struct
// xt_option_entry).
type Option struct {
	Name string
	Type Type
	// ID identifies the option to the extension and is its bit in
	// Call.Seen; below 32.
	ID uint
	// Excl and Also are sets of option IDs (as bits) this option cannot
	// be combined with, and requires.
	Excl, Also uint32
	Flags      Flag
	// Min and Max bound integer values and string lengths; zero means the
	// type's own limit.
	Min, Max uint64
	// Base is the number base for integers; zero chooses by prefix.
	Base int
	// Size is the number of components of a range type (zero: 2) or the
	// buffer size of a String (zero: unlimited).
	Size int
}

// Bit returns the bit of option id in Seen, Excl and Also.
func Bit(id uint) uint32 { return 1 << id }

// Call is one option being parsed: the argument and its converted value.
type Call struct {
	Ext    string // extension name, for messages
	Opt    *Option
	Arg    string
	Invert bool
	Family translator.Family
	// Seen has the bit of every option of this extension given before.
	Seen uint32
	// Rule is the rule header parsed so far (protocol, addresses).
	Rule *translator.Rule

	U64      uint64
	Range    [4]uint64
	NVals    int
	Float    float64
	Addr     netip.Addr
	Mask     netip.Addr
	PLen     int
	Mark     uint32
	MarkMask uint32
	TOS      uint8
	TOSMask  uint8
	MAC      [6]byte

	// next returns the next command-line argument if it is not an
	// option, consuming it (see TakeArg).
	next func() (string, bool)
}

// Final is the whole of an extension's options, checked after the rule is
// parsed.
type Final struct {
	Ext    string
	Family translator.Family
	Seen   uint32
	Rule   *translator.Rule
}

// ParamError is a parameter problem: bad input on the command line. Its
// text is what iptables prints for it.
type ParamError struct {
	Msg string
}

func (e *ParamError) Error() string { return e.Msg }

// Errorf returns a *ParamError.
func Errorf(format string, args ...any) error {
	return &ParamError{Msg: strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")}
}

// Errorf returns a parameter problem for this call.
func (c *Call) Errorf(format string, args ...any) error { return Errorf(format, args...) }

// Errorf returns a parameter problem for the final check.
func (c *Final) Errorf(format string, args ...any) error { return Errorf(format, args...) }

// Has reports whether option id was given.
func (c *Final) Has(id uint) bool { return c.Seen&Bit(id) != 0 }

// Has reports whether option id was given before this one.
func (c *Call) Has(id uint) bool { return c.Seen&Bit(id) != 0 }

// TakeArg consumes the next command-line argument if there is one that does
// not start with "-" or "!", for options that take two arguments (as
// --tcp-flags mask comp).
func (c *Call) TakeArg() (string, bool) {
	if c.next == nil {
		return "", false
	}
	return c.next()
}

// SetNext installs the source of TakeArg; the rule parser calls it.
func (c *Call) SetNext(next func() (string, bool)) { c.next = next }

// Convert makes the generic checks of an option (once only, inversion
// allowed, argument present) and converts its argument by type, as
// xtables_option_parse does.
func (c *Call) Convert() error {
	o := c.Opt
	bit := Bit(o.ID)
	if (o.Flags&Multi == 0 || o.Excl&bit != 0) && c.Seen&bit != 0 {
		return c.Errorf("%s: option \"--%s\" can only be used once.", c.Ext, o.Name)
	}
	if c.Invert && o.Flags&Invert == 0 {
		return c.Errorf("%s: option \"--%s\" cannot be inverted.", c.Ext, o.Name)
	}
	c.NVals = 1
	switch o.Type {
	case None, Raw, String:
		if o.Type == String {
			return c.parseString()
		}
		return nil
	case Uint8, Uint16, Uint32, Uint64:
		return c.parseInt()
	case Uint8RC, Uint16RC, Uint32RC, Uint64RC:
		return c.parseRange()
	case Double:
		return c.parseFloat()
	case TOSMask:
		return c.parseTOSMask()
	case MarkMask32:
		return c.parseMarkMask()
	case SyslogLevel:
		return c.parseSyslogLevel()
	case Host:
		a, err := ParseHost(c.Arg, c.Family)
		c.Addr = a
		return err
	case HostMask:
		return c.parseHostMask()
	case Protocol:
		p, err := translator.ParseProto(c.Arg)
		if err != nil {
			return Errorf("%v", err)
		}
		c.U64 = uint64(p)
		return nil
	case Port:
		p, ok := ServicePort(c.Arg)
		if !ok {
			return c.Errorf("Port \"%s\" does not resolve to anything.", c.Arg)
		}
		c.U64 = uint64(p)
		return nil
	case PortRC:
		return c.parsePortRange()
	case Plen:
		return c.parsePlen()
	case PlenMask:
		if err := c.parsePlen(); err != nil {
			return err
		}
		if c.PLen >= 0 {
			c.Mask = translator.PrefixMask(familyZero(c.Family), c.PLen)
		}
		return nil
	case EtherMAC:
		return c.parseMAC()
	}
	return fmt.Errorf("option --%s: unknown type %d", o.Name, o.Type)
}

func typeMax(t Type) uint64 {
	switch t {
	case Uint8, Uint8RC:
		return math.MaxUint8
	case Uint16, Uint16RC:
		return math.MaxUint16
	case Uint32, Uint32RC:
		return math.MaxUint32
	}
	return math.MaxUint64
}

func (c *Call) parseInt() error {
	o := c.Opt
	lmin, lmax := o.Min, typeMax(o.Type)
	if o.Max != 0 {
		lmax = o.Max
	}
	v, rest, ok := translator.ParseUintBase(c.Arg, lmin, lmax, o.Base)
	if !ok || rest != "" {
		return c.Errorf("%s: bad value for option \"--%s\", or out of range (%d-%d).", c.Ext, o.Name, lmin, lmax)
	}
	c.U64 = v
	return nil
}

func (c *Call) parseRange() error {
	o := c.Opt
	lmax := typeMax(o.Type)
	if o.Max != 0 && o.Max < lmax {
		lmax = o.Max
	}
	lmin := o.Min
	maxiter := o.Size
	if maxiter == 0 {
		maxiter = 2
	}
	c.NVals = 0
	arg := c.Arg
	for {
		if c.NVals == maxiter {
			return c.Errorf("%s: Too many components for option \"--%s\" (max: %d)", c.Ext, o.Name, maxiter)
		}
		var value uint64
		end := arg
		if arg == "" || arg[0] == ':' {
			if c.NVals == 1 {
				value = lmax
			} else {
				value = lmin
			}
		} else {
			v, rest, ok := translator.ParseUintPrefix(arg, lmin, lmax)
			if !ok {
				return c.Errorf("%s: bad value for option \"--%s\" near \"%s\", or out of range (%d-%d).", c.Ext, o.Name, arg, lmin, lmax)
			}
			if rest != "" && rest[0] != ':' {
				return c.Errorf("%s: Argument to \"--%s\" has unexpected characters near \"%s\".", c.Ext, o.Name, rest)
			}
			value, end, lmin = v, rest, v
		}
		if c.NVals < len(c.Range) {
			c.Range[c.NVals] = value
		}
		c.NVals++
		if end == "" {
			break
		}
		arg = end[1:]
	}
	return nil
}

func (c *Call) parseFloat() error {
	o := c.Opt
	v, err := strconv.ParseFloat(c.Arg, 64)
	if err != nil || (o.Min != o.Max && (v < float64(o.Min) || v > float64(o.Max))) {
		return c.Errorf("%s: bad value for option \"--%s\", or out of range (%d-%d).", c.Ext, o.Name, o.Min, o.Max)
	}
	c.Float = v
	return nil
}

func (c *Call) parseString() error {
	o := c.Opt
	z := uint64(len(c.Arg))
	if o.Min != 0 && z < o.Min {
		return c.Errorf("Argument must have a minimum length of %d characters", o.Min)
	}
	if o.Max != 0 && z > o.Max {
		return c.Errorf("Argument must have a maximum length of %d characters", o.Max)
	}
	if o.Size > 0 && len(c.Arg) >= o.Size {
		c.Arg = c.Arg[:o.Size-1]
	}
	return nil
}

var tosSymbols = []struct {
	name  string
	value uint8
}{
	{"Minimize-Delay", 0x10}, {"Maximize-Throughput", 0x08}, {"Maximize-Reliability", 0x04},
	{"Minimize-Cost", 0x02}, {"Normal-Service", 0x00},
}

func (c *Call) parseTOSMask() error {
	if _, _, ok := translator.ParseUintPrefix(c.Arg, 0, 255); ok {
		v, rest, _ := translator.ParseUintPrefix(c.Arg, 0, 255)
		c.TOS, c.TOSMask = uint8(v), 0xff
		if strings.HasPrefix(rest, "/") {
			m, r2, ok := translator.ParseUintPrefix(rest[1:], 0, 255)
			if !ok {
				return c.Errorf("Illegal value: \"%s\"", c.Arg)
			}
			c.TOSMask, rest = uint8(m), r2
		}
		if rest != "" {
			return c.Errorf("Illegal value: \"%s\"", c.Arg)
		}
		return nil
	}
	c.TOSMask = uint8(c.Opt.Max)
	for _, s := range tosSymbols {
		if strings.EqualFold(c.Arg, s.name) {
			c.TOS = s.value
			return nil
		}
	}
	return c.Errorf("Symbolic name \"%s\" is unknown", c.Arg)
}

func (c *Call) parseMarkMask() error {
	mark, mask, err := ParseValMask(c.Arg)
	if err == errGarbage {
		return c.Errorf("%s: trailing garbage after value for option \"--%s\".", c.Ext, c.Opt.Name)
	}
	if err != nil {
		return c.Errorf("%s: bad integer value for option \"--%s\", or out of range.", c.Ext, c.Opt.Name)
	}
	c.Mark, c.MarkMask = mark, mask
	return nil
}

var errGarbage = fmt.Errorf("trailing garbage")

// ParseValMask parses "value[/mask]" with 32-bit values, as
// xtables_parse_val_mask does; the mask defaults to 0xffffffff.
func ParseValMask(s string) (val, mask uint32, err error) {
	v, rest, ok := translator.ParseUintPrefix(s, 0, math.MaxUint32)
	if !ok {
		return 0, 0, fmt.Errorf("bad value")
	}
	if rest == "" {
		return uint32(v), math.MaxUint32, nil
	}
	if rest[0] != '/' {
		return 0, 0, errGarbage
	}
	m, rest, ok := translator.ParseUintPrefix(rest[1:], 0, math.MaxUint32)
	if !ok {
		return 0, 0, fmt.Errorf("bad value")
	}
	if rest != "" {
		return 0, 0, errGarbage
	}
	return uint32(v), uint32(m), nil
}

var syslogLevels = map[string]uint8{
	"alert": 1, "crit": 2, "debug": 7, "emerg": 0, "error": 3,
	"info": 6, "notice": 5, "panic": 0, "warning": 4,
}

func (c *Call) parseSyslogLevel() error {
	if v, ok := translator.ParseUint(c.Arg, 0, 7); ok {
		c.U64 = v
		return nil
	}
	l, ok := syslogLevels[c.Arg]
	if !ok {
		return c.Errorf("log level \"%s\" unknown", c.Arg)
	}
	c.U64 = uint64(l)
	return nil
}

func (c *Call) parseHostMask() error {
	host, plen, hasMask := strings.Cut(c.Arg, "/")
	a, err := ParseHost(host, c.Family)
	if err != nil {
		return err
	}
	c.Addr = a
	c.PLen = c.Family.Bits()
	c.Mask = translator.PrefixMask(a, c.PLen)
	if !hasMask {
		return nil
	}
	save := c.Arg
	c.Arg = plen
	err = c.parsePlen()
	c.Arg = save
	if err != nil {
		return err
	}
	if c.PLen >= 0 {
		c.Mask = translator.PrefixMask(a, c.PLen)
	}
	return nil
}

func (c *Call) parsePlen() error {
	bits := uint64(c.Family.Bits())
	if v, ok := translator.ParseUint(c.Arg, 0, bits); ok && (v != 0 || bits != 0) {
		c.PLen = int(v)
		return nil
	}
	if m, err := netip.ParseAddr(c.Arg); err == nil && m.Is4() == (c.Family != translator.IPv6) && !m.Is4In6() {
		c.Mask = m
		c.PLen = translator.MaskLen(m)
		return nil
	}
	return c.Errorf("%s: bad value for option \"--%s\", neither a valid network mask nor valid CIDR (%d-%d).", c.Ext, c.Opt.Name, 0, bits)
}

func (c *Call) parsePortRange() error {
	o := c.Opt
	maxiter := o.Size
	if maxiter == 0 {
		maxiter = 2
	}
	c.Range[0], c.Range[1] = 0, math.MaxUint16
	c.NVals = 0
	prev := uint64(0)
	for _, part := range strings.Split(c.Arg, ":") {
		if c.NVals == maxiter {
			return c.Errorf("%s: Too many components for option \"--%s\" (max: %d)", c.Ext, o.Name, maxiter)
		}
		if part == "" {
			c.NVals++
			continue
		}
		p, ok := ServicePort(part)
		if !ok {
			return c.Errorf("Port \"%s\" does not resolve to anything.", part)
		}
		if uint64(p) < prev {
			return c.Errorf("Port range %d-%d is negative.", prev, p)
		}
		prev = uint64(p)
		if c.NVals < len(c.Range) {
			c.Range[c.NVals] = uint64(p)
		}
		c.NVals++
	}
	if c.NVals == 1 {
		c.Range[1] = c.Range[0]
		c.NVals++
	}
	return nil
}

func (c *Call) parseMAC() error {
	mac, ok := ParseMAC(c.Arg)
	if !ok {
		return c.Errorf("Invalid MAC address specified.")
	}
	c.MAC = mac
	return nil
}

// ParseMAC parses six colon-separated hex bytes of one or two digits.
func ParseMAC(s string) ([6]byte, bool) {
	var mac [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return mac, false
	}
	for i, p := range parts {
		if len(p) == 0 || len(p) > 2 {
			return mac, false
		}
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return mac, false
		}
		mac[i] = byte(v)
	}
	return mac, true
}

// checkFinal makes the generic final checks of an extension's options:
// mandatory options given, exclusions and requirements respected
// (xtables_options_fcheck).
func checkFinal(ext string, seen uint32, opts []Option) error {
	for i := range opts {
		e := &opts[i]
		if e.Flags&Mand != 0 && seen&Bit(e.ID) == 0 {
			return Errorf("%s: option \"--%s\" must be specified", ext, e.Name)
		}
		if seen&Bit(e.ID) == 0 {
			continue
		}
		// Only the options e requires or excludes can fail, in the
		// order of their IDs.
		related := (e.Also | e.Excl) &^ Bit(e.ID)
		for bit := uint(0); related>>bit != 0; bit++ {
			if related&Bit(bit) == 0 {
				continue
			}
			other := lookupOption(opts, bit)
			if other == nil {
				continue
			}
			of := Bit(other.ID)
			if e.Also&of != 0 && seen&of == 0 {
				return Errorf("%s: option \"--%s\" also requires \"--%s\".", ext, e.Name, other.Name)
			}
			if e.Excl&of != 0 && seen&of != 0 {
				return Errorf("%s: option \"--%s\" cannot be used together with \"--%s\".", ext, e.Name, other.Name)
			}
		}
	}
	return nil
}

func lookupOption(opts []Option, id uint) *Option {
	for i := range opts {
		if opts[i].ID == id {
			return &opts[i]
		}
	}
	return nil
}

// FinalMatch runs a match's own final check, then the generic one.
func FinalMatch(d *MatchDef, m MatchParser, f *Final) error {
	if err := m.Final(f); err != nil {
		return err
	}
	return checkFinal(f.Ext, f.Seen, d.Options)
}

// FinalTarget runs a target's own final check, then the generic one.
func FinalTarget(d *TargetDef, t TargetParser, f *Final) error {
	if err := t.Final(f); err != nil {
		return err
	}
	return checkFinal(f.Ext, f.Seen, d.Options)
}

func familyZero(f translator.Family) netip.Addr {
	if f == translator.IPv6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}
