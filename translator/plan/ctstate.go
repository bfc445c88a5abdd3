package plan

import "github.com/bpftables/bpftables/translator/packet"

// CTStateBits is the packet's connection tracking state as the packet
// context holds it (FieldCtState): one byte with a bit per state, the
// low four as xt_conntrack numbers them, UNTRACKED, SNAT and DNAT moved
// down from bits 8-10 so that the field fits a byte, which the
// bit-vector classifier takes.
func CTStateBits(s packet.CTState) uint8 {
	return uint8(s&0x0f) | uint8(s>>4)&0x70
}

// CTState adds "the packet's state is one of states", or its negation,
// for the state and conntrack matches.
func (b *Builder) CTState(states packet.CTState, inv bool) {
	// (state & mask) == 0 fails for the states wanted
	b.EqUint(FieldCtState, 0, uint64(CTStateBits(states)), !inv)
}

// Conntrack reports whether the plan's rules test connection tracking
// state: the datapath then tracks the family's connections.
func (p *Plan) Conntrack() bool {
	for _, r := range p.Rules {
		for _, t := range r.Tests {
			if t.Field == FieldCtState {
				return true
			}
		}
	}
	return false
}
