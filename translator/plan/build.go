package plan

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/bpftables/bpftables/translator"
)

// Options tune how chains are segmented.
type Options struct {
	// MinRun is the shortest run of rules worth a hash or LPM lookup; zero
	// means DefaultMinRun. Below it straight-line code is faster.
	MinRun int
	// LinearOnly builds only linear segments (for tests and comparisons).
	LinearOnly bool
	// NoBitVector builds no bit-vector segments (for comparisons).
	NoBitVector bool
	// BVMinRun is the shortest run of rules worth a bit-vector segment;
	// zero means DefaultBVMinRun.
	BVMinRun int
	// BVChunk is how many rules of a bit-vector segment share bitmaps;
	// zero means DefaultBVChunk. It is rounded up to a multiple of 64.
	BVChunk int
	// BlockTests bounds what one function of the datapath checks in a
	// row, in tests of linear rules (roughly their comparisons; a lookup
	// or bit-vector segment weighs a few); zero means DefaultBlockTests.
	// A longer chain is cut into blocks of at most this weight, each a
	// function of its own (see Segment.Block).
	BlockTests int
}

// DefaultMinRun is the default MinRun.
const DefaultMinRun = 4

// MaxTailCalls is how many chain programs one packet may enter: the
// kernel allows 33 tail calls, and the hook program's call into the
// generation takes one.
const MaxTailCalls = 32

