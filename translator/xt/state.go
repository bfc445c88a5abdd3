package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// State is the state match: the packet's connection tracking state. With
// the kernels iptables 1.8 supports it is an alias of the conntrack match
// (revision 3 with XT_CONNTRACK_STATE_ALIAS), which is how it is evaluated;
// it saves as -m state --state.
type State struct {
	StateMask packet.CTState
	Invert    bool
}

// stateNames are the words --state takes: those of --ctstate without the
// NAT pseudo-states.
var stateNames = ctStateParseOrder[:5]

func init() {
	RegisterMatch(&MatchDef{
		Name: "state",
		Options: []Option{
			{Name: "state", Type: String, Flags: Mand | Invert},
		},
		New: func(translator.Family) MatchParser { return &State{} },
	})
}

// Name returns "state".
func (m *State) Name() string { return "state" }

// Parse takes --state as state_parse_states does. Unlike --ctstate, an
// empty last word gets its own message.
func (m *State) Parse(c *Call) error {
	arg := c.Arg
	for {
		w, rest, more := strings.Cut(arg, ",")
		if !more {
			break
		}
		s, ok := lookupCTState(w, stateNames)
		if w == "" || !ok {
			return c.Errorf("Bad state \"%s\"", arg)
		}
		m.StateMask |= s
		arg = rest
	}
	if arg == "" {
		return c.Errorf("\"--state\" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED")
	}
	s, ok := lookupCTState(arg, stateNames)
	if !ok {
		return c.Errorf("Bad state \"%s\"", arg)
	}
	m.StateMask |= s
	m.Invert = c.Invert
	return nil
}

// Final has nothing to check.
func (m *State) Final(*Final) error { return nil }

// Save prints [!] --state STATES.
func (m *State) Save(b *strings.Builder, _ translator.Family) {
	SaveInv(b, m.Invert)
	b.WriteString(" --state")
	saveCTStates(b, m.StateMask)
}

// Check accepts the match anywhere.
func (m *State) Check(*translator.CheckContext) error { return nil }

// Match is conntrack_mt with only the state option: a packet without a
// conntrack entry has the INVALID or UNTRACKED state and nothing else.
func (m *State) Match(c *translator.Context) bool {
	state, tracked := ctLookup(&c.Packet.CT)
	if tracked {
		state |= ctNATState(&c.Packet.CT)
	}
	return (m.StateMask&state != 0) != m.Invert
}

// Lower compiles the match to a test of the packet's state, which the
// datapath's connection tracking sets (bpf/conntrack.go).
func (m *State) Lower(b *plan.Builder) error {
	b.CTState(m.StateMask, m.Invert)
	return nil
}
