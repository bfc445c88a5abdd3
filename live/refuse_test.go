package live_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/live"
	"github.com/bpftables/bpftables/translator/iptables"
)

// TestKernelRefusalKeepsRulesetInForce makes the kernel refuse a new
// generation - the verifier rejects its entry program, or a map is beyond
// the kernel's limits - and requires the error to say so and the ruleset
// in force to keep judging traffic, with nothing of the refused generation
// left behind.
func TestKernelRefusalKeepsRulesetInForce(t *testing.T) {
	ns, layout := loopbackNS(t)
	ns.Do(t, func() {
		l, port := listenLoopback(t)
		good := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport " + strconv.Itoa(port) + " -j DROP\nCOMMIT\n"
		next := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n"
		// apply, then the names in the state directory
		applyNames := func(text string) (string, error) {
			_, err := apply(t, live.Options{Layout: layout}, text)
			n, oerr := live.OpenReader(live.Options{Layout: layout})
			if oerr != nil {
				t.Fatal(oerr)
			}
			defer n.Close()
			names, nerr := n.Dir().Names()
			if nerr != nil {
				t.Fatal(nerr)
			}
			return strings.Join(names, " "), err
		}
		saved := func() string {
			rs := inForce(t, layout)
			var b strings.Builder
			if err := iptables.Save(&b, rs, iptables.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			// built-in chains print their counters, which the probes move
			return regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(b.String(), "")
		}
		mustApply(t, live.Options{Layout: layout}, good)
		before := saved()
		if udpProbe(t, l) {
			t.Fatal("the good ruleset let the datagram through")
		}

		for _, c := range []struct {
			name   string
			mangle func(*bpf.GenerationSpec)
			want   string
		}{
			{"verifier", func(s *bpf.GenerationSpec) {
				// The entry program reads a register nothing wrote.
				p := s.Collection.Programs[bpf.EntryProgram(bpf.TC)]
				read := asm.Mov.Reg(asm.R0, asm.R5).WithMetadata(p.Instructions[0].Metadata)
				p.Instructions = asm.Instructions{read, asm.Return()}
			}, "R5 !read_ok"},
			{"map limit", func(s *bpf.GenerationSpec) {
				// A value larger than the kernel allocates.
				s.Collection.Maps[bpf.MapIfaces].ValueSize = 1 << 30
			}, "argument list too long"},
		} {
			restore := live.SetMangle(c.mangle)
			names, err := applyNames(next)
			restore()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: Apply: %v, want an error saying %q", c.name, err, c.want)
			}
			if strings.Contains(names, "g4-2") {
				t.Errorf("%s: the refused generation is left in %s", c.name, names)
			}
			if got := saved(); got != before {
				t.Errorf("%s: the ruleset in force changed:\n%s", c.name, got)
			}
			if udpProbe(t, l) {
				t.Errorf("%s: after the refusal, the datagram got through", c.name)
			}
		}
	})
}
