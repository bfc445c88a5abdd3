package nettest

import (
	"fmt"
	"testing"

	"github.com/bpftables/bpftables/translator/packet"
)

// TestTopologiesSideBySide builds two topologies at once, the way a
// comparison does: they carry the same names and addresses, tag the same
// batch identically, and do not see each other's packets.
func TestTopologiesSideBySide(t *testing.T) {
	RequireRoot(t)
	open := NewTopology(t)
	closed := NewTopology(t, IptablesLegacy(filterRuleset("-P FORWARD DROP"), filterRuleset("-P FORWARD DROP")))
	other := NewTopology(t)
	var specs []packet.Spec
	for _, f := range families {
		specs = append(specs, tcp(22, packet.SYN)(forward, f), udp(53)(forward, f), icmp(8)(forward, f))
	}
	a, b, c := open.Forward(t, specs), closed.Forward(t, specs), other.Forward(t, specs)
	for i := range specs {
		if !a.Passed(i) || b.Passed(i) || a.Tags[i] != b.Tags[i] {
			t.Errorf("packet %d (%s): open %s, closed %s, tags %d and %d", i, Describe(a.Packets[i]), a.verdict(i), b.verdict(i), a.Tags[i], b.Tags[i])
		}
	}
	RequireSameVerdicts(t, a, c)

	// And a disagreement is reported, packet by packet.
	rec := &recorder{TB: t}
	RequireSameVerdicts(rec, a, b)
	if len(rec.errors) != len(specs) {
		t.Errorf("RequireSameVerdicts reported %d disagreements, want %d: %q", len(rec.errors), len(specs), rec.errors)
	}
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
