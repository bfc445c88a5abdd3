package benchmarks

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// WriteMarkdown writes r as the Markdown report make bench keeps in
// benchmarks/RESULTS.md: the machine, how the figures are made, a table
// per measurement and the goals, each stated as met or MISSED with its
// figure. The plots it shows are the files WritePlots writes, referenced
// as plots/NAME.png: the report expects them in a plots directory beside
// it.
func WriteMarkdown(w io.Writer, r *Results) error {
	var b strings.Builder
	b.WriteString("# bpftables benchmark results\n\n")
	if r.Quick {
		b.WriteString("> **Smoke run** (`make bench-quick`): small rulesets, short rounds. It shows that every measurement runs; its figures are not for comparison.\n\n")
	}
	fmt.Fprintf(&b, "Command (as root): `%s`\n\n", r.Command)
	writeMachine(&b, &r.Machine)
	writeMethod(&b, r)
	writeGoals(&b, r)
	writeCost(&b, r)
	writeThroughput(&b, r)
	writeLoad(&b, r)
	writeUpdate(&b, r)
	writeMemory(&b, r)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeMachine(b *strings.Builder, m *Machine) {
	commit := m.Commit
	if m.Dirty {
		commit += " (with local changes)"
	}
	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	fmt.Fprintf(b, "| kernel | %s |\n", m.Kernel)
	fmt.Fprintf(b, "| CPU | %s |\n", m.CPU)
	fmt.Fprintf(b, "| CPUs | %d |\n", m.CPUs)
	fmt.Fprintf(b, "| memory | %s MiB |\n", thousands(m.MemMiB))
	fmt.Fprintf(b, "| commit | %s |\n", commit)
	fmt.Fprintf(b, "| Go | %s |\n", m.Go)
	tools := make([]string, 0, len(m.Tools))
	for t := range m.Tools {
		tools = append(tools, t)
	}
	sort.Strings(tools)
	for _, t := range tools {
		fmt.Fprintf(b, "| %s | %s |\n", t, escape(m.Tools[t]))
	}
	if m.Started != "" {
		fmt.Fprintf(b, "| started | %s |\n", m.Started)
	}
	b.WriteString("\n")
}

func writeMethod(b *strings.Builder, r *Results) {
	s := r.Settings
	b.WriteString("## How the figures are made\n\n")
	b.WriteString("Every case is measured once per round and the rounds are interleaved (A B C … A B C …), so that whatever else the machine does falls on every contender alike. ")
	if s.Rounds > 1 {
		fmt.Fprintf(b, "Each figure is the median of %d rounds; the range beside it is the lowest and the highest round (min–max), the noise a reader should allow for. ", s.Rounds)
	} else {
		b.WriteString("This run measured one round: its figures have no spread to show, and no median steadies them. ")
	}
	b.WriteString("Nothing here is asserted: the harness measures and reports.\n\n")
}

// caseKey is what a row of a side-by-side table is about.
type caseKey struct {
	Change string // update only
	Family string
	N      int
}

// figure is one contender's figure for one case, as a table cell shows it.
type figure struct {
	key       caseKey
	contender string
	text      string
	err       string
}

// notes numbers the error messages a table refers to, once each.
type notes struct {
	list []string
}

func (n *notes) ref(msg string) string {
	i := slices.Index(n.list, msg)
	if i < 0 {
		n.list = append(n.list, msg)
		i = len(n.list) - 1
	}
	word := "failed"
	if refusal(msg) {
		word = "refused"
	}
	return fmt.Sprintf("%s [%d]", word, i+1)
}

func (n *notes) write(b *strings.Builder) {
	for i, msg := range n.list {
		fmt.Fprintf(b, "[%d] %s\n\n", i+1, escape(msg))
	}
}

// refusal reports whether an error is a contender declining a ruleset
// rather than failing at it: bpftables says that what it cannot run yet
// is "not yet supported", as iptables-restore words its own refusals.
func refusal(msg string) bool {
	return strings.HasPrefix(msg, "refused") || strings.Contains(msg, "not yet supported")
}

// contenderTable writes figures with a row per case and a column per
// contender, both in the order first met; lead names the columns that
// describe the case.
func contenderTable(b *strings.Builder, lead []string, figs []figure) {
	var rows []caseKey
	var cols []string
	cells := map[caseKey]map[string]string{}
	var n notes
	for _, f := range figs {
		if cells[f.key] == nil {
			rows = append(rows, f.key)
			cells[f.key] = map[string]string{}
		}
		if !slices.Contains(cols, f.contender) {
			cols = append(cols, f.contender)
		}
		text := f.text
		if f.err != "" {
			text = n.ref(f.err)
		}
		cells[f.key][f.contender] = text
	}
	b.WriteString("| " + strings.Join(lead, " | ") + " | " + strings.Join(cols, " | ") + " |\n|")
	for _, l := range lead {
		if l == "rules" {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString(strings.Repeat("---:|", len(cols)) + "\n")
	for _, k := range rows {
		b.WriteString("|")
		for _, l := range lead {
			switch l {
			case "change":
				b.WriteString(" " + k.Change + " |")
			case "family":
				b.WriteString(" " + k.Family + " |")
			case "rules":
				b.WriteString(" " + thousands(k.N) + " |")
			}
		}
		for _, c := range cols {
			text, ok := cells[k][c]
			if !ok {
				text = "—"
			}
			b.WriteString(" " + text + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	n.write(b)
}

func writeCost(b *strings.Builder, r *Results) {
	if len(r.Cost) == 0 {
		return
	}
	s := r.Settings
	b.WriteString("## Per-packet cost\n\n")
	fmt.Fprintf(b, "The ingress program judging each of %d probe packets, %s times each, with BPF_PROG_TEST_RUN: the kernel times the runs itself. "+
		"The floor is a ruleset with no rules through the same pipeline; × floor is a cost over it. "+
		"The kernel does not report the instructions a program executes under BPF_PROG_TEST_RUN, so the table gives the generation's instructions as the kernel holds them (translated) and the instructions its verifier processed to load them: the size of the programs, not the work per packet. "+
		"Load is the time from iptables-restore text to a generation in force, in process: parse, check, plan, generate, verify, fill maps.\n\n",
		s.CostPackets, thousands(s.CostRepeat))
	floor, hasFloor := costFloor(r)
	b.WriteString("| family | rules | ns/packet | min–max | × floor | translated insns | verified insns | load ms | maps MiB | segments |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	var n notes
	for _, c := range r.Cost {
		name := c.Family
		if c.N == 0 {
			name = "empty (floor)"
		}
		if c.Error != "" {
			fmt.Fprintf(b, "| %s | %s | %s | | | | | | | |\n", name, thousands(c.N), n.ref(c.Error))
			continue
		}
		ratio := "—"
		if hasFloor {
			ratio = fmt.Sprintf("%.2f", c.NsPkt/floor)
		}
		fmt.Fprintf(b, "| %s | %s | %.1f | %s | %s | %s | %s | %.1f | %.1f | %s |\n", name, thousands(c.N), c.NsPkt,
			spread(c.Rounds, func(v float64) string { return fmt.Sprintf("%.1f", v) }), ratio,
			thousands(int(c.Insns)), thousands(int(c.Verified)), float64(c.Load.Microseconds())/1000, float64(c.MapBytes)/(1<<20), c.Segments)
	}
	b.WriteString("\n")
	n.write(b)
	writePlots(b, r, "cost")
}

func writeThroughput(b *strings.Builder, r *Results) {
	if len(r.Throughput) == 0 {
		return
	}
	b.WriteString("## Throughput\n\n")
	fmt.Fprintf(b, "Client — firewall — server network namespaces joined by veth pairs; the firewall judges the client's traffic in its FORWARD chain with the same ruleset in each contender. "+
		"The project's generator sends 64-byte frames from an AF_PACKET socket for %s a round, each a generated probe packet the ruleset accepts (TCP SYNs; mixed also UDP and ICMP), flows varied so that the rules are really searched; a cell is the packets per second that reached the server, "+
		"its ratio to none (no firewall) in the same run, and the range of the rounds. "+
		"One CPU of this small machine sends, forwards and receives, so a firewall's cost per packet shows in full.\n\n"+
		"bpftables-xdp on a veth is not XDP on a NIC: the veth copies each frame the sender's socket made into a new page before XDP runs (too little headroom) and rebuilds the packet after it, about 1 µs a packet that a physical NIC's driver does not pay.\n\n"+
		"The kube-proxy- and Docker-shaped rulesets are not measured here: their traffic is judged by the nat table, which bpftables' datapath does not run yet (see the load table's refusals), and which the harness's evaluator, that picks the accepted flows, does not model.\n\n", r.Settings.Send)
	figs := make([]figure, len(r.Throughput))
	for i, t := range r.Throughput {
		figs[i] = figure{key: caseKey{Family: t.Family, N: t.N}, contender: t.Contender, err: t.Error,
			text: fmt.Sprintf("%s ×%.2f%s", pps(t.PPS), t.Ratio, withSpread(t.Rounds, pps))}
	}
	contenderTable(b, []string{"family", "rules"}, figs)
	// the flows and hooks a case ran with, once each: every contender of
	// a case has the same flows, and a bpftables contender its one hook
	var flows, hooks []string
	for _, t := range r.Throughput {
		if t.Error != "" {
			continue
		}
		if f := fmt.Sprintf("%s at %s rules %s", t.Family, thousands(t.N), thousands(t.Flows)); t.Flows > 0 && !slices.Contains(flows, f) {
			flows = append(flows, f)
		}
		if h := t.Contender + " at " + t.Hook; t.Hook != "" && !slices.Contains(hooks, h) {
			hooks = append(hooks, h)
		}
	}
	if len(flows) > 0 {
		fmt.Fprintf(b, "Distinct packets each case's traffic cycles through (the probe flows the ruleset accepts): %s.\n\n", strings.Join(flows, ", "))
	}
	if len(hooks) > 0 {
		fmt.Fprintf(b, "Where bpftables ran on the firewall, as bpftables status shows it: %s.\n\n", strings.Join(hooks, "; "))
	}
	writePlots(b, r, "throughput")
}

func writeLoad(b *strings.Builder, r *Results) {
	if len(r.Load) == 0 {
		return
	}
	b.WriteString("## Load time\n\n")
	b.WriteString("The whole ruleset loaded into an empty namespace by each contender's own tool - iptables-legacy-restore, iptables-nft-restore, nft -f, bpftables iptables-restore - timed from the command's start to its exit, in milliseconds (median, and min–max of the rounds).\n\n")
	figs := make([]figure, len(r.Load))
	for i, l := range r.Load {
		figs[i] = figure{key: caseKey{Family: l.Family, N: l.N}, contender: l.Contender, err: l.Error, text: msSpread(l.Ms, l.Rounds)}
	}
	contenderTable(b, []string{"family", "rules"}, figs)
	b.WriteString("The same loads over an empty ruleset the same tool loaded before, as on a running firewall (bpftables then swaps a generation in: its datapath and hooks are in place):\n\n")
	for i, l := range r.Load {
		figs[i].text = msSpread(l.ReloadMs, l.ReloadRounds)
		if l.Error != "" { // its note is the first table's
			figs[i].err, figs[i].text = "", "as above"
		}
	}
	contenderTable(b, []string{"family", "rules"}, figs)
	writePlots(b, r, "load")
}

func writeUpdate(b *strings.Builder, r *Results) {
	if len(r.Update) == 0 {
		return
	}
	b.WriteString("## Update cost\n\n")
	b.WriteString("One change to a loaded ruleset, made the way a user of each contender makes it (iptables-restore --noflush, nft -f with the change only), in milliseconds (median, and min–max of the rounds).\n\n")
	figs := make([]figure, len(r.Update))
	for i, u := range r.Update {
		figs[i] = figure{key: caseKey{Change: u.Change, Family: u.Family, N: u.N}, contender: u.Contender, err: u.Error, text: msSpread(u.Ms, u.Rounds)}
	}
	contenderTable(b, []string{"change", "family", "rules"}, figs)
}

func writeMemory(b *strings.Builder, r *Results) {
	if len(r.Memory) == 0 {
		return
	}
	b.WriteString("## Memory\n\n")
	b.WriteString("Kernel memory of a loaded bpftables generation as the kernel accounts it, from its programs' and maps' info: the memlock figure of each (a program's is the pages of its instructions; its JIT image is counted apart). " +
		"The datapath row is what a namespace has once, whatever its ruleset; the empty row is the generation of an empty filter table, and bytes per rule are counted from it.\n\n")
	b.WriteString("| family | rules | programs | maps | program bytes | JIT bytes | map bytes | translated insns | verified insns | bytes per rule |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var n notes
	for _, m := range r.Memory {
		if m.Error != "" {
			fmt.Fprintf(b, "| %s | %s | %s | | | | | | | |\n", m.Family, thousands(m.N), n.ref(m.Error))
			continue
		}
		perRule := "—"
		if m.N > 0 {
			perRule = thousands(int(math.Round(m.PerRule)))
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", m.Family, thousands(m.N), m.Programs, m.Maps,
			thousands(int(m.ProgBytes)), thousands(int(m.JitedBytes)), thousands(int(m.MapBytes)), thousands(int(m.Insns)), thousands(int(m.Verified)), perRule)
	}
	b.WriteString("\n")
	n.write(b)
}

// writePlots shows the plots of one section.
func writePlots(b *strings.Builder, r *Results, section string) {
	for _, c := range charts(r) {
		if c.section == section {
			fmt.Fprintf(b, "![%s](plots/%s)\n\n", c.title, c.file)
		}
	}
}

// costFloor is the empty ruleset's cost.
func costFloor(r *Results) (float64, bool) {
	for _, c := range r.Cost {
		if c.N == 0 && c.Error == "" {
			return c.NsPkt, true
		}
	}
	return 0, false
}

func msSpread(ms float64, rounds []float64) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	return f(ms) + withSpread(rounds, f)
}

// spread is the lowest and the highest of the rounds, "—" for fewer than
// two.
func spread(rounds []float64, f func(float64) string) string {
	if len(rounds) < 2 {
		return "—"
	}
	return f(slices.Min(rounds)) + "–" + f(slices.Max(rounds))
}

// withSpread is the spread in parentheses, to follow a figure; nothing
// for fewer than two rounds.
func withSpread(rounds []float64, f func(float64) string) string {
	if len(rounds) < 2 {
		return ""
	}
	return " (" + spread(rounds, f) + ")"
}

// pps prints packets per second in k or M, three significant digits.
func pps(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// thousands prints n with commas, as the report's rule counts read.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// escape keeps a message inside its table cell or line.
func escape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}
