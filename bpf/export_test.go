package bpf

import (
	"encoding/binary"

	"github.com/cilium/ebpf"
)

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

// SetLogLimit sets the rate limiter to let burst events through and then
// none for an hour: a limit a test cannot outrun.
func SetLogLimit(m *ebpf.Map, burst int) error {
	v := make([]byte, logRateSize)
	interval := uint64(3600e9)
	binary.NativeEndian.PutUint64(v[8:], interval)
	binary.NativeEndian.PutUint64(v[16:], uint64(burst-1)*interval)
	return m.Put(uint32(0), v)
}
