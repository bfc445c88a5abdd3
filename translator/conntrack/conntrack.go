// Package conntrack is bpftables' connection tracking as a Go model: the
// tuple a packet is tracked by, netfilter's TCP state table and timeouts,
// and a table that gives each packet its state (NEW, ESTABLISHED,
// RELATED, INVALID, UNTRACKED) and creates an entry only when the
// ruleset accepts the packet. The datapath (bpf/conntrack.go) emits the
// same decisions from the same tables; tests hold one to the other.
//
// It follows nf_conntrack_core.c, nf_conntrack_proto_tcp.c and
// nf_conntrack_proto_icmp{,v6}.c with the kernel's defaults
// (nf_conntrack_tcp_loose=1, no helpers), simplified where
// docs/datapath.md says so: no TCP window tracking (as with
// nf_conntrack_tcp_be_liberal=1), no reassembly (a fragment that is not
// the first is INVALID), SCTP and DCCP tracked by ports like UDP.
package conntrack

import (
	"time"
)

// TCP states, as enum tcp_conntrack numbers them.
const (
	TCPNone = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2
	// TCPInvalid (sIV) and TCPIgnore (sIG) are transitions, not states.
	TCPInvalid
	TCPIgnore
)

// TCP packet classes (enum tcp_bit_set), the rows of the state table.
const (
	TCPSynSet = iota
	TCPSynAckSet
	TCPFinSet
	TCPAckSet
	TCPRstSet
	TCPNoneSet
)

// TCP flag bits.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
)

const (
	sNO = TCPNone
	sSS = TCPSynSent
	sSR = TCPSynRecv
	sES = TCPEstablished
	sFW = TCPFinWait
	sCW = TCPCloseWait
	sLA = TCPLastAck
	sTW = TCPTimeWait
	sCL = TCPClose
	sS2 = TCPSynSent2
	sIV = TCPInvalid
	sIG = TCPIgnore
)

// TCPTransitions is tcp_conntracks of nf_conntrack_proto_tcp.c: the new
// state by direction (0 original, 1 reply), packet class and old state.
var TCPTransitions = [2][6][10]uint8{
	{ // original
		/* syn */ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		/* synack */ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		/* fin */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack */ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		/* rst */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* none */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	{ // reply
		/* syn */ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		/* synack */ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		/* fin */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack */ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		/* rst */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* none */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// TCPTimeouts are the kernel's default timeouts per TCP state
// (nf_conntrack_tcp_timeout_*).
var TCPTimeouts = [10]time.Duration{
	TCPNone:        0,
	TCPSynSent:     2 * time.Minute,
	TCPSynRecv:     60 * time.Second,
	TCPEstablished: 5 * 24 * time.Hour,
	TCPFinWait:     2 * time.Minute,
	TCPCloseWait:   60 * time.Second,
	TCPLastAck:     30 * time.Second,
	TCPTimeWait:    2 * time.Minute,
	TCPClose:       10 * time.Second,
	TCPSynSent2:    2 * time.Minute,
}

// TCPUnackTimeout bounds the timeout of a connection picked up
// mid-stream until it sees a reply (nf_conntrack_tcp_timeout_unacknowledged,
// which tcp_packet applies to an ESTABLISHED connection without
// SEEN_REPLY).
const TCPUnackTimeout = 300 * time.Second

// Timeouts of the other protocols (nf_conntrack_udp_timeout,
// _udp_timeout_stream, _icmp_timeout, _generic_timeout).
const (
	UDPTimeout       = 30 * time.Second
	UDPStreamTimeout = 120 * time.Second
	ICMPTimeout      = 30 * time.Second
	GenericTimeout   = 600 * time.Second
	// GRE (nf_conntrack_proto_gre: 30 s, 180 s once it has a reply)
	GRETimeout       = 30 * time.Second
	GREStreamTimeout = 180 * time.Second
)

// DefaultTableSize is the number of entries of a connection table when
// none is given.
const DefaultTableSize = 65536

// Status bits of an entry (IPS_*).
const (
	StatusSeenReply = 1 << 1
	StatusAssured   = 1 << 2
	StatusConfirmed = 1 << 3
)

// TCPValidFlags has bit f set for each flag combination f (FIN SYN RST
// ACK URG; PSH, ECE and CWR left out) tcp_error lets through: every other
// combination is INVALID.
const TCPValidFlags uint64 = 1<<FlagSYN | 1<<(FlagSYN|FlagURG) | 1<<(FlagSYN|FlagACK) |
	1<<FlagRST | 1<<(FlagRST|FlagACK) | 1<<(FlagFIN|FlagACK) | 1<<(FlagFIN|FlagACK|FlagURG) |
	1<<FlagACK | 1<<(FlagACK|FlagURG)

// TCPIndex is get_conntrack_index: the packet class of TCP flags.
func TCPIndex(flags uint8) int {
	switch {
	case flags&FlagRST != 0:
		return TCPRstSet
	case flags&FlagSYN != 0:
		if flags&FlagACK != 0 {
			return TCPSynAckSet
		}
		return TCPSynSet
	case flags&FlagFIN != 0:
		return TCPFinSet
	case flags&FlagACK != 0:
		return TCPAckSet
	}
	return TCPNoneSet
}

// TCPFlagsValid reports whether tcp_error accepts the flag combination.
func TCPFlagsValid(flags uint8) bool {
	return TCPValidFlags&(1<<(flags&(FlagFIN|FlagSYN|FlagRST|FlagACK|FlagURG))) != 0
}

// ICMP types that open a connection, and their replies (icmp_invmap,
// icmpv6 invmap). An ICMP packet of another type that is not an error
// has no connection: INVALID.
var (
	ICMPRequests   = map[uint8]uint8{8: 0, 13: 14, 15: 16, 17: 18}
	ICMPv6Requests = map[uint8]uint8{128: 129, 139: 140}
)

// ICMPError reports whether an ICMP type is an error that carries the
// packet it answers (icmp_is_err).
func ICMPError(t uint8) bool { return t == 3 || t == 4 || t == 5 || t == 11 || t == 12 }

// ICMPv6Error reports whether an ICMPv6 type is an error (types below
// 128, as icmpv6_error takes them).
func ICMPv6Error(t uint8) bool { return t < 128 }

// ICMPv6Untracked reports whether conntrack leaves an ICMPv6 type
// untracked (noct_valid_new: MLD and neighbour discovery).
func ICMPv6Untracked(t uint8) bool {
	switch t {
	case 130, 131, 132, 133, 134, 135, 136, 143:
		return true
	}
	return false
}

// PortProto reports whether conntrack tells a protocol's flows apart by
// ports.
func PortProto(p uint8) bool { return p == 6 || p == 17 || p == 136 || p == 33 || p == 132 }
