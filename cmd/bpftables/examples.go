package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/bpftables/bpftables/compat"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/eval"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/packet"
)

// examplesMain checks every example ruleset as `iptables-restore --test` does,
// summarises them, prints one in canonical form, and judges a few probe
// packets with the Go evaluator, counting rule hits as iptables-save -c
// would show them.
func examplesMain(args []string, env compat.Env) int {
	dir := "rulesets/examples"
	if len(args) > 0 {
		dir = args[0]
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.v[46]"))
	if len(files) == 0 {
		fmt.Fprintf(env.Stderr, "bpftables examples: no rulesets (*.v4, *.v6) in %s\n", dir)
		return 1
	}
	sort.Strings(files)
	fmt.Fprintf(env.Stdout, "Checking the example rulesets in %s, as `bpftables iptables-restore --test` does:\n\n", dir)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ruleset\tfamily\ttables\tuser chains\trules\textensions\tresult")
	failed := 0
	var probe *translator.Ruleset
	for _, f := range files {
		fam, prog := translator.IPv4, "iptables-restore"
		if strings.HasSuffix(f, ".v6") {
			fam, prog = translator.IPv6, "ip6tables-restore"
		}
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%v\n", err)
			return 1
		}
		rs, err := iptables.Restore(translator.NewRuleset(fam), bytes.NewReader(data), iptables.RestoreOptions{Program: prog})
		if err != nil {
			msg, _ := iptables.FormatError(prog, err)
			first, _, _ := strings.Cut(msg, "\n")
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\tFAILED: %s\n", filepath.Base(f), fam, first)
			failed++
			continue
		}
		var tables []string
		chains, rules := 0, 0
		exts := map[string]bool{}
		for _, t := range rs.Tables {
			tables = append(tables, t.Name)
			for _, c := range t.Chains {
				if !c.Builtin {
					chains++
				}
				rules += len(c.Rules)
				for _, r := range c.Rules {
					for _, m := range r.Matches {
						exts[m.Name()] = true
					}
					switch r.Target.(type) {
					case nil, *translator.Standard, *translator.Jump, *translator.Goto:
					default:
						exts[r.Target.Name()] = true
					}
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\tok\n", filepath.Base(f), fam, strings.Join(tables, ","), chains, rules, strings.Join(sortedKeys(exts), " "))
		if filepath.Base(f) == "server.v4" {
			probe = rs
		}
	}
	tw.Flush()
	if failed > 0 {
		fmt.Fprintf(env.Stdout, "\n%d ruleset(s) failed\n", failed)
		return 1
	}
	if probe == nil {
		return 0
	}
	fmt.Fprintf(env.Stdout, "\nserver.v4 in iptables-save's canonical form (`bpftables fmt %s`):\n\n", filepath.Join(dir, "server.v4"))
	_ = iptables.Save(env.Stdout, probe, iptables.SaveOptions{})
	demoProbes(probe, env)
	return 0
}

func sortedKeys(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// demoProbes judges packets arriving at server.v4 (INPUT) and prints the
// verdict, the deciding rule and the counters the rules collected.
func demoProbes(rs *translator.Ruleset, env compat.Env) {
	server := netip.MustParseAddr("192.0.2.10")
	type probe struct {
		desc string
		spec packet.Spec
		ct   packet.CTState
	}
	probes := []probe{
		{"ssh from the admin network", packet.Spec{Src: netip.MustParseAddr("198.51.100.7"), Proto: packet.ProtoTCP, SrcPort: 51000, DstPort: 22, TCPFlags: packet.SYN}, packet.CTNew},
		{"ssh from elsewhere", packet.Spec{Src: netip.MustParseAddr("192.0.2.99"), Proto: packet.ProtoTCP, SrcPort: 51001, DstPort: 22, TCPFlags: packet.SYN}, packet.CTNew},
		{"https", packet.Spec{Src: netip.MustParseAddr("192.0.2.99"), Proto: packet.ProtoTCP, SrcPort: 51002, DstPort: 443, TCPFlags: packet.SYN}, packet.CTNew},
		{"reply of an established flow", packet.Spec{Src: netip.MustParseAddr("192.0.2.99"), Proto: packet.ProtoTCP, SrcPort: 443, DstPort: 51003, TCPFlags: packet.ACK}, packet.CTEstablished},
		{"telnet", packet.Spec{Src: netip.MustParseAddr("192.0.2.99"), Proto: packet.ProtoTCP, SrcPort: 51004, DstPort: 23, TCPFlags: packet.SYN}, packet.CTNew},
		{"ping", packet.Spec{Src: netip.MustParseAddr("192.0.2.99"), Proto: packet.ProtoICMP, ICMPType: 8}, packet.CTNew},
		{"from the blocked network", packet.Spec{Src: netip.MustParseAddr("203.0.113.5"), Proto: packet.ProtoUDP, SrcPort: 5000, DstPort: 5353}, packet.CTNew},
	}
	fmt.Fprintf(env.Stdout, "\nProbe packets arriving at %s, judged by the Go evaluator (filter INPUT):\n\n", server)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "packet\tconntrack\tverdict\tdecided by")
	hits := map[*translator.Rule]translator.Counters{}
	state := translator.NewState()
	for _, pr := range probes {
		pr.spec.Dst = server
		p := pr.spec.Build()
		p.InIface = "eth0"
		p.CT.State = pr.ct
		res := eval.Evaluate(rs, "filter", translator.Input, p, eval.Options{State: state})
		for _, m := range res.Matched {
			c := hits[m.Rule]
			c.Packets++
			c.Bytes += uint64(len(p.Data))
			hits[m.Rule] = c
		}
		by := "policy of INPUT"
		if res.Policy == nil && len(res.Matched) > 0 {
			last := res.Matched[len(res.Matched)-1]
			by = fmt.Sprintf("-A %s%s", last.Chain, last.Rule.Spec(rs.Family))
		}
		verdict := res.Verdict.String()
		for _, e := range res.Effects {
			if e.Target == "REJECT" {
				verdict = "REJECT"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", pr.desc, ctName(pr.ct), verdict, by)
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "\nRule counters after the probes (as `iptables-save -c` prints them):\n\n")
	t := rs.Table("filter")
	for _, c := range t.SortedChains() {
		for _, r := range c.Rules {
			n := hits[r]
			if n.Packets == 0 {
				continue
			}
			fmt.Fprintf(env.Stdout, "[%d:%d] -A %s%s\n", n.Packets, n.Bytes, c.Name, r.Spec(rs.Family))
		}
	}
}

func ctName(s packet.CTState) string {
	switch s {
	case packet.CTNew:
		return "NEW"
	case packet.CTEstablished:
		return "ESTABLISHED"
	}
	return "-"
}
