package live_test

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/live"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/iptables"
)

// TestKernelRefusalKeepsRulesetInForce makes the kernel refuse a new
// generation - the verifier rejects its entry program, or a map is beyond
// the kernel's limits - and requires the error to say so and the ruleset
// in force to keep judging traffic, with nothing of the refused generation
// left behind.
func TestKernelRefusalKeepsRulesetInForce(t *testing.T) {
	ns := nettest.NewNS(t)
	layout := testLayout(t)
	if out, err := ns.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ns.Do(t, func() {
		l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := strconv.Itoa(l.LocalAddr().(*net.UDPAddr).Port)
		good := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport " + port + " -j DROP\nCOMMIT\n"
		next := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n"
		apply := func(text string) (string, error) {
			n, err := live.Open(live.Options{Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			cur, err := n.Ruleset(translator.IPv4)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := iptables.Restore(cur, strings.NewReader(text), iptables.RestoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = n.Apply(rs, live.ApplyOptions{})
			names, nerr := n.Dir().Names()
			if nerr != nil {
				t.Fatal(nerr)
			}
			return strings.Join(names, " "), err
		}
		saved := func() string {
			n, err := live.OpenReader(live.Options{Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			rs, err := n.Ruleset(translator.IPv4)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := iptables.Save(&b, rs, iptables.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			// built-in chains print their counters, which the probes move
			return regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(b.String(), "")
		}
		if _, err := apply(good); err != nil {
			t.Fatal(err)
		}
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
			names, err := apply(next)
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
