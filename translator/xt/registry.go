// Package xt holds the iptables extensions bpftables understands, one file
// per extension as iptables keeps one libxt_*.c per extension: its options
// and parsing, its canonical iptables-save form, the checks the kernel
// makes when it is loaded, and its evaluation on a packet.
//
// The option machinery follows libxtables' x6 option parser (xtoptions.c):
// an extension declares a table of Options, the parser converts each
// argument by its Type and calls the extension's Parse, then Final.
package xt

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// MatchDef describes a match extension.
type MatchDef struct {
	Name string
	// Family limits the extension to one family (libipt_/libip6t_); zero
	// means both (libxt_).
	Family translator.Family
	// Aliases are other names -m accepts for the extension.
	Aliases []string
	Options []Option
	// New returns an empty match, with the defaults of the extension's
	// init function, ready to parse options into.
	New func(f translator.Family) MatchParser
}

// MatchParser is a match being parsed from options.
type MatchParser interface {
	translator.Match
	// Parse takes one option, already converted by its Type.
	Parse(c *Call) error
	// Final checks the options taken as a whole (the extension's
	// x6_fcheck), after every option of the rule is parsed.
	Final(c *Final) error
}

// TargetDef describes a target extension.
type TargetDef struct {
	Name    string
	Family  translator.Family
	Aliases []string
	Options []Option
	New     func(f translator.Family) TargetParser
}

// TargetParser is a target being parsed from options.
type TargetParser interface {
	translator.Target
	Parse(c *Call) error
	Final(c *Final) error
}

var (
	matches = map[string][]*MatchDef{}
	targets = map[string][]*TargetDef{}
)

// RegisterMatch adds a match extension to the registry. It is called from
// the init function of the extension's file.
func RegisterMatch(d *MatchDef) {
	for _, n := range append([]string{d.Name}, d.Aliases...) {
		matches[n] = append(matches[n], d)
	}
}

// RegisterTarget adds a target extension to the registry.
func RegisterTarget(d *TargetDef) {
	for _, n := range append([]string{d.Name}, d.Aliases...) {
		targets[n] = append(targets[n], d)
	}
}

// LookupMatch returns the match extension of that name for the family.
func LookupMatch(name string, f translator.Family) *MatchDef {
	for _, d := range matches[name] {
		if d.Family == 0 || d.Family == f {
			return d
		}
	}
	return nil
}

// LookupTarget returns the target extension of that name for the family.
func LookupTarget(name string, f translator.Family) *TargetDef {
	for _, d := range targets[name] {
		if d.Family == 0 || d.Family == f {
			return d
		}
	}
	return nil
}

// ErrUnsupported is wrapped by errors for iptables extensions that
// bpftables does not implement.
var ErrUnsupported = errors.New("not supported by bpftables")

// Unsupported returns an error naming an iptables extension bpftables
// does not implement, or nil if the name is not an iptables extension at
// all (then iptables' own "Couldn't load" message applies).
func Unsupported(kind, name string) error {
	if i := sort.SearchStrings(knownExtensions, name); i < len(knownExtensions) && knownExtensions[i] == name {
		return fmt.Errorf("%s `%s' is %w", kind, name, ErrUnsupported)
	}
	return nil
}

// knownExtensions are the extensions iptables 1.8 ships (libxt_, libipt_,
// libip6t_), so that a rule using one that bpftables lacks is refused by
// name instead of as a typo.
var knownExtensions = func() []string {
	s := strings.Fields(`AUDIT CHECKSUM CLASSIFY CLUSTERIP CONNMARK CONNSECMARK CT DNAT DNPT DSCP ECN HL HMARK IDLETIMER LED LOG MARK MASQUERADE NETMAP NFLOG NFQUEUE NOTRACK RATEEST REDIRECT REJECT SECMARK SET SNAT SNPT SYNPROXY TCPMSS TCPOPTSTRIP TEE TOS TPROXY TRACE TTL ULOG
		addrtype ah bpf cgroup cluster comment connbytes connlabel connlimit connmark conntrack cpu dccp devgroup dscp dst ecn esp eui64 frag hashlimit hbh helper hl icmp icmp6 ipcomp iprange ipv6header ipvs length limit mac mark mh multiport nfacct osf owner physdev pkttype policy quota rateest realm recent rpfilter rt sctp set socket srh state statistic string tcp tcpmss time tos ttl u32 udp`)
	sort.Strings(s)
	return s
}()

// MatchNames returns the names of the registered match extensions, sorted.
func MatchNames() []string { return names(matches) }

// TargetNames returns the names of the registered target extensions,
// sorted.
func TargetNames() []string { return names(targets) }

func names[T any](m map[string][]T) []string {
	var s []string
	for n := range m {
		s = append(s, n)
	}
	sort.Strings(s)
	return s
}
