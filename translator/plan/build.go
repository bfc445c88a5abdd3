package plan

import (
	"bytes"
	"fmt"

	"github.com/bpftables/bpftables/translator"
)

// Options tune how chains are segmented.
type Options struct {
	// MinRun is the shortest run of rules worth a hash or LPM lookup; zero
	// means DefaultMinRun. Below it straight-line code is faster.
	MinRun int
	// LinearOnly builds only linear segments (for tests and comparisons).
	LinearOnly bool
}

// DefaultMinRun is the default MinRun.
const DefaultMinRun = 4

// MaxTailCalls is how many chain programs one packet may enter: the
// kernel allows 33 tail calls, and the hook program's call into the
// generation takes one.
const MaxTailCalls = 32

// Placement limits: a user chain with more than MaxFunctionRules linearly
// tested rules runs as its own program, and functions nest at most
// MaxFunctionDepth deep (the kernel allows eight call frames).
const (
	MaxFunctionRules = 64
	MaxFunctionDepth = 6
)

// Build lowers one table of the ruleset.
func Build(rs *translator.Ruleset, table string, opts Options) (*Plan, error) {
	if opts.MinRun == 0 {
		opts.MinRun = DefaultMinRun
	}
	t := rs.Table(table)
	if t == nil {
		var err error
		if t, err = translator.NewTable(table); err != nil {
			return nil, err
		}
	}
	p := &Plan{Family: rs.Family, Table: table, Entry: map[translator.Hook]int{}}
	for _, c := range t.SortedChains() {
		pc := &Chain{ID: len(p.Chains), Name: c.Name, Builtin: c.Builtin, Hook: c.Hook}
		if c.Builtin {
			pc.Policy = ActAccept
			if c.Policy == translator.PolicyDrop {
				pc.Policy = ActDrop
			}
			p.Entry[c.Hook] = pc.ID
		}
		p.Chains = append(p.Chains, pc)
	}
	for i, c := range t.SortedChains() {
		pc := p.Chains[i]
		for j, r := range c.Rules {
			pr, err := p.lower(pc, j+1, r)
			if err != nil {
				return nil, &RuleError{Chain: c.Name, Index: j + 1, Line: r.Line, Err: err}
			}
			pc.Rules = append(pc.Rules, pr)
			p.Rules = append(p.Rules, pr)
		}
	}
	next := len(p.Rules)
	for _, c := range p.Chains {
		if c.Builtin {
			c.PolicyID = next
			next++
		}
		c.Segments = segment(c.Rules, opts)
	}
	if len(p.Ifaces) > 64 {
		return nil, fmt.Errorf("the rules name %d interface patterns; the datapath handles 64", len(p.Ifaces))
	}
	p.place()
	if err := p.checkTailCalls(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Plan) lower(c *Chain, index int, r *translator.Rule) (*Rule, error) {
	tests, err := lowerRule(r, p.Family, &p.Ifaces)
	if err != nil {
		return nil, err
	}
	pr := &Rule{ID: len(p.Rules), Chain: c.ID, Index: index, Line: r.Line, Spec: r.Spec(p.Family), Tests: tests}
	switch tg := r.Target.(type) {
	case nil:
		pr.Kind = ActContinue
	case *translator.Standard:
		switch tg.Verdict {
		case translator.Accept:
			pr.Kind = ActAccept
		case translator.Drop:
			pr.Kind = ActDrop
		case translator.Return:
			pr.Kind = ActReturn
		}
	case *translator.Jump:
		pr.Kind, pr.Target = ActJump, p.ChainByName(tg.Chain).ID
	case *translator.Goto:
		pr.Kind, pr.Target = ActGoto, p.ChainByName(tg.Chain).ID
	default:
		return nil, fmt.Errorf("target `%s' is %w", tg.Name(), ErrNotInDatapath)
	}
	return pr, nil
}

// keyable fields may be looked up by hash.
func keyable(f Field) bool {
	switch f {
	case FieldSrc, FieldDst, FieldProto, FieldSport, FieldDport, FieldICMP,
		FieldTOS, FieldTTL, FieldMark, FieldPktType, FieldLen, FieldSrcMAC:
		return true
	}
	return false
}

func allOnes(b []byte) bool {
	for _, x := range b {
		if x != 0xff {
			return false
		}
	}
	return true
}

// isKey reports whether a test is an exact, uninverted test a hash can
// take as a key field.
func isKey(t Test) bool {
	return t.Op == OpEq && !t.Invert && !t.HotDrop && keyable(t.Field) && allOnes(t.Mask)
}

// prefixLen returns the prefix length of an address test that an LPM
// lookup can take, or -1.
func prefixLen(t Test) int {
	if t.Op != OpEq || t.Invert || t.HotDrop || (t.Field != FieldSrc && t.Field != FieldDst) {
		return -1
	}
	n := 0
	for n < 8*len(t.Mask) && bit(t.Mask, n) == 1 {
		n++
	}
	for i := n; i < 8*len(t.Mask); i++ {
		if bit(t.Mask, i) == 1 {
			return -1 // not contiguous
		}
	}
	return n
}

// testKey encodes a test for comparing tests of different rules.
func testKey(t Test) string {
	return fmt.Sprintf("%d/%d/%x/%x/%x/%x/%v/%d/%v/%v", t.Field, t.Op, t.Value, t.Mask, t.Lo, t.Hi, t.Ranges, t.Pattern, t.Invert, t.HotDrop)
}

// shape describes a rule with the key tests (hash) or the prefix test
// (LPM) blanked out: rules of one segment have one shape.
func shape(tests []Test, blank func(Test) bool) string {
	var b bytes.Buffer
	for _, t := range tests {
		if blank(t) {
			fmt.Fprintf(&b, "[%s]", t.Field)
		} else {
			b.WriteString(testKey(t))
		}
		b.WriteByte(';')
	}
	return b.String()
}

func segment(rules []*Rule, opts Options) []*Segment {
	var segs []*Segment
	var linear []*Rule
	flush := func() {
		if len(linear) > 0 {
			segs = append(segs, &Segment{Kind: Linear, Rules: linear})
			linear = nil
		}
	}
	for i := 0; i < len(rules); {
		var best *Segment
		if !opts.LinearOnly {
			h := hashRun(rules[i:])
			l := lpmRun(rules[i:])
			switch {
			case h != nil && (l == nil || len(h.Rules) >= len(l.Rules)):
				best = h
			case l != nil:
				best = l
			}
		}
		if best == nil || len(best.Rules) < opts.MinRun {
			linear = append(linear, rules[i])
			i++
			continue
		}
		flush()
		segs = append(segs, best)
		i += len(best.Rules)
	}
	flush()
	return segs
}

// hotDropSpan returns the positions of the first and last hot-drop tests.
func hotDropSpan(tests []Test) (first, last int) {
	first, last = -1, -1
	for i, t := range tests {
		if t.HotDrop {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

// hashRun returns the longest hash segment starting at rules[0], or nil.
func hashRun(rules []*Rule) *Segment {
	sh := shape(rules[0].Tests, isKey)
	n := 1
	for n < len(rules) && shape(rules[n].Tests, isKey) == sh {
		n++
	}
	run := rules[:n]
	// Key fields whose value is the same for the whole run are common
	// tests: they need not be in the key.
	var keyPos []int
	for i, t := range run[0].Tests {
		if !isKey(t) {
			continue
		}
		varies := false
		for _, r := range run[1:] {
			if !bytes.Equal(r.Tests[i].Value, t.Value) {
				varies = true
				break
			}
		}
		if varies {
			keyPos = append(keyPos, i)
		}
	}
	if len(keyPos) == 0 {
		return nil
	}
	first, last := hotDropSpan(run[0].Tests)
	for _, k := range keyPos {
		if first >= 0 && k > first && k < last {
			return nil // a key field between hot drops: no hash
		}
	}
	seg := &Segment{Kind: Hash}
	isKeyPos := map[int]bool{}
	for _, k := range keyPos {
		isKeyPos[k] = true
		seg.Key = append(seg.Key, run[0].Tests[k].Field)
		if first >= 0 && k < first {
			seg.PreKey = append(seg.PreKey, run[0].Tests[k].Field)
		}
	}
	for i, t := range run[0].Tests {
		if !isKeyPos[i] {
			seg.Common = append(seg.Common, t)
		}
	}
	seen := map[string]*Rule{}
	for _, r := range run {
		var key []byte
		for _, k := range keyPos {
			key = append(key, r.Tests[k].Value...)
		}
		if prev, dup := seen[string(key)]; dup {
			if !prev.Kind.Terminal() {
				break // the earlier rule goes on to this one: the run ends here
			}
			seg.Rules = append(seg.Rules, r) // never reached: no entry
			continue
		}
		seen[string(key)] = r
		seg.Rules = append(seg.Rules, r)
		seg.Entries = append(seg.Entries, Entry{Key: key, Rule: r})
	}
	return seg
}

// lpmRun returns the longest LPM segment starting at rules[0], or nil.
func lpmRun(rules []*Rule) *Segment {
	pos := -1
	for i, t := range rules[0].Tests {
		if prefixLen(t) >= 0 {
			if pos >= 0 {
				return nil // two prefix tests: not one field
			}
			pos = i
		}
	}
	if pos < 0 {
		return nil
	}
	field := rules[0].Tests[pos].Field
	sh := shape(rules[0].Tests, func(t Test) bool { return prefixLen(t) >= 0 })
	first, _ := hotDropSpan(rules[0].Tests)
	seg := &Segment{Kind: LPM, Key: []Field{field}}
	if first >= 0 && pos < first {
		seg.PreKey = []Field{field}
	}
	for i, t := range rules[0].Tests {
		if i != pos {
			seg.Common = append(seg.Common, t)
		}
	}
	trie := newPrefixTrie()
	for _, r := range rules {
		if shape(r.Tests, func(t Test) bool { return prefixLen(t) >= 0 }) != sh {
			break
		}
		t := r.Tests[pos]
		plen := prefixLen(t)
		if !trie.add(t.Value, plen, r) {
			break
		}
		seg.Rules = append(seg.Rules, r)
	}
	seg.Entries = trie.entries()
	return seg
}

// prefixTrie holds the prefixes of an LPM run, a binary trie by address
// bit. It keeps the run first-match: a rule that goes on after matching (no
// target, a jump) may overlap no other prefix of the run, since the packet
// would then have to go on to the other rule too.
type prefixTrie struct {
	root  trieNode
	count int
}

type trieNode struct {
	child [2]*trieNode
	rule  *Rule // the first rule with exactly this prefix, if any
	value []byte
	plen  int
	// below counts the prefixes at or below the node; goesOn those whose
	// rule is not terminal.
	below, goesOn int
}

func newPrefixTrie() *prefixTrie { return &prefixTrie{} }

func bit(b []byte, i int) int { return int(b[i/8]>>(7-i%8)) & 1 }

// add adds a rule's prefix, or reports false when the run must end before
// the rule.
func (t *prefixTrie) add(value []byte, plen int, r *Rule) bool {
	n := &t.root
	path := []*trieNode{n}
	for i := 0; i < plen; i++ {
		if n.rule != nil && !n.rule.Kind.Terminal() {
			return false // a shorter prefix that goes on contains this one
		}
		b := bit(value, i)
		if n.child[b] == nil {
			n.child[b] = &trieNode{}
		}
		n = n.child[b]
		path = append(path, n)
	}
	if n.goesOn > 0 {
		return false // this prefix contains, or is, one that goes on
	}
	if n.rule != nil {
		return true // the same prefix with an earlier terminal rule: never reached
	}
	if !r.Kind.Terminal() && n.below > 0 {
		return false // it goes on, and longer prefixes lie inside it
	}
	n.rule, n.value, n.plen = r, value, plen
	t.count++
	for _, p := range path {
		p.below++
		if !r.Kind.Terminal() {
			p.goesOn++
		}
	}
	return true
}

// entries returns one entry per prefix, carrying the first rule among the
// prefix and every prefix that contains it, in address order.
func (t *prefixTrie) entries() []Entry {
	es := make([]Entry, 0, t.count)
	var walk func(n *trieNode, best *Rule)
	walk = func(n *trieNode, best *Rule) {
		if n.rule != nil {
			if best == nil || n.rule.ID < best.ID {
				best = n.rule
			}
			es = append(es, Entry{Key: n.value, PrefixLen: n.plen, Rule: best})
		}
		for _, c := range n.child {
			if c != nil {
				walk(c, best)
			}
		}
	}
	walk(&t.root, nil)
	return es
}

// place decides which user chains run as programs of their own.
func (p *Plan) place() {
	for _, c := range p.Chains {
		linear := 0
		for _, s := range c.Segments {
			if s.Kind == Linear {
				linear += len(s.Rules)
			} else {
				linear++
			}
		}
		if linear > MaxFunctionRules && !c.Builtin {
			c.Program = true
		}
		for _, s := range c.Segments {
			if s.Kind == Linear {
				continue
			}
			for _, r := range s.Rules {
				if r.Kind == ActJump || r.Kind == ActGoto {
					p.Chains[r.Target].Program = true
				}
			}
		}
	}
	// Functions called from functions nest; past the depth limit the
	// callee becomes a program, which starts its own frames.
	var visit func(c *Chain, depth int)
	visit = func(c *Chain, depth int) {
		for _, r := range c.Rules {
			if r.Kind != ActJump && r.Kind != ActGoto {
				continue
			}
			callee := p.Chains[r.Target]
			if callee.Program {
				visit(callee, 1)
				continue
			}
			if depth+1 > MaxFunctionDepth {
				callee.Program = true
				visit(callee, 1)
				continue
			}
			visit(callee, depth+1)
		}
	}
	for _, c := range p.Chains {
		if c.Builtin {
			visit(c, 1)
		}
	}
}

// checkTailCalls bounds the number of chain programs a packet can enter
// from each hook: the kernel's tail-call limit.
func (p *Plan) checkTailCalls() error {
	memo := map[int]int{}
	var cost func(c *Chain) int
	cost = func(c *Chain) int {
		if v, ok := memo[c.ID]; ok {
			return v
		}
		total := 0
		for _, s := range c.Segments {
			worst := 0
			for _, r := range s.Rules {
				if r.Kind != ActJump && r.Kind != ActGoto {
					continue
				}
				callee := p.Chains[r.Target]
				n := cost(callee)
				if callee.Program {
					n++
				}
				if s.Kind == Linear {
					worst += n // every rule of a linear run can match
				} else if n > worst {
					worst = n // one lookup selects one rule
				}
			}
			total += worst
		}
		memo[c.ID] = total
		return total
	}
	for _, c := range p.Chains {
		if !c.Builtin {
			continue
		}
		if n := cost(c); n > MaxTailCalls {
			return fmt.Errorf("chain %s: a packet may enter %d user chains in a row (jumps that return, nested), more than the %d the kernel's tail-call limit allows the datapath: %w", c.Name, n, MaxTailCalls, ErrTooDeep)
		}
	}
	return nil
}
