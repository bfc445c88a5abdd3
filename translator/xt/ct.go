package xt

import (
	"fmt"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// CT is the CT target of the raw table: it sets up how conntrack will
// track the packet's connection, or that it will not (struct
// xt_ct_target_info_v1, revision 2, which also serves -j NOTRACK).
type CT struct {
	Flags CTFlags
	// Helper is the conntrack helper to attach ("ftp", "sip", ...).
	Helper string
	// Timeout names a timeout policy made with nfct.
	Timeout string
	// CTEvents and ExpEvents are the conntrack and expectation events
	// to report, as bits numbered by the kernel's IPCT_* and IPEXP_*.
	CTEvents, ExpEvents uint32
	// Zone is the conntrack zone, unless CTZoneMark takes it from the
	// packet mark.
	Zone uint16
}

// CTFlags are the flags of the CT target (XT_CT_*).
type CTFlags uint16

// CT flags, with the kernel's values.
const (
	CTNotrack      CTFlags = 1 << iota // do not track the connection
	CTNotrackAlias                     // given as -j NOTRACK
	CTZoneDirOrig                      // the zone applies to the original direction only
	CTZoneDirRepl                      // the zone applies to the reply direction only
	CTZoneMark                         // the zone is the packet mark
)

// Option IDs of CT, as libxt_CT numbers them.
const (
	ctOptNotrack = iota
	ctOptHelper
	ctOptTimeout
	ctOptCTEvents
	ctOptExpEvents
	ctOptZone
	ctOptZoneOrig
	ctOptZoneReply
)

// ctEvents and ctExpEvents name the event bits in the order iptables
// prints them.
var (
	ctEvents = []string{"new", "related", "destroy", "reply", "assured", "protoinfo",
		"helper", "mark", "natseqinfo", "secmark"}
	ctExpEvents = []string{"new"}
)

func init() {
	RegisterTarget(&TargetDef{
		Name: "CT",
		Options: []Option{
			{Name: "notrack", Type: None, ID: ctOptNotrack},
			// The helper and timeout names are cut to the kernel's
			// buffers, as XTOPT_PUT does.
			{Name: "helper", Type: String, ID: ctOptHelper, Size: 16},
			{Name: "timeout", Type: String, ID: ctOptTimeout, Size: 32},
			{Name: "ctevents", Type: String, ID: ctOptCTEvents},
			{Name: "expevents", Type: String, ID: ctOptExpEvents},
			{Name: "zone-orig", Type: String, ID: ctOptZoneOrig},
			{Name: "zone-reply", Type: String, ID: ctOptZoneReply},
			{Name: "zone", Type: String, ID: ctOptZone},
		},
		New: func(translator.Family) TargetParser { return &CT{} },
	})
}

// Name returns "CT", or "NOTRACK" for the alias, which iptables prints
// under that name.
func (t *CT) Name() string {
	if t.Flags&CTNotrackAlias != 0 {
		return "NOTRACK"
	}
	return "CT"
}

// Parse takes one CT option.
func (t *CT) Parse(c *Call) error {
	switch c.Opt.ID {
	case ctOptNotrack:
		t.Flags |= CTNotrack
	case ctOptHelper:
		t.Helper = c.Arg
	case ctOptTimeout:
		t.Timeout = c.Arg
	case ctOptZone, ctOptZoneOrig, ctOptZoneReply:
		return t.parseZone(c.Arg, c.Opt.ID)
	case ctOptCTEvents:
		ev, err := parseCTEvents(ctEvents, c.Arg)
		t.CTEvents = ev
		return err
	case ctOptExpEvents:
		ev, err := parseCTEvents(ctExpEvents, c.Arg)
		t.ExpEvents = ev
		return err
	}
	return nil
}

// parseZone takes a zone number or "mark" (any case), as
// ct_parse_zone_id does. The direction flags accumulate: --zone-orig and
// --zone-reply together are a zone for both directions.
func (t *CT) parseZone(arg string, id uint) error {
	switch id {
	case ctOptZoneOrig:
		t.Flags |= CTZoneDirOrig
	case ctOptZoneReply:
		t.Flags |= CTZoneDirRepl
	}
	t.Zone = 0
	if strings.EqualFold(arg, "mark") {
		t.Flags |= CTZoneMark
		return nil
	}
	v, ok := translator.ParseUint(arg, 0, 65535)
	if !ok {
		return Errorf("Cannot parse %s as a zone ID", arg)
	}
	t.Zone = uint16(v)
	return nil
}

// parseCTEvents parses a comma-separated list of event names; every
// field, even an empty one, must be a name.
func parseCTEvents(names []string, arg string) (uint32, error) {
	var mask uint32
	for _, ev := range strings.Split(arg, ",") {
		i := 0
		for i < len(names) && names[i] != ev {
			i++
		}
		if i == len(names) {
			return 0, Errorf("Unknown event type \"%s\"", ev)
		}
		mask |= 1 << i
	}
	return mask, nil
}

// Final has nothing to check: a CT target without options is valid.
func (t *CT) Final(*Final) error { return nil }

// Save prints the target as ct_save_v1 does; the NOTRACK alias has no
// options.
func (t *CT) Save(b *strings.Builder, _ translator.Family) {
	if t.Flags&CTNotrackAlias != 0 {
		return
	}
	if t.Flags&CTNotrack != 0 {
		b.WriteString(" --notrack")
	}
	if t.Helper != "" {
		b.WriteString(" --helper")
		SaveWord(b, t.Helper)
	}
	if t.Timeout != "" {
		b.WriteString(" --timeout")
		SaveWord(b, t.Timeout)
	}
	if t.CTEvents != 0 {
		b.WriteString(" --ctevents " + eventNames(ctEvents, t.CTEvents))
	}
	if t.ExpEvents != 0 {
		b.WriteString(" --expevents " + eventNames(ctExpEvents, t.ExpEvents))
	}
	if t.Flags&CTZoneMark != 0 || t.Zone != 0 {
		b.WriteString(" --" + t.zoneOption())
		if t.Flags&CTZoneMark != 0 {
			b.WriteString(" mark")
		} else {
			Savef(b, " %d", t.Zone)
		}
	}
}

// zoneOption is "zone", "zone-orig" or "zone-reply" by the direction
// flags; both directions is a plain zone.
func (t *CT) zoneOption() string {
	switch t.Flags & (CTZoneDirOrig | CTZoneDirRepl) {
	case CTZoneDirOrig:
		return "zone-orig"
	case CTZoneDirRepl:
		return "zone-reply"
	}
	return "zone"
}

func eventNames(names []string, mask uint32) string {
	var s []string
	for i, n := range names {
		if mask&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, ",")
}

// ctHelpers are the conntrack helpers of the kernel, by name, family (0
// for both) and layer 4 protocol, as nf_conntrack_helper_try_module_get
// finds them.
var ctHelpers = []struct {
	name   string
	family translator.Family
	proto  uint8
}{
	{"ftp", 0, packet.ProtoTCP}, {"tftp", 0, packet.ProtoUDP},
	{"sip", 0, packet.ProtoTCP}, {"sip", 0, packet.ProtoUDP},
	{"amanda", 0, packet.ProtoUDP}, {"RAS", 0, packet.ProtoUDP},
	{"Q.931", 0, packet.ProtoTCP}, {"sane", 0, packet.ProtoTCP},
	{"irc", translator.IPv4, packet.ProtoTCP}, {"pptp", translator.IPv4, packet.ProtoTCP},
	{"snmp", translator.IPv4, packet.ProtoUDP}, {"snmp_trap", translator.IPv4, packet.ProtoUDP},
	{"netbios-ns", translator.IPv4, packet.ProtoUDP},
}

// Check makes the kernel's checks: CT only in the raw table; with
// --notrack nothing else is looked at; a helper or a timeout policy needs
// the rule's protocol, not inverted; and the helper must exist for the
// family and protocol. The kernel's own helpers are known here; a helper
// of another name could only be one registered from userspace with nfct,
// so it is refused when the objects that exist are known (Objects not
// nil) and let through otherwise. Timeout policies, made with nfct too,
// are not known to bpftables and are not checked.
func (t *CT) Check(c *translator.CheckContext) error {
	if err := c.RequireTable("CT target", "raw"); err != nil {
		return err
	}
	if t.Flags&CTNotrack != 0 {
		return nil
	}
	proto := c.Rule.Proto
	if c.Rule.InvProto {
		proto = 0
	}
	if t.Helper != "" {
		if proto == 0 {
			return c.Errorf("CT target: You must specify a L4 protocol and not use inversions on it")
		}
		known, found := false, false
		for _, h := range ctHelpers {
			if h.name != t.Helper {
				continue
			}
			known = true
			if (h.family == 0 || h.family == c.Family) && h.proto == proto {
				found = true
			}
		}
		if !found && (known || c.Objects != nil) {
			return c.Errorf("CT target: No such helper \"%s\"", t.Helper)
		}
	}
	if t.Timeout != "" && proto == 0 {
		return c.Errorf("CT target: You must specify a L4 protocol and not use inversions on it")
	}
	return nil
}

// Apply does what the kernel's CT target does before conntrack sees the
// packet. --notrack (and NOTRACK) marks the packet untracked, which later
// rules see as conntrack state UNTRACKED. The other options shape the
// connection conntrack will create (helper, zone, events, timeouts): they
// are recorded as an effect. The kernel ignores a packet that already has
// a conntrack entry attached (a looped-back one); the Packet's CT
// describes what conntrack decides for the packet rather than whether it
// already ran, so that case is not told apart.
func (t *CT) Apply(c *translator.Context) translator.Verdict {
	if t.Flags&CTNotrack != 0 {
		c.Packet.CT = packet.Conntrack{State: packet.CTUntracked}
		c.Effect(t.Name(), "untracked")
		return translator.Continue
	}
	var what []string
	if t.Helper != "" {
		what = append(what, "helper "+t.Helper)
	}
	if t.Timeout != "" {
		what = append(what, "timeout policy "+t.Timeout)
	}
	if t.CTEvents != 0 {
		what = append(what, "ctevents "+eventNames(ctEvents, t.CTEvents))
	}
	if t.ExpEvents != 0 {
		what = append(what, "expevents "+eventNames(ctExpEvents, t.ExpEvents))
	}
	if t.Flags&CTZoneMark != 0 || t.Zone != 0 {
		zone := fmt.Sprintf("zone %d", t.Zone)
		if t.Flags&CTZoneMark != 0 {
			// nf_ct_zone_tmpl takes the 16-bit zone id from the mark.
			zone = fmt.Sprintf("zone %d (from mark 0x%x)", uint16(c.Packet.Mark), c.Packet.Mark)
		}
		switch t.Flags & (CTZoneDirOrig | CTZoneDirRepl) {
		case CTZoneDirOrig:
			zone += " for the original direction"
		case CTZoneDirRepl:
			zone += " for the reply direction"
		}
		what = append(what, zone)
	}
	if len(what) == 0 {
		what = append(what, "default conntrack template")
	}
	c.Effect(t.Name(), "%s", strings.Join(what, ", "))
	return translator.Continue
}
