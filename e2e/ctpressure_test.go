package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
)

// TestConnectionTablePressure gives the firewall a connection table of
// 512 entries (conntrack-size in the configuration), opens a TCP
// connection through it, floods it with four times as many new UDP
// flows, and requires the connection to keep working (the server speaks
// first afterwards, so its packets must still find their entry) and
// bpftables status to report the table nearly full.
func TestConnectionTablePressure(t *testing.T) {
	nettest.RequireRoot(t)
	const size = 512
	conf := filepath.Join(t.TempDir(), "bpftables.conf")
	if err := os.WriteFile(conf, []byte("conntrack-size = "+strconv.Itoa(size)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BPFTABLES_CONFIG", conf)
	topo := nettest.NewTopology(t, Bpftables(statefulFirewall, ""))
	got := tcpAcrossRestore(t, topo, translator.IPv4, func() {
		src, dst := topo.ClientLink.Addr(translator.IPv4), netip.MustParseAddr("203.0.113.7")
		var flood []packet.Spec
		for i := 0; i < 4*size; i++ {
			flood = append(flood, packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: uint16(10000 + i), DstPort: 53})
		}
		v := topo.Forward(t, flood)
		for i := range flood {
			if !v.Passed(i) {
				t.Fatalf("new flow %d was dropped: %s", i, v)
			}
		}
	})
	if got != "survived" {
		t.Errorf("the established connection after the flood: %s", got)
	}
	st := run(t, topo.Firewall, "", "status").Stdout
	m := regexp.MustCompile(`connection table: (\d+) of (\d+) entries in use`).FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("bpftables status reports no connection table:\n%s", st)
	}
	t.Logf("after the flood: %s", m[0])
	n, _ := strconv.Atoi(m[1])
	if m[2] != strconv.Itoa(size) || n < size/2 {
		t.Errorf("bpftables status: %s of %s entries in use, want most of %d:\n%s", m[1], m[2], size, st)
	}
}
