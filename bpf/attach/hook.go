package attach

import "fmt"

// Hook is where on an interface a program runs. The zero Hook is Ingress.
type Hook uint8

const (
	// Ingress is tc ingress: packets the interface receives, as an skb
	// (program type SchedCLS).
	Ingress Hook = iota
	// Egress is tc egress: packets the interface sends (SchedCLS).
	Egress
	// XDP is the eXpress Data Path: received packets before an skb is
	// made, natively in the driver or generically after it (program type
	// XDP). It stands in for Ingress where it is used.
	XDP
)

var hookNames = [...]string{Ingress: "ingress", Egress: "egress", XDP: "xdp"}

func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return fmt.Sprintf("Hook(%d)", uint8(h))
}

// Mode is how a program is attached at its hook. The zero Mode is unknown
// and is never reported for an attachment.
type Mode uint8

const (
	// TCX is a tc hook through the kernel's tcx multi-program attachment
	// (Linux 6.6): a link when bpftables made it (Attachment.Link), which
	// lives as long as its pin; or a program attached without a link by
	// another tool, which lives until detached.
	TCX Mode = iota + 1
	// Clsact is a tc hook through a cls_bpf filter in direct-action mode
	// on a clsact qdisc (Linux 4.5): it stays until removed.
	Clsact
	// XDPNative is XDP in the driver (the kernel's "driver mode"), for
	// drivers that implement it (veth does; lo does not).
	XDPNative
	// XDPGeneric is XDP on the skb after the driver (the kernel's "skb
	// mode", Linux 4.12), for every interface; slower, same verdicts.
	XDPGeneric
	// XDPOffload is XDP in the network card; bpftables never attaches
	// there, but reports such a program if it finds one.
	XDPOffload
)

var modeNames = [...]string{TCX: "tcx", Clsact: "clsact", XDPNative: "xdp-native", XDPGeneric: "xdp-generic", XDPOffload: "xdp-offload"}

func (m Mode) String() string {
	if int(m) < len(modeNames) && modeNames[m] != "" {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}
