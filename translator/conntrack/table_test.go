package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bpftables/bpftables/translator/packet"
)

var (
	client = netip.MustParseAddr("10.0.0.1")
	server = netip.MustParseAddr("10.0.1.2")
	router = netip.MustParseAddr("10.0.0.254")
)

func tcp(src, dst netip.Addr, sport, dport uint16, flags uint8) *packet.Packet {
	return packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoTCP, SrcPort: sport, DstPort: dport, TCPFlags: flags}.Build()
}

func udp(src, dst netip.Addr, sport, dport uint16) *packet.Packet {
	return packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoUDP, SrcPort: sport, DstPort: dport}.Build()
}

func icmp(src, dst netip.Addr, typ uint8, id uint16) *packet.Packet {
	return packet.Spec{Src: src, Dst: dst, Proto: packet.ProtoICMP, ICMPType: typ, ICMPID: id}.Build()
}

// unreachable is the port unreachable error a host sends back for p.
func unreachable(from netip.Addr, p *packet.Packet) *packet.Packet {
	return packet.Spec{Src: from, Dst: p.Src, Proto: packet.ProtoICMP, ICMPType: 3, ICMPCode: 3, Payload: p.Data}.Build()
}

// TestSequences runs packet sequences through a table, each accepted,
// and checks the state every packet gets.
func TestSequences(t *testing.T) {
	syn := tcp(client, server, 40000, 80, packet.SYN)
	q := udp(client, server, 5353, 53)
	tests := []struct {
		name string
		pkts []*packet.Packet
		want []packet.CTState
	}{
		{"tcp handshake and close", []*packet.Packet{
			syn, syn,
			tcp(server, client, 80, 40000, packet.SYN|packet.ACK),
			tcp(client, server, 40000, 80, packet.ACK),
			tcp(client, server, 40000, 80, packet.FIN|packet.ACK),
			tcp(server, client, 80, 40000, packet.FIN|packet.ACK),
			tcp(client, server, 40000, 80, packet.ACK),
		}, []packet.CTState{packet.CTNew, packet.CTNew, packet.CTEstablished, packet.CTEstablished, packet.CTEstablished, packet.CTEstablished, packet.CTEstablished}},
		{"tcp without a connection", []*packet.Packet{
			tcp(server, client, 80, 40001, packet.SYN|packet.ACK),
			tcp(client, server, 40001, 80, packet.FIN|packet.ACK),
			tcp(client, server, 40001, 80, packet.RST),
			tcp(client, server, 40001, 80, packet.SYN|packet.FIN),
			tcp(client, server, 40001, 80, 0),
		}, []packet.CTState{packet.CTInvalid, packet.CTInvalid, packet.CTInvalid, packet.CTInvalid, packet.CTInvalid}},
		{"tcp picked up mid-stream", []*packet.Packet{
			tcp(client, server, 40002, 80, packet.ACK),
			tcp(client, server, 40002, 80, packet.ACK|packet.PSH),
			tcp(server, client, 80, 40002, packet.ACK),
			tcp(client, server, 40002, 80, packet.ACK),
		}, []packet.CTState{packet.CTNew, packet.CTNew, packet.CTEstablished, packet.CTEstablished}},
		{"tcp refused", []*packet.Packet{
			tcp(client, server, 40004, 80, packet.SYN),
			tcp(server, client, 80, 40004, packet.RST|packet.ACK),
			tcp(server, client, 80, 40004, packet.RST|packet.ACK),
			tcp(client, server, 40004, 80, packet.SYN),
		}, []packet.CTState{packet.CTNew, packet.CTEstablished, packet.CTInvalid, packet.CTNew}},
		{"tcp reset after a reply", []*packet.Packet{
			tcp(client, server, 40005, 80, packet.SYN),
			tcp(server, client, 80, 40005, packet.SYN|packet.ACK),
			tcp(server, client, 80, 40005, packet.RST),
			tcp(server, client, 80, 40005, packet.RST),
		}, []packet.CTState{packet.CTNew, packet.CTEstablished, packet.CTEstablished, packet.CTEstablished}},
		{"tcp ack before the syn/ack", []*packet.Packet{
			tcp(client, server, 40003, 80, packet.SYN),
			tcp(client, server, 40003, 80, packet.ACK),
		}, []packet.CTState{packet.CTNew, packet.CTInvalid}},
		{"udp", []*packet.Packet{
			q, q, udp(server, client, 53, 5353), q, udp(server, client, 53, 5354),
		}, []packet.CTState{packet.CTNew, packet.CTNew, packet.CTEstablished, packet.CTEstablished, packet.CTNew}},
		{"icmp echo", []*packet.Packet{
			icmp(server, client, 0, 7), icmp(client, server, 8, 7), icmp(server, client, 0, 7),
			icmp(server, client, 8, 7), icmp(client, server, 9, 0),
		}, []packet.CTState{packet.CTInvalid, packet.CTNew, packet.CTEstablished, packet.CTNew, packet.CTInvalid}},
		{"icmp errors", []*packet.Packet{
			unreachable(server, udp(client, server, 6000, 7000)),
			udp(client, server, 6000, 7000),
			unreachable(server, udp(client, server, 6000, 7000)),
			unreachable(router, udp(client, server, 6000, 7000)),
			unreachable(client, udp(server, client, 7000, 6000)),
		}, []packet.CTState{packet.CTInvalid, packet.CTNew, packet.CTRelated, packet.CTRelated, packet.CTRelated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := NewTable(0)
			for i, p := range tt.pkts {
				d := tab.Track(p, true)
				if d.State != tt.want[i] {
					t.Errorf("packet %d (%s -> %s): state %#x, want %#x", i, p.Src, p.Dst, d.State, tt.want[i])
				}
				tab.Confirm(d)
				tab.Now += time.Millisecond
			}
		})
	}
}

