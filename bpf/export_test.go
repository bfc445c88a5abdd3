package bpf

// SetMaxInlineCounts sets how many counter updates a program may have
// inline before it calls its counting function, until the test ends.
func SetMaxInlineCounts(tb interface{ Cleanup(func()) }, n int) {
	old := maxInlineCounts
	maxInlineCounts = n
	tb.Cleanup(func() { maxInlineCounts = old })
}

// PktSize is the size of the packet context.
const PktSize = pktSize

// OffCtState is where the packet context holds the connection tracking
// state.
const OffCtState = offCtState
