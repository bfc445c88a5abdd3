package live

import "github.com/bpftables/bpftables/bpf"

// SetMangle makes Apply pass every generation through f before loading
// it, until the returned function is called.
func SetMangle(f func(*bpf.GenerationSpec)) (restore func()) {
	mangle = f
	return func() { mangle = nil }
}
