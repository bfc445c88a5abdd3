package bpf

// SetMaxInlineCounts sets how many counter updates a program may have
// inline before it calls its counting function, until the test ends.
func SetMaxInlineCounts(tb interface{ Cleanup(func()) }, n int) {
	old := maxInlineCounts
	maxInlineCounts = n
	tb.Cleanup(func() { maxInlineCounts = old })
}