// DefaultBlockTests is the default BlockTests. The verifier keeps a
// branch of each comparison pending until it reaches the end of the
// function and gives up past 8192 (Linux 6.18: "The sequence of 8193
// jumps is too complex", as EFAULT), and its time on a function grows
// with the square of its length (it recomputes the liveness of the
// whole function at each branch it finishes). A packet pays a call and
// return per block it passes, about 8 ns on the machine measured against
// some 1 ns a rule: 1024 keeps that near 2% for rules of two tests.
const DefaultBlockTests = 1024

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
	if opts.BVMinRun == 0 {
		opts.BVMinRun = DefaultBVMinRun
	}
	if opts.BVChunk == 0 {
		opts.BVChunk = DefaultBVChunk
	}
	if opts.BlockTests <= 0 {
		opts.BlockTests = DefaultBlockTests
	}
	opts.BVChunk = (opts.BVChunk + 63) &^ 63
	t := rs.Table(table)
	if t == nil {
		var err error
		if t, err = translator.NewTable(table); err != nil {
			return nil, err
		}
	}
	p := &Plan{Family: rs.Family, Table: table, Entry: map[translator.Hook]int{}}
	chains := t.SortedChains()
	p.byName = make(map[string]*Chain, len(chains))
	for _, c := range chains {
		pc := &Chain{ID: len(p.Chains), Name: c.Name, Builtin: c.Builtin, Hook: c.Hook}
		p.byName[c.Name] = pc
		if c.Builtin {
			pc.Policy = ActAccept
			if c.Policy == translator.PolicyDrop {
				pc.Policy = ActDrop
			}
			p.Entry[c.Hook] = pc.ID
		}
		p.Chains = append(p.Chains, pc)
	}
	var slab testSlab
	for i, c := range chains {
		pc := p.Chains[i]
		for j, r := range c.Rules {
			pr, err := p.lower(pc, j+1, r, &slab)
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
		c.Segments = cutBlocks(segment(c.Rules, opts, p.Family), opts.BlockTests)
	}
	if len(p.Ifaces) > 64 {
		return nil, fmt.Errorf("the rules name %d interface patterns; the datapath handles 64", len(p.Ifaces))
	}
	p.place()
	if err := p.fitFunctions(opts.BlockTests); err != nil {
		return nil, err
	}
	if err := p.checkTailCalls(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Plan) lower(c *Chain, index int, r *translator.Rule, slab *testSlab) (*Rule, error) {
	tests, err := lowerRule(r, p.Family, &p.Ifaces, &p.nth, &p.limits, slab)
	if err != nil {
		return nil, err
	}
	pr := &Rule{ID: len(p.Rules), Chain: c.ID, Index: index, Line: r.Line, Source: r, Tests: tests}
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
	case Logger:
		pr.Kind, pr.Log = ActLog, len(p.Logs)
		p.Logs = append(p.Logs, tg.LogSpec())
	case Rejecter:
		pr.Kind, pr.Target = ActReject, int(tg.RejectCode())
		if tg.TCPReset() {
			pr.Target = RejectReset
		}
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

// appendTest encodes a test, to compare the tests of different rules.
func appendTest(b []byte, t Test) []byte {
	b = append(b, byte(t.Field), byte(t.Op), byte(t.Pattern), byte(t.Pattern>>8))
	flags := byte(0)
	if t.Invert {
		flags |= 1
	}
	if t.HotDrop {
		flags |= 2
	}
	b = append(b, flags)
	for _, v := range [][]byte{t.Value, t.Mask, t.Lo, t.Hi} {
		b = append(b, byte(len(v)))
		b = append(b, v...)
	}
	b = append(b, byte(len(t.Ranges)), byte(len(t.Ranges)>>8))
	for _, r := range t.Ranges {
		b = append(b, byte(r[0]>>8), byte(r[0]), byte(r[1]>>8), byte(r[1]))
	}
	return b
}

// appendShape appends a rule's shape: its tests with the key tests
// (hash) or the prefix test (LPM) blanked out. Rules of one segment have
// one shape.
func appendShape(b []byte, tests []Test, blank func(Test) bool) []byte {
	for _, t := range tests {
		if blank(t) {
			b = append(b, 0xff, byte(t.Field))
		} else {
			b = appendTest(b, t)
		}
	}
	return b
}

// shapes number the hash and LPM shapes of a chain's rules, computed
// once: neighbours of equal shapes have equal numbers, so a run of rules
// of one shape has one number. (Rules apart with equal shapes may have
// different numbers: every use compares rules of one run, or asks
// whether a run could reach a rule, which it cannot past another shape.)
// An LPM shape of 0 is a rule without a single prefix test.
type shapes struct {
	hash, lpm []int32
}

func newShapes(rules []*Rule) shapes {
	sh := shapes{hash: make([]int32, len(rules)), lpm: make([]int32, len(rules))}
	isPrefix := func(t Test) bool { return prefixLen(t) >= 0 }
	var hash, prevHash, lpm, prevLPM []byte
	var hashID, lpmID int32
	after := false // the rule before was stateful: a new shape starts
	for i, r := range rules {
		if stateful(r) {
			// a rule of its own shape, which no lookup takes
			hashID++
			sh.hash[i] = hashID
			after = true
			continue
		}
		hash = appendShape(hash[:0], r.Tests, isKey)
		if i == 0 || after || !bytes.Equal(hash, prevHash) || r.Kind == ActReject || rules[i-1].Kind == ActReject {
			hashID++
		}
		after = false
		sh.hash[i] = hashID
		hash, prevHash = prevHash, hash
		n := 0
		for _, t := range r.Tests {
			if isPrefix(t) {
				n++
			}
		}
		if n != 1 || r.Kind == ActReject {
			continue // REJECT runs as linear code only
		}
		lpm = appendShape(lpm[:0], r.Tests, isPrefix)
		if i == 0 || sh.lpm[i-1] == 0 || !bytes.Equal(lpm, prevLPM) {
			lpmID++
		}
		sh.lpm[i] = lpmID
		lpm, prevLPM = prevLPM, lpm
	}
	return sh
}

func segment(rules []*Rule, opts Options, fam translator.Family) []*Segment {
	// A LOG rule stands in a linear segment of its own: the lookups and
	// bit-vector scans select rules that end the chain or jump, and
	// logging is neither. The rules between LOG rules are cut up as ever.
	for i, r := range rules {
		if r.Kind == ActLog {
			segs := segment(rules[:i], opts, fam)
			segs = append(segs, &Segment{Kind: Linear, Rules: rules[i : i+1]})
			return append(segs, segment(rules[i+1:], opts, fam)...)
		}
	}
	return segmentRun(rules, opts, fam)
}

// segmentRun cuts a run of rules without LOG rules into segments.
func segmentRun(rules []*Rule, opts Options, fam translator.Family) []*Segment {
	var segs []*Segment
	var linear []*Rule
	flush := func() {
		if len(linear) > 0 {
			segs = append(segs, &Segment{Kind: Linear, Rules: linear})
			linear = nil
		}
	}
	var sh shapes
	var bvs *bvRuns
	if !opts.LinearOnly {
		sh = newShapes(rules)
		if !opts.NoBitVector {
			bvs = newBVRuns(rules, fam, opts.MinRun, sh)
		}
	}
	for i := 0; i < len(rules); {
		if stateful(rules[i]) {
			linear = append(linear, rules[i])
			i++
			continue
		}
		var h, l *Segment
		if !opts.LinearOnly {
			h = hashRun(rules[i:], sh.hash[i:])
			// An LPM run can only be longer than a hash run that stops at
			// a rule of the same LPM shape.
			if h == nil || len(h.Rules) < opts.MinRun || i+len(h.Rules) < len(rules) && sh.lpm[i] != 0 && sh.lpm[i] == sh.lpm[i+len(h.Rules)] {
				l = lpmRun(rules[i:], sh.lpm[i:])
			}
		}
		if bvs != nil {
			// Prefer the bit-vector unless a hash or LPM run covers most
			// of it, or is long enough to stand alone: its length matters
			// only then.
			best, jumps := 0, false
			for _, s := range []*Segment{h, l} {
				if s != nil && len(s.Rules) > best {
					best = len(s.Rules)
					jumps = false
					for _, r := range s.Rules {
						jumps = jumps || r.Kind == ActJump || r.Kind == ActGoto
					}
				}
			}
			if best < opts.MinRun || best < BVYield && !jumps {
				if n := bvs.length(i); n >= opts.BVMinRun && (best < opts.MinRun || best < n/2) {
					flush()
					segs = append(segs, &Segment{Kind: BitVector, Rules: rules[i : i+n], BV: buildBitVector(rules[i:i+n], bvs.lows(i, i+n), fam, opts.BVChunk)})
					i += n
					continue
				}
			}
		}
		var best *Segment
		switch {
		case h != nil && (l == nil || len(h.Rules) >= len(l.Rules)):
			best = h
		case l != nil:
			best = l
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

// hashRun returns the longest hash segment starting at rules[0], or nil;
// sh are the rules' hash shapes.
func hashRun(rules []*Rule, sh []int32) *Segment {
	n := 1
	for n < len(rules) && sh[n] == sh[0] {
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

// lpmPrefix is one rule's prefix in an LPM run.
type lpmPrefix struct {
	value []byte
	plen  int
	idx   int // position in the run
	rule  *Rule
}

// lpmRun returns the longest LPM segment starting at rules[0], or nil;
// sh are the rules' LPM shapes.
func lpmRun(rules []*Rule, sh []int32) *Segment {
	if sh[0] == 0 {
		return nil
	}
	pos := 0
	for i, t := range rules[0].Tests {
		if prefixLen(t) >= 0 {
			pos = i
		}
	}
	field := rules[0].Tests[pos].Field
	var cands []lpmPrefix
	for i, r := range rules {
		if i > 0 && sh[i] != sh[0] {
			break
		}
		t := r.Tests[pos]
		cands = append(cands, lpmPrefix{value: t.Value, plen: prefixLen(t), idx: i, rule: r})
	}
	// Prefixes either nest or are disjoint. Longest-prefix lookup is
	// first-match only while no rule that goes on after matching (no
	// target, a jump) nests with another: the run ends at the later rule of
	// the first such pair.
	end := len(cands)
	sweepPrefixes(cands, func(p lpmPrefix, minAll, minGoesOn int) {
		v := -1
		switch {
		case !p.rule.Kind.Terminal() && minAll >= 0:
			v = max(p.idx, minAll)
		case minGoesOn >= 0:
			v = max(p.idx, minGoesOn)
		}
		if v >= 0 && v < end {
			end = v
		}
	})
	if end == 0 {
		return nil
	}
	run := cands[:end]
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
	for _, p := range run {
		seg.Rules = append(seg.Rules, p.rule)
	}
	// Each distinct prefix selects the first rule among it and the
	// prefixes that contain it; a repeated prefix is never reached.
	seen := map[string]bool{}
	sweepPrefixes(run, func(p lpmPrefix, minAll, _ int) {
		k := string(p.value) + string(rune(p.plen))
		if seen[k] {
			return // the same prefix again: never reached
		}
		seen[k] = true
		best := p.rule
		if minAll >= 0 && run[minAll].idx < p.idx {
			best = run[minAll].rule
		}
		seg.Entries = append(seg.Entries, Entry{Key: p.value, PrefixLen: p.plen, Rule: best})
	})
	return seg
}

// sweepPrefixes visits the prefixes in address order, each after the ones
// that contain it, and tells for each the smallest run position among the
// prefixes containing it (-1 for none), in all and among rules that go on
// after matching.
func sweepPrefixes(ps []lpmPrefix, visit func(p lpmPrefix, minAll, minGoesOn int)) {
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		pa, pb := ps[order[a]], ps[order[b]]
		if c := bytes.Compare(pa.value, pb.value); c != 0 {
			return c < 0
		}
		return pa.plen < pb.plen
	})
	type open struct {
		p                 lpmPrefix
		minAll, minGoesOn int // over this prefix and those containing it
	}
	var stack []open
	for _, i := range order {
		p := ps[i]
		for len(stack) > 0 && !containsPrefix(stack[len(stack)-1].p, p) {
			stack = stack[:len(stack)-1]
		}
		minAll, minGoesOn := -1, -1
		if len(stack) > 0 {
			minAll, minGoesOn = stack[len(stack)-1].minAll, stack[len(stack)-1].minGoesOn
		}
		visit(p, minAll, minGoesOn)
		o := open{p: p, minAll: minAll, minGoesOn: minGoesOn}
		if o.minAll < 0 || p.idx < o.minAll {
			o.minAll = p.idx
		}
		if !p.rule.Kind.Terminal() && (o.minGoesOn < 0 || p.idx < o.minGoesOn) {
			o.minGoesOn = p.idx
		}
		stack = append(stack, o)
	}
}

func bit(b []byte, i int) int { return int(b[i/8]>>(7-i%8)) & 1 }

// containsPrefix reports whether prefix a contains (or equals) b.
func containsPrefix(a, b lpmPrefix) bool {
	if a.plen > b.plen {
		return false
	}
	for i := 0; i < a.plen; i++ {
		if bit(a.value, i) != bit(b.value, i) {
			return false
		}
	}
	return true
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
			// a bit-vector calls its jumps' targets as linear code does,
			// choosing among them by the target the matched rule names
			if s.Kind == Linear || s.Kind == BitVector {
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
	// callee becomes a program, which starts its own frames. A block is a
	// function between its chain's and the chains its rules call, and a
	// chain with blocks needs the frame below its own for them.
	// A chain reached again at the same depth marks nothing new (marks
	// are only ever added): without the memo, chains that jump to the same
	// chains by several rules are walked once per path, exponentially.
	type visitKey struct{ chain, depth int }
	seen := map[visitKey]bool{}
	var visit func(c *Chain, depth int)
	visit = func(c *Chain, depth int) {
		k := visitKey{c.ID, depth}
		if seen[k] {
			return
		}
		seen[k] = true
		for _, s := range c.Segments {
			at := depth
			if s.Block > 0 {
				at++
			}
			for _, r := range s.Rules {
				if r.Kind != ActJump && r.Kind != ActGoto {
					continue
				}
				callee := p.Chains[r.Target]
				if callee.Program {
					visit(callee, 1)
					continue
				}
				need := at + 1
				if callee.Blocks() > 0 {
					need++
				}
				if need > MaxFunctionDepth {
					callee.Program = true
					visit(callee, 1)
					continue
				}
				visit(callee, at+1)
			}
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
				if s.Kind == Linear || s.Kind == BitVector {
					worst += n // every rule of the run can match
				} else if n > worst {
					worst = n // one lookup selects one rule
				}
			}
			total += worst
		}
		total = min(total, MaxTailCalls+1) // more is as bad, and would overflow
		memo[c.ID] = total
		return total
	}
	for _, c := range p.Chains {
		if !c.Builtin {
			continue
		}
		if cost(c) > MaxTailCalls {
			return fmt.Errorf("chain %s: a packet may enter more than %d user chains in a row (jumps that return, nested), more than the kernel's tail-call limit allows the datapath: %w", c.Name, MaxTailCalls, ErrTooDeep)
		}
	}
	return nil
}
