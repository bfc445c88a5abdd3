package rulesets

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/bpftables/bpftables/internal/corpus"
)

// TestDockerIptablesLayout: for the container of the bridge driver's test
// (in the corpus: a bridge br-dummy, 192.168.0.2 publishing 80 on 8080,
// the daemon's defaults), the family writes the tables Docker's test
// expects, and only DOCKER-USER besides, which the daemon adds outside
// the bridge driver.
func TestDockerIptablesLayout(t *testing.T) {
	want, err := os.ReadFile(corpus.Path(t, "rulesets", "docker", "iptables", "hairpin=false,internal=false,icc=true,masq=true,snat=false,gwm=nat,bindlh=false__iptables.golden"))
	if err != nil {
		t.Fatal(err)
	}
	h := &dockerHost{bridge: "br-dummy", subnet: netip.MustParsePrefix("192.168.0.0/24"),
		containers: []dockerPort{{addr: netip.MustParseAddr("192.168.0.2"), port: 80, hostPort: 8080}}}
	var got []string
	for _, l := range strings.Split(h.iptables(), "\n") {
		if l != ":DOCKER-USER - [0:0]" && l != "-A FORWARD -j DOCKER-USER" {
			got = append(got, l)
		}
	}
	if g := strings.Join(got, "\n"); g != string(want) {
		t.Errorf("Docker's test expects\n%s\nthe family writes\n%s", want, g)
	}
}

// TestDockerUpdate: the update publishes a host port no container has,
// for a container at an address no container has.
func TestDockerUpdate(t *testing.T) {
	for _, n := range []int{1, 1000} {
		g := GenerateIn(Docker, n, 1, 1, "FORWARD")
		dnat := ruleLines(g.Update, "DOCKER")
		if len(dnat) != 1 {
			t.Fatalf("n=%d: the update appends to nat DOCKER %q", n, dnat)
		}
		// ! -i BRIDGE -p tcp -m tcp --dport HOSTPORT -j DNAT --to-destination ADDR:PORT
		f := strings.Fields(dnat[0])
		hostPort, to := f[8], netip.MustParseAddrPort(f[12])
		if strings.Contains(g.Rules, "--dport "+hostPort+" -j DNAT") {
			t.Errorf("n=%d: host port %s is published already", n, hostPort)
		}
		if strings.Contains(g.Rules, "-d "+to.Addr().String()+"/32 ") {
			t.Errorf("n=%d: %s is a container's already", n, to.Addr())
		}
	}
}
