package live

import (
	"errors"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpftables/bpftables/bpf"
)

// ErrNoDatapath is returned by what needs a datapath in a namespace
// where nothing was loaded.
var ErrNoDatapath = errors.New("no datapath loaded in this network namespace")

// LogReader opens the reader of the namespace's LOG and NFLOG ring
// buffer. The kernel lets a ring buffer have more than one reader, but
// each event goes to whichever reads it first.
func (n *NS) LogReader() (*ringbuf.Reader, error) {
	if n.dp == nil || n.dp.LogRing == nil {
		return nil, ErrNoDatapath
	}
	return ringbuf.NewReader(n.dp.LogRing)
}

// LogDrops returns the LOG and NFLOG events dropped so far: because the
// ring buffer was full, and because of the rate limit.
func (n *NS) LogDrops() (full, rate uint64, err error) {
	if n.dp == nil || n.dp.LogDrops == nil {
		return 0, 0, ErrNoDatapath
	}
	return bpf.LogDrops(n.dp.LogDrops)
}
