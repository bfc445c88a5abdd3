package live_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/live"
	"github.com/bpftables/bpftables/translator"
)

// swapRuleset is one of the two versions the swap test alternates. Both
// accept the probe datagrams, each by its own path through user chains
// that run as programs of their own (a hash lookup selects the jumps), so
// a packet judged partly by one version and partly by the other would be
// dropped: version A's INPUT goes to D after C returns, version B's C
// accepts and its D drops. The rules that count the probes ("sent",
// "judged") are the same in both, so their counters carry across swaps.
func swapRuleset(version string, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n:C - [0:0]\n:D - [0:0]\n")
	fmt.Fprintf(&b, "-A OUTPUT -p udp -m udp --dport %d -m comment --comment sent\n", port)
	fmt.Fprintf(&b, "-A INPUT -p udp -m udp --dport %d -m comment --comment judged\n", port)
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		// a hash run of jumps: C and D are entered by tail calls
		for i := 0; i < 6; i++ {
			fmt.Fprintf(&b, "-A %s -p udp -m udp --dport %d -j C\n", chain, port+i)
		}
		fmt.Fprintf(&b, "-A %s -p udp -m udp --dport %d -j D\n", chain, port)
	}
	if version == "A" {
		fmt.Fprintf(&b, "-A C -m comment --comment \"version A\" -j RETURN\n-A D -p udp -j ACCEPT\n")
	} else {
		fmt.Fprintf(&b, "-A C -p udp -m comment --comment \"version B\" -j ACCEPT\n-A D -j DROP\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// udpRcvbufErrors reads the namespace's UDP receive-buffer drops: losses
// of the receiving socket, not of the firewall.
func udpRcvbufErrors(t *testing.T) uint64 {
	// /proc/net is the namespace of the process's main thread; this
	// thread is the one that entered the test's namespace
	f, err := os.Open("/proc/thread-self/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if header == nil {
			header = fields
			continue
		}
		for i, h := range header {
			if h == "RcvbufErrors" && i < len(fields) {
				n, _ := strconv.ParseUint(fields[i], 10, 64)
				return n
			}
		}
	}
	t.Fatal("no Udp RcvbufErrors in /proc/thread-self/net/snmp")
	return 0
}

// TestSwapUnderTraffic swaps between two versions of a ruleset 1,000
// times while datagrams flow over lo (OUTPUT, then INPUT). Every datagram
// must arrive (a packet judged by a mix of the versions would be dropped,
// and so would one lost in a switch), and the counters that carry across
// the swaps must have counted every one.
func TestSwapUnderTraffic(t *testing.T) {
	swaps := 1000
	if testing.Short() {
		swaps = 100
	}
	ns := nettest.NewNS(t)
	layout := testLayout(t)
	if out, err := ns.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var (
		conn    *net.UDPConn
		port    int
		rcvbuf0 uint64
	)
	ns.Do(t, func() {
		var err error
		if conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadBuffer(8 << 20)
		port = conn.LocalAddr().(*net.UDPAddr).Port
		rcvbuf0 = udpRcvbufErrors(t)
	})
	defer conn.Close()
	versions := [2]string{swapRuleset("A", port), swapRuleset("B", port)}
	// the default wait: the counters below prove it exact
	opts := live.Options{Layout: layout}
	ns.Do(t, func() {
		if _, err := apply(t, opts, versions[0]); err != nil {
			t.Fatal(err)
		}
	})

	// Receiver: records every sequence number.
	var received sync.Map
	var nrecv atomic.Int64
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		buf := make([]byte, 64)
		for {
			// no deadline: a starved sender must not end the reading; the
			// test closes the socket when it is done
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n == 8 {
				received.Store(binary.BigEndian.Uint64(buf), true)
				nrecv.Add(1)
			}
		}
	}()
	// Sender: paced bursts, in the namespace, until the swaps are done.
	var sent atomic.Uint64
	stop := make(chan struct{})
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		ns.Do(t, func() {
			c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := make([]byte, 8)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := 0; i < 8; i++ {
					binary.BigEndian.PutUint64(msg, sent.Load())
					if _, err := c.Write(msg); err != nil {
						t.Error(err)
						return
					}
					sent.Add(1)
				}
				time.Sleep(500 * time.Microsecond)
			}
		})
	}()

	start := time.Now()
	ns.Do(t, func() {
		for i := 1; i <= swaps; i++ {
			if _, err := apply(t, opts, versions[i%2]); err != nil {
				t.Fatal(err)
			}
		}
	})
	elapsed := time.Since(start)
	time.Sleep(50 * time.Millisecond) // the last datagrams in flight
	close(stop)
	<-sendDone
	// let the receiver drain its socket: stop when all arrived or when
	// nothing more arrived for half a second
	for last, idle := nrecv.Load(), 0; uint64(last) < sent.Load() && idle < 50; idle++ {
		time.Sleep(10 * time.Millisecond)
		if n := nrecv.Load(); n != last {
			last, idle = n, 0
		}
	}
	conn.Close()
	<-recvDone

	total := sent.Load()
	var rcvbufDrops uint64
	var c map[string]translator.Counters
	ns.Do(t, func() {
		rcvbufDrops = udpRcvbufErrors(t) - rcvbuf0
		c = counts(t, layout)
	})
	t.Logf("%d swaps in %v (%v each) under %d datagrams; %d received, %d dropped by the receiving socket's buffer",
		swaps, elapsed, elapsed/time.Duration(swaps), total, nrecv.Load(), rcvbufDrops)
	if total < uint64(swaps) {
		t.Fatalf("only %d datagrams sent during %d swaps", total, swaps)
	}
	missing := 0
	var runs []string // ranges of missing sequence numbers, for the report
	for s := uint64(0); s < total; s++ {
		if _, ok := received.Load(s); ok {
			continue
		}
		missing++
		if len(runs) < 20 {
			e := s
			for e+1 < total {
				if _, ok := received.Load(e + 1); ok {
					break
				}
				e++
			}
			runs = append(runs, fmt.Sprintf("%d-%d", s, e))
			missing += int(e - s)
			s = e
		}
	}
	if uint64(missing) > rcvbufDrops {
		t.Fatalf("%d of %d datagrams did not arrive, %d of them not explained by the receiving socket's buffer; missing: %v; counters: %v",
			missing, total, uint64(missing)-rcvbufDrops, runs, c)
	}
	for _, k := range []string{":INPUT", ":OUTPUT"} {
		if c[k].Packets != 0 {
			t.Errorf("the %s policy (DROP) judged %d packets", k, c[k].Packets)
		}
	}
	sentKey := fmt.Sprintf("-A OUTPUT -p udp -m udp --dport %d -m comment --comment sent", port)
	judgedKey := fmt.Sprintf("-A INPUT -p udp -m udp --dport %d -m comment --comment judged", port)
	if c[sentKey].Packets != total || c[judgedKey].Packets != total {
		t.Fatalf("carried counters: OUTPUT counted %d, INPUT %d, of %d datagrams sent", c[sentKey].Packets, c[judgedKey].Packets, total)
	}
}
