package xt

import (
	"encoding/binary"
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// TCPMSSTarget is the TCPMSS target (struct xt_tcpmss_info): it lowers the
// MSS option of TCP SYN segments, to a set value or to what the path MTU
// allows.
type TCPMSSTarget struct {
	// MSS is the value to set, or TCPMSSClampPMTU.
	MSS uint16
}

// TCPMSSClampPMTU (XT_TCPMSS_CLAMP_PMTU) clamps to the path MTU minus the
// IP and TCP headers.
const TCPMSSClampPMTU = 0xffff

const (
	tcpmssOptSet = iota
	tcpmssOptClamp
)

func init() {
	// The largest MSS leaves room for the family's IP header.
	for _, r := range []struct {
		f   translator.Family
		hdr uint64
	}{{translator.IPv4, 20}, {translator.IPv6, 40}} {
		RegisterTarget(&TargetDef{
			Name:   "TCPMSS",
			Family: r.f,
			Options: []Option{
				{Name: "set-mss", Type: Uint16, ID: tcpmssOptSet, Max: 0xffff - r.hdr},
				{Name: "clamp-mss-to-pmtu", Type: None, ID: tcpmssOptClamp},
			},
			New: func(translator.Family) TargetParser { return &TCPMSSTarget{} },
		})
	}
}

// Name returns "TCPMSS".
func (t *TCPMSSTarget) Name() string { return "TCPMSS" }

// Parse takes --set-mss or --clamp-mss-to-pmtu; given both, the later
// wins, as in iptables.
func (t *TCPMSSTarget) Parse(c *Call) error {
	if c.Opt.ID == tcpmssOptClamp {
		t.MSS = TCPMSSClampPMTU
	} else {
		t.MSS = uint16(c.U64)
	}
	return nil
}

// Final requires one of the options.
func (t *TCPMSSTarget) Final(c *Final) error {
	if c.Seen == 0 {
		return c.Errorf("TCPMSS target: At least one parameter is required")
	}
	return nil
}

// Save prints --clamp-mss-to-pmtu or --set-mss.
func (t *TCPMSSTarget) Save(b *strings.Builder, _ translator.Family) {
	if t.MSS == TCPMSSClampPMTU {
		b.WriteString(" --clamp-mss-to-pmtu")
		return
	}
	Savef(b, " --set-mss %d", t.MSS)
}

// Check makes the kernel's checks: -p tcp (the target's .proto), clamping
// only where the route is known (FORWARD, OUTPUT, POSTROUTING), and a tcp
// match that lets only SYN segments through (find_syn_match: its flags
// must require SYN, not inverted).
func (t *TCPMSSTarget) Check(c *translator.CheckContext) error {
	if err := c.RequireProto("TCPMSS target", packet.ProtoTCP); err != nil {
		return err
	}
	routed := translator.Forward.Mask() | translator.Output.Mask() | translator.PostRouting.Mask()
	if t.MSS == TCPMSSClampPMTU && c.Hooks&^routed != 0 {
		return c.Errorf("path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks")
	}
	for _, m := range c.Rule.Matches {
		if tm, ok := m.(*TCP); ok && tm.FlagCmp&packet.SYN != 0 && !tm.InvFlags {
			return nil
		}
	}
	return c.Errorf("Only works on TCP SYN packets")
}

// tcpmssDefault is the MSS a peer assumes when a SYN has none (RFC 1122
// for IPv4; for IPv6 the minimum MTU of 1280 less 60 bytes of headers),
// which an added option never exceeds.
func tcpmssDefault(p *packet.Packet) uint16 {
	if p.IPv6 {
		return 1220
	}
	return 536
}

// Apply mangles the MSS option as tcpmss_mangle_packet does: an option
// above the new value is lowered, never raised; a header without one gets
// one (at most the default MSS) when there is room and no payload. A
// segment whose header cannot be read is dropped. The path MTU is not part
// of the Packet, so clamping is recorded without changing the segment.
func (t *TCPMSSTarget) Apply(c *translator.Context) translator.Verdict {
	p := c.Packet
	if p.Fragment {
		return translator.Continue
	}
	l4 := l4Bytes(p)
	if len(l4) < 20 {
		return translator.Drop
	}
	hdrLen := int(l4[12]>>4) * 4
	if len(l4) < hdrLen || hdrLen < 20 {
		return translator.Drop
	}
	if t.MSS == TCPMSSClampPMTU {
		hdrs := 40
		if p.IPv6 {
			hdrs = 60
		}
		c.Effect("TCPMSS", "MSS clamped to the path MTU less %d bytes of headers", hdrs)
		return translator.Continue
	}
	newMSS := t.MSS
	for i := 20; i <= hdrLen-4; {
		if l4[i] == 2 && l4[i+1] == 4 { // MSS, length 4
			old := binary.BigEndian.Uint16(l4[i+2:])
			if old <= newMSS {
				return translator.Continue
			}
			d := ownData(p)
			seg := d[p.L4Off:]
			binary.BigEndian.PutUint16(seg[i+2:], newMSS)
			binary.BigEndian.PutUint16(seg[16:], packet.ChecksumReplace(binary.BigEndian.Uint16(seg[16:]), old, newMSS))
			c.Effect("TCPMSS", "MSS %d -> %d", old, newMSS)
			return translator.Continue
		}
		// zero-length options still advance, as optlen() makes sure
		if l4[i] <= 1 || l4[i+1] == 0 {
			i++
		} else {
			i += int(l4[i+1])
		}
	}
	// A payload would have to move, and the segment could grow too large:
	// it goes unchanged. So does a header already at its 60-byte limit.
	if len(l4) > hdrLen || hdrLen >= 60 {
		return translator.Continue
	}
	newMSS = min(newMSS, tcpmssDefault(p))
	t.insertMSS(p, newMSS)
	c.Effect("TCPMSS", "MSS option %d added", newMSS)
	return translator.Continue
}

// insertMSS puts an MSS option first in the TCP options of a segment
// without payload, updating the data offset, the IP length and the
// checksums incrementally as the kernel does.
func (t *TCPMSSTarget) insertMSS(p *packet.Packet, mss uint16) {
	old := l4Bytes(p)
	n := len(old)
	d := make([]byte, 0, p.L4Off+n+4)
	d = append(d, p.Data[:p.L4Off]...)
	d = append(d, old[:20]...)
	d = append(d, 2, 4, byte(mss>>8), byte(mss))
	d = append(d, old[20:]...)
	seg := d[p.L4Off:]
	check := binary.BigEndian.Uint16(seg[16:])
	// the pseudo-header length, the option's two words, the data offset
	check = packet.ChecksumReplace(check, uint16(n), uint16(n+4))
	check = packet.ChecksumReplace(check, 0, 0x0204)
	check = packet.ChecksumReplace(check, 0, mss)
	oldWord := binary.BigEndian.Uint16(seg[12:])
	seg[12] += 1 << 4
	check = packet.ChecksumReplace(check, oldWord, binary.BigEndian.Uint16(seg[12:]))
	binary.BigEndian.PutUint16(seg[16:], check)
	if p.IPv6 {
		binary.BigEndian.PutUint16(d[4:], binary.BigEndian.Uint16(d[4:])+4)
	} else {
		setIPv4Word(d, 2, binary.BigEndian.Uint16(d[2:])+4)
	}
	p.Data = d
	p.Len += 4
}
