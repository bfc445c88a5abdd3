package xt

import "github.com/bpftables/bpftables/translator/packet"

// l4Header returns the first n bytes of the packet's layer 4 header, or
// nil when the packet ends before them. It is the kernel's
// skb_header_pointer at the transport offset: the matches that call it
// drop the packet (hotdrop) when it fails, because a first fragment too
// short for the header it announces can only be an attack.
func l4Header(p *packet.Packet, n int) []byte {
	l4 := p.L4()
	if len(l4) < n {
		return nil
	}
	return l4[:n]
}
