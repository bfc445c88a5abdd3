package nettest

import (
	"strings"
	"testing"
)

// IptablesLegacy returns a Setup that loads rulesets, in iptables-save
// form, into the firewall's kernel with iptables-legacy-restore (ipv4) and
// ip6tables-legacy-restore (ipv6); an empty text leaves that family as it
// is. Without --noflush, each table the text names replaces the one in
// force, so the same Setup also reloads a topology. It skips (see Skip)
// where the tools are missing.
func IptablesLegacy(ipv4, ipv6 string) Setup {
	return func(tb testing.TB, t *Topology) {
		tb.Helper()
		for _, r := range []struct{ tool, text string }{
			{"iptables-legacy-restore", ipv4},
			{"ip6tables-legacy-restore", ipv6},
		} {
			if r.text == "" {
				continue
			}
			RequireTool(tb, r.tool)
			// -w: the xtables lock is one file for every namespace, and
			// other tests may hold it.
			if res := t.Firewall.Run(tb, r.text, r.tool, "-w", "10"); res.Status != 0 {
				tb.Fatalf("%s refused the ruleset (status %d): %s\n%s", r.tool, res.Status, strings.TrimSpace(res.Stderr), r.text)
			}
		}
	}
}
