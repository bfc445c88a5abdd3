package compat

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bpftables/bpftables/live"
)

// StatusMain runs `bpftables status`: what is loaded in the namespace and
// where it is attached.
func StatusMain(args []string, env Env) int {
	if len(args) > 0 {
		fmt.Fprintln(env.Stderr, "Usage: bpftables status")
		return 1
	}
	n, err := live.OpenReader(live.Options{})
	if err != nil {
		return liveError("bpftables status", err, env)
	}
	defer n.Close()
	st, err := n.Status()
	if err != nil {
		return liveError("bpftables status", err, env)
	}
	w := env.Stdout
	fmt.Fprintf(w, "network namespace %s, state in %s\n", st.Cookie, st.Dir)
	if !st.Loaded {
		fmt.Fprintln(w, "no datapath loaded")
	}
	for _, f := range st.Families {
		if f.Generation == 0 {
			fmt.Fprintf(w, "%s: no ruleset loaded (traffic passes)\n", f.Family)
			continue
		}
		var kinds []string
		for _, k := range f.Kinds {
			kinds = append(kinds, k.String())
		}
		fmt.Fprintf(w, "%s: generation %d, %d rules in %d chains, %d programs, %d maps, runs at %s",
			f.Family, f.Generation, f.Rules, f.Chains, f.Programs, f.Maps, strings.Join(kinds, "+"))
		if f.Tracks {
			fmt.Fprint(w, ", tracks connections")
		}
		if f.Failed > 0 {
			fmt.Fprintf(w, ", %d packets dropped by failed tail calls", f.Failed)
		}
		fmt.Fprintln(w)
	}
	if c := st.Conntrack; c.Size > 0 {
		fmt.Fprintf(w, "connection table: %d of %d entries in use (%.1f%%), %d not timed out\n",
			c.Entries, c.Size, 100*float64(c.Entries)/float64(c.Size), c.Live)
	}
	if st.Loaded {
		fmt.Fprintf(w, "log events dropped: %d as the ring buffer was full, %d over the rate limit\n", st.LogDroppedFull, st.LogDroppedRate)
	}
	hooks := map[int][]string{}
	for _, a := range st.Attachments {
		hooks[a.Ifindex] = append(hooks[a.Ifindex], fmt.Sprintf("%s %s", a.Hook, a.Mode))
	}
	fmt.Fprintln(w, "interfaces:")
	for _, i := range st.Interfaces {
		h := hooks[i.Index]
		sort.Strings(h)
		desc := strings.Join(h, ", ")
		if desc == "" {
			desc = "not attached"
		}
		fmt.Fprintf(w, "  %-16s %s\n", i.String(), desc)
	}
	return 0
}

// ResetMain runs `bpftables reset [-w [secs]]`: it detaches bpftables
// from every interface of the namespace and removes everything it loaded.
func ResetMain(args []string, env Env) int {
	wait := -1
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-w" || a == "--wait":
			wait = 0
			if i+1 < len(args) {
				if n, err := fmt.Sscan(args[i+1], &wait); n == 1 && err == nil {
					i++
				}
			}
		default:
			fmt.Fprintln(env.Stderr, "Usage: bpftables reset [-w [secs]]")
			return 1
		}
	}
	opts, err := liveOptions(wait, false)
	if err != nil {
		return liveError("bpftables reset", err, env)
	}
	if err := live.Reset(opts); err != nil {
		return liveError("bpftables reset", err, env)
	}
	return 0
}
