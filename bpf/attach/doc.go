// Package attach puts bpftables' hook programs on the interfaces of a
// network namespace and takes them off again, so that they keep judging
// packets after the process that attached them has exited.
//
// # Paths
//
// tc ingress and egress (program type SchedCLS) use TCX links (Linux 6.6)
// where the kernel has them, and otherwise, or when Options.Clsact asks, a
// cls_bpf filter in direct-action mode on a clsact qdisc (Linux 4.5). XDP
// uses an XDP link (Linux 5.9), in the driver (native) where it implements
// XDP and generically (on the skb) elsewhere or when Options.XDPGeneric
// asks; Attachment.Mode says which was used.
//
// bpftables' program goes first at a hook (TCX: at the head; cls_bpf:
// priority 1), so that no other tool's program can let a packet past the
// firewall. Programs after it run only if it returns TC_ACT_UNSPEC (-1,
// TCX_NEXT): TC_ACT_OK ends the hook's programs, tcx and cls_bpf alike.
//
// # Surviving the process
//
// A link detaches when its last reference goes: every link Attach makes
// is pinned in the NS's pin directory (a directory in a bpffs; per
// docs/datapath.md, the namespace's directory in bpftables' bpffs), one
// pin per interface and hook, named link-<hook>-<ifindex>. Removing the
// pin detaches the link, unless a process still holds it open, a moment
// later (the kernel frees it after an RCU grace period); Detach detaches
// first, at once. A cls_bpf filter needs no pin: it stays on its qdisc
// until deleted.
//
// # Finding and removing
//
// List asks the kernel, not the pin directory, so it finds what another
// bpftables process attached (or crashed leaving): the programs at each
// interface's TCX hooks (BPF_PROG_QUERY, with their link IDs), in its
// clsact filters (a tc filter dump) and at its XDP hook (netlink), keeping
// those whose program name starts with NamePrefix. Detach and DetachAll
// detach the links (which works even while another process holds them),
// delete the filters and remove the pins; DetachAll also removes pins
// left by interfaces that went away (their links are detached, the pins
// stay).
//
// A clsact qdisc is removed only if bpftables created it and no filter is
// left on it. That bpftables created it is recorded on the qdisc itself:
// each of bpftables' filters on such a qdisc is named
// "bpftables:own-clsact" (TCA_BPF_NAME, which `tc filter show` prints),
// the others "bpftables". So a qdisc that another tool made stays, and so
// does one that another tool added filters to after bpftables made it.
// Two windows remain: a process that dies between creating the qdisc and
// adding its filter leaves an empty qdisc, and a filter another tool adds
// between bpftables' last check and the qdisc's deletion goes with it.
//
// # Interfaces
//
// Interface indexes are those of the namespace: calls that name an
// interface by index to the BPF syscall run on a locked OS thread moved
// into the namespace (a thread that cannot be moved back is discarded),
// and netlink calls use a socket opened in it.
//
// Link layers differ (Interface.LinkLayer). On lo ("loopback") tc
// programs see a 14-byte Ethernet header with both addresses zero, and
// XDP runs only generically; a packet sent to a local address crosses
// lo's egress and then its ingress. veth ("ether") has native XDP, which
// runs on the frames the peer transmits and copies those that lack
// headroom; native XDP on a veth also needs the peer's MTU to fit a page
// unless the program supports fragments, where Attach falls back to
// generic XDP. Interfaces without a link-layer header ("none": tun,
// wireguard; ipip and the like) give tc and XDP programs a packet that
// starts at the IP header.
package attach
