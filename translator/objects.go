package translator

import "net/netip"

// Objects tells which named kernel objects exist that rules refer to by
// name: ipsets (-m set, -j SET) and nfacct counters (-m nfacct). The kernel
// refuses a rule that names a missing one. A nil Objects means unknown:
// such names are not checked (as when only formatting a ruleset).
type Objects interface {
	IPSet(name string) (IPSetInfo, bool)
	NFAcct(name string) bool
}

// IPSetInfo describes an ipset.
type IPSetInfo struct {
	Name   string
	Type   string // "hash:ip", "hash:net", "hash:ip,port", "bitmap:port", ...
	Family Family // 0 for sets of ports only
	// Dimension is the number of parts of an element (hash:ip,port has 2).
	Dimension int
}

// IPSetPart is one dimension of an element tested against or added to a
// set: an address, or a protocol and port.
type IPSetPart struct {
	Addr  netip.Addr
	Proto uint8
	Port  uint16
}

// IPSets holds set contents during evaluation (the set match and the SET
// target). A nil IPSets is sets that contain nothing and ignore changes.
type IPSets interface {
	Test(set string, key []IPSetPart) bool
	Add(set string, key []IPSetPart)
	Del(set string, key []IPSetPart)
}

// EmptyObjects is an Objects in which nothing exists.
type EmptyObjects struct{}

// IPSet reports no set.
func (EmptyObjects) IPSet(string) (IPSetInfo, bool) { return IPSetInfo{}, false }

// NFAcct reports no counter.
func (EmptyObjects) NFAcct(string) bool { return false }
