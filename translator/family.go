// Package translator holds the Ruleset model that every bpftables front end
// produces and every back end consumes: families, tables, chains, ordered
// rules with typed matches and targets, and the checks the kernel applies
// when a ruleset is loaded.
//
// The model mirrors what iptables itself keeps (struct ipt_entry and the
// xt_* extension structures), so that printing a Ruleset gives exactly the
// text iptables-save would print for the same rules.
package translator

import "fmt"

// Family is the address family of a ruleset: IPv4 (iptables) or IPv6
// (ip6tables). The zero value is not a valid family; extensions use it to
// mean "both families".
type Family uint8

// The two families a Ruleset can hold.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "ipv4" or "ipv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// Bits returns the address length of the family in bits.
func (f Family) Bits() int {
	if f == IPv6 {
		return 128
	}
	return 32
}

// Hook is a netfilter hook: the point in the packet path where the
// built-in chains of the same name run.
type Hook uint8

// The five netfilter hooks, in the kernel's order (NF_INET_*).
const (
	PreRouting Hook = iota
	Input
	Forward
	Output
	PostRouting
	numHooks
)

var hookNames = [numHooks]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// String returns the name of the built-in chain that runs at the hook.
func (h Hook) String() string {
	if h < numHooks {
		return hookNames[h]
	}
	return fmt.Sprintf("hook(%d)", uint8(h))
}

// HookByName returns the hook whose built-in chain has the given name.
func HookByName(name string) (Hook, bool) {
	for i, n := range hookNames {
		if n == name {
			return Hook(i), true
		}
	}
	return 0, false
}

// HookMask is a set of hooks. The zero value is the empty set.
type HookMask uint8

// Mask returns the set holding only h.
func (h Hook) Mask() HookMask { return 1 << h }

// Has reports whether h is in the set.
func (m HookMask) Has(h Hook) bool { return m&h.Mask() != 0 }

// Hooks returns the hooks of the set in kernel order.
func (m HookMask) Hooks() []Hook {
	var hs []Hook
	for h := Hook(0); h < numHooks; h++ {
		if m.Has(h) {
			hs = append(hs, h)
		}
	}
	return hs
}

// String lists the hooks of the set, comma-separated.
func (m HookMask) String() string {
	s := ""
	for _, h := range m.Hooks() {
		if s != "" {
			s += ","
		}
		s += h.String()
	}
	return s
}

// Hook masks used by extensions to say where they may run.
const (
	AllHooks HookMask = 1<<numHooks - 1
)
