package bpf_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/internal/nettest"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/packet"
	"github.com/bpftables/bpftables/translator/plan"
)

// ipv6WithOptions is an IPv6 TCP SYN behind n destination options headers
// of 2048 bytes each (Pad1 options), so that its later headers lie past
// the first page of a frame.
func ipv6WithOptions(n int) []byte {
	const optLen = 2048
	ip := make([]byte, 40+n*optLen+20)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-40))
	ip[6] = 60 // destination options
	ip[7] = 64
	src, dst := netip.MustParseAddr("2001:db8:1::2").As16(), netip.MustParseAddr("2001:db8:2::2").As16()
	copy(ip[8:], src[:])
	copy(ip[24:], dst[:])
	for i := 0; i < n; i++ {
		h := ip[40+i*optLen:]
		h[0] = 60
		if i == n-1 {
			h[0] = 6 // TCP
		}
		h[1] = optLen/8 - 1
	}
	tcp := ip[40+n*optLen:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 443)
	tcp[12] = 5 << 4
	tcp[13] = 0x02 // SYN
	return ip
}

// TestParserReadsPastLinearData runs the XDP hook program, loaded for
// frames with fragments, on frames whose headers lie partly or wholly
// past the linear part: the parser reads what it cannot reach directly
// through the helper, and the packet context must be the one the Go
// parser gives. (BPF_PROG_TEST_RUN builds a linear skb for tc; the live
// package's TestJudgesPagedPackets sends paged skbs through tc ingress.)
func TestParserReadsPastLinearData(t *testing.T) {
	nettest.RequireRoot(t)
	d, err := bpf.NewDatapath(bpf.XDP)
	if err != nil {
		nettest.Skip(t, "BPF is not available: %v", err)
	}
	defer d.Close()
	h := bpf.HookSpec{Point: bpf.XDPIngress, L2: 14}
	prog := bpf.HookProgram(h)
	prog.Flags |= unix.BPF_F_XDP_HAS_FRAGS
	pktSpec, cfgSpec, rootSpec := bpf.PacketMapSpec(), bpf.ConfigMapSpec(), bpf.RootMapSpec(bpf.XDP)
	coll, err := ebpf.NewCollectionWithOptions(&ebpf.CollectionSpec{
		Maps:     map[string]*ebpf.MapSpec{pktSpec.Name: pktSpec, cfgSpec.Name: cfgSpec, rootSpec.Name: rootSpec},
		Programs: map[string]*ebpf.ProgramSpec{h.Name(): prog},
	}, ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{
		// A program array takes programs of one kind: this program gets
		// a root array of its own (and empty: the packet then passes).
		pktSpec.Name: d.Pkt, cfgSpec.Name: d.Config,
	}})
	if err != nil {
		nettest.Skip(t, "XDP programs for frames with fragments: %v", err)
	}
	defer coll.Close()
	if err := d.Config.Put(uint32(0), bpf.Config{ForceHook: uint32(translator.Input) + 1, ForceIn: 1}); err != nil {
		t.Fatal(err)
	}
	src, dst := [6]byte{2, 0, 0, 0, 0, 7}, [6]byte{2, 0, 0, 0, 0, 8}
	// A test run puts some 3.5 KiB of a frame in its first page: with
	// one header of options the TCP header is there, with two it is
	// past it, and with three the second header's own length byte too.
	for _, n := range []int{1, 2, 3} {
		ip := ipv6WithOptions(n)
		p, err := packet.Parse(ip)
		if err != nil {
			t.Fatal(err)
		}
		p.SrcMAC = src[:]
		want := plan.Extract(p, translator.IPv6, nil)
		res := runXDP(t, d, coll.Programs[h.Name()], packet.Ethernet(src, dst, ip))
		if msg := diffValues(want, contextValues(res, translator.IPv6)); msg != "" {
			t.Errorf("%d headers of options (%d bytes): %s", n, len(ip), msg)
		}
	}
}

// runXDP runs an XDP hook program on a frame and returns the packet
// context it filled.
func runXDP(tb testing.TB, d *bpf.Datapath, prog *ebpf.Program, frame []byte) []byte {
	tb.Helper()
	zero := make([][]byte, ebpf.MustPossibleCPU())
	for i := range zero {
		zero[i] = make([]byte, d.Pkt.ValueSize())
	}
	if err := d.Pkt.Put(uint32(0), zero); err != nil {
		tb.Fatal(err)
	}
	if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
		tb.Fatalf("test run: %v", err)
	}
	var per [][]byte
	if err := d.Pkt.Lookup(uint32(0), &per); err != nil {
		tb.Fatal(err)
	}
	for _, v := range per {
		if v[61] != 0 { // the family byte: the CPU the packet ran on
			return v
		}
	}
	tb.Fatal("the hook program filled no packet context")
	return nil
}