// TestDropNotConfirmed: a NEW packet the ruleset drops leaves no entry.
func TestDropNotConfirmed(t *testing.T) {
	tab := NewTable(0)
	tab.Track(tcp(client, server, 1, 2, packet.SYN), true) // not confirmed
	if d := tab.Track(tcp(server, client, 2, 1, packet.SYN|packet.ACK), true); d.State != packet.CTInvalid {
		t.Errorf("reply to an unconfirmed connection: %#x, want INVALID", d.State)
	}
}

// TestTimeouts: an entry ends with its state's timeout; a UDP flow
// that has a reply and has lasted two seconds gets the stream timeout
// and ASSURED, from its next packet on.
func TestTimeouts(t *testing.T) {
	tab := NewTable(0)
	tab.Confirm(tab.Track(udp(client, server, 1, 2), true))
	tab.Now += UDPTimeout - time.Second
	if d := tab.Track(udp(server, client, 2, 1), true); d.State != packet.CTEstablished || d.Status&StatusAssured != 0 {
		t.Fatalf("reply within the timeout: %#x status %#x", d.State, d.Status)
	}
	tab.Now += UDPTimeout - time.Second
	d := tab.Track(udp(client, server, 1, 2), true)
	if d.State != packet.CTEstablished || d.Status&StatusAssured == 0 {
		t.Fatalf("a stream: %#x status %#x", d.State, d.Status)
	}
	tab.Now += UDPStreamTimeout - time.Second
	if d := tab.Track(udp(server, client, 2, 1), true); d.State != packet.CTEstablished {
		t.Fatalf("within the stream timeout: %#x", d.State)
	}
	tab.Now += UDPStreamTimeout + time.Second
	if d := tab.Track(udp(server, client, 2, 1), true); d.State != packet.CTNew {
		t.Fatalf("after the timeout the flow is new: %#x", d.State)
	}
}

// TestPickupTimeout: a connection picked up mid-stream keeps the
// unacknowledged timeout until it sees a reply.
func TestPickupTimeout(t *testing.T) {
	tab := NewTable(0)
	tab.Confirm(tab.Track(tcp(client, server, 1, 2, packet.ACK), true))
	e, _ := tab.Entry(tab.Track(tcp(client, server, 1, 2, packet.ACK), true).Key)
	if e.Expires != TCPUnackTimeout {
		t.Fatalf("picked up: expires in %v, want %v", e.Expires, TCPUnackTimeout)
	}
	tab.Track(tcp(server, client, 2, 1, packet.ACK), true)
	tab.Track(tcp(client, server, 1, 2, packet.ACK), true)
	if e.Expires != TCPTimeouts[TCPEstablished] {
		t.Fatalf("after a reply: expires in %v, want %v", e.Expires, TCPTimeouts[TCPEstablished])
	}
}

// TestLRU: a full table evicts the least recently used entry.
func TestLRU(t *testing.T) {
	tab := NewTable(4)
	tab.Confirm(tab.Track(udp(client, server, 1, 1), true))
	for i := uint16(2); i <= 10; i++ {
		tab.Confirm(tab.Track(udp(client, server, i, 1), true))
		// the first flow stays in use
		if d := tab.Track(udp(server, client, 1, 1), true); d.State != packet.CTEstablished {
			t.Fatalf("after %d flows the busy flow is gone", i)
		}
	}
	if tab.Len() != 4 {
		t.Errorf("%d entries, want 4", tab.Len())
	}
}
