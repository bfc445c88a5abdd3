package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator/packet"
)

// ctStateName is one connection state name as --ctstate and --state take
// it.
type ctStateName struct {
	name string
	bit  packet.CTState
}

// ctStateParseOrder is the order in which libxt_conntrack tries the names:
// a word is taken as the first name it is a prefix of, so it matters
// ("N" is NEW, "S" is SNAT).
var ctStateParseOrder = []ctStateName{
	{"INVALID", packet.CTInvalid},
	{"NEW", packet.CTNew},
	{"ESTABLISHED", packet.CTEstablished},
	{"RELATED", packet.CTRelated},
	{"UNTRACKED", packet.CTUntracked},
	{"SNAT", packet.CTSNAT},
	{"DNAT", packet.CTDNAT},
}

// ctStatePrintOrder is print_state's order, which differs from the parse
// order: RELATED comes before ESTABLISHED.
var ctStatePrintOrder = []ctStateName{
	{"INVALID", packet.CTInvalid},
	{"NEW", packet.CTNew},
	{"RELATED", packet.CTRelated},
	{"ESTABLISHED", packet.CTEstablished},
	{"UNTRACKED", packet.CTUntracked},
	{"SNAT", packet.CTSNAT},
	{"DNAT", packet.CTDNAT},
}

// prefixFold reports whether word is a case-insensitive prefix of name, as
// strncasecmp(word, name, len(word)) == 0 decides it in the C parsers.
func prefixFold(word, name string) bool {
	return len(word) <= len(name) && strings.EqualFold(word, name[:len(word)])
}

// lookupCTState returns the state bit of one word of a state list among
// the names allowed (the state match knows neither SNAT nor DNAT).
func lookupCTState(word string, names []ctStateName) (packet.CTState, bool) {
	for _, n := range names {
		if prefixFold(word, n.name) {
			return n.bit, true
		}
	}
	return 0, false
}

// saveCTStates appends the states of mask as print_state does: a space,
// then the names joined by commas.
func saveCTStates(b *strings.Builder, mask packet.CTState) {
	sep := " "
	for _, n := range ctStatePrintOrder {
		if mask&n.bit != 0 {
			b.WriteString(sep + n.name)
			sep = ","
		}
	}
}

// IPS_* status bits of a conntrack entry that the conntrack match reads.
const (
	ipsExpected  = 1 << 0
	ipsSeenReply = 1 << 1
	ipsAssured   = 1 << 2
	ipsConfirmed = 1 << 3
	ipsSrcNAT    = 1 << 4
	ipsDstNAT    = 1 << 5
)

// ctLookup is nf_ct_get for the packet model: the state bit the packet
// has and whether it has a conntrack entry at all. A packet no connection
// tracking saw (or saw as invalid) has no entry and is INVALID; an
// untracked one has no entry either and is UNTRACKED; every other packet
// has an entry, whose state is its NEW, ESTABLISHED or RELATED bit.
func ctLookup(ct *packet.Conntrack) (state packet.CTState, tracked bool) {
	const base = packet.CTNew | packet.CTEstablished | packet.CTRelated
	switch {
	case ct.State&base != 0:
		return ct.State & base, true
	case ct.State&packet.CTUntracked != 0:
		return packet.CTUntracked, false
	}
	return packet.CTInvalid, false
}

// ctNATState returns the SNAT and DNAT pseudo-states of a tracked packet.
// The kernel derives them from the IPS_SRC_NAT and IPS_DST_NAT status bits;
// the packet model may also carry them in its state directly.
func ctNATState(ct *packet.Conntrack) packet.CTState {
	s := ct.State & (packet.CTSNAT | packet.CTDNAT)
	if ct.Status&ipsSrcNAT != 0 {
		s |= packet.CTSNAT
	}
	if ct.Status&ipsDstNAT != 0 {
		s |= packet.CTDNAT
	}
	return s
}
