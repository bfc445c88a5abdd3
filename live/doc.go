// Package live is the ruleset in force in a network namespace: it loads a
// ruleset into the datapath as a new generation and switches to it
// atomically, reads back the ruleset and its counters, attaches the hook
// programs to the namespace's interfaces, and removes everything again.
// The iptables-restore, iptables-save, status and reset commands are built
// on it.
//
// # What lives where
//
// Everything is in the namespace's directory of bpftables' bpffs (see
// bpf/state), so that it outlives the process that loaded it and the next
// bpftables process finds it, under `ip netns exec` too:
//
//	abi                 the datapath's contract (a hash of the hook programs)
//	pkt config          the packet context and the test overrides
//	ct                  the connection table (both families; survives swaps)
//	root_tc root_xdp    root program arrays: slot 0 IPv4, slot 1 IPv6
//	bpftables_in ...    the hook programs, one per hook and link layer
//	current             the generation in force per family (0: none)
//	links/              the pinned TCX and XDP links (bpf/attach)
//	g4-<n>/ g6-<n>/     generation n of a family:
//	    counters          per-CPU packet and byte counts per rule and policy
//	    base              counts carried over from before this generation
//	    src               the ruleset's iptables-save text
//	    ifaces            interface index -> interface pattern bits
//
// The programs and lookup maps of a generation need no pins: the root
// program array holds its entry program, which holds the rest.
//
// # Writers and readers
//
// Writers (Open) take the namespace's lock with iptables' -w semantics.
// Readers (OpenReader) take none, as iptables-save takes none: a generation
// directory never changes once it is in place, and a reader that finds the
// generation gone (replaced while it read) reads the new one.
package live
