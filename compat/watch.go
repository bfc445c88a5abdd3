package compat

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/bpftables/bpftables/bpf/attach"
	"github.com/bpftables/bpftables/bpf/state"
	"github.com/bpftables/bpftables/live"
)

// WatchMain runs `bpftables watch`: until interrupted, it attaches the
// hook programs to every interface that appears in the namespace (a
// container's veth, say) and enters it in the generations' interface
// maps, so that no interface goes unjudged between restores.
func WatchMain(args []string, env Env) int {
	if len(args) > 0 {
		fmt.Fprintln(env.Stderr, "Usage: bpftables watch")
		return 1
	}
	opts, err := liveOptions(0, false)
	if err != nil {
		return liveError("bpftables watch", err, env)
	}
	opts.Wait = state.WaitForever // each new interface waits its turn
	ns, err := attach.OpenNS("", "")
	if err != nil {
		return liveError("bpftables watch", err, env)
	}
	defer ns.Close()
	added := func(i attach.Interface) {
		n, err := live.Open(opts)
		if err != nil {
			fmt.Fprintf(env.Stderr, "bpftables watch: %s: %v\n", i, err)
			return
		}
		defer n.Close()
		if err := n.AttachInterface(i); err != nil {
			fmt.Fprintf(env.Stderr, "bpftables watch: %v\n", err)
			return
		}
		fmt.Fprintf(env.Stdout, "attached to %s\n", i)
	}
	w, err := ns.Watch(added, attach.WatchOptions{Existing: true})
	if err != nil {
		return liveError("bpftables watch", err, env)
	}
	defer w.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return 0
}
