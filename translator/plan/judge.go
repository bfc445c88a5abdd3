package plan

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/bpftables/bpftables/translator"
)

// Judgement is what a plan decides for one packet at one hook.
type Judgement struct {
	Verdict ActionKind // ActAccept or ActDrop
	// Counters are the counter slots the packet increments, in order:
	// every rule that matched, and the policy when it decided.
	Counters []int
	// Logs are the LOG and NFLOG rules (Plan.Logs) that logged the
	// packet, in order.
	Logs    []int
	HotDrop bool
}

// Judge runs the plan on a packet's field values the way the generated
// programs do: segment by segment, hash and LPM segments by lookup. It is
// the plan's own statement of its semantics; tests hold it to the
// evaluator, and the compiled programs to it.
func (p *Plan) Judge(hook translator.Hook, v Values) (Judgement, error) {
	id, ok := p.Entry[hook]
	if !ok {
		return Judgement{Verdict: ActAccept}, nil
	}
	var j Judgement
	c := p.Chains[id]
	verdict, err := p.runChain(c, v, &j, 0)
	if err != nil {
		return j, err
	}
	if verdict == ActContinue || verdict == ActReturn {
		verdict = c.Policy
		j.Counters = append(j.Counters, c.PolicyID)
	}
	j.Verdict = verdict
	return j, nil
}

// runChain returns ActAccept or ActDrop for a verdict, ActReturn or
// ActContinue when the chain returns.
func (p *Plan) runChain(c *Chain, v Values, j *Judgement, depth int) (ActionKind, error) {
	if depth > len(p.Chains) {
		return 0, fmt.Errorf("chain %s: jumps nest deeper than there are chains", c.Name)
	}
	for _, s := range c.Segments {
		if s.Kind == BitVector {
			res, done, err := p.runBitVector(s, v, j, depth)
			if err != nil || done {
				return res, err
			}
			continue
		}
		rules, drop := s.candidates(v)
		if drop {
			j.HotDrop = true
			return ActDrop, nil
		}
		for _, r := range rules {
			ok, hot := testsHold(r.Tests, v)
			if hot {
				j.HotDrop = true
				return ActDrop, nil
			}
			if !ok {
				continue
			}
			j.Counters = append(j.Counters, r.ID)
			switch r.Kind {
			case ActContinue:
				continue
			case ActLog:
				j.Logs = append(j.Logs, r.Log)
				continue
			case ActAccept, ActDrop:
				return r.Kind, nil
			case ActReject:
				return ActDrop, nil
			case ActReturn:
				return ActReturn, nil
			case ActJump, ActGoto:
				res, err := p.runChain(p.Chains[r.Target], v, j, depth+1)
				if err != nil || res == ActAccept || res == ActDrop {
					return res, err
				}
				if r.Kind == ActGoto {
					return ActReturn, nil
				}
			}
			if s.Kind != Linear {
				break // one lookup selects at most one rule
			}
		}
	}
	return ActContinue, nil
}

// runBitVector runs a bit-vector segment as its programs do: the first set
// bit of the match or hot-drop vector from the start position, then, after
// a rule that goes on, the next one after it. The rules' tests are not
// run again: the bitmaps alone decide, so that the evaluator holds them to
// account. done is false when the chain goes on after the segment.
func (p *Plan) runBitVector(s *Segment, v Values, j *Judgement, depth int) (res ActionKind, done bool, err error) {
	for start := 0; ; {
		pos, hot := s.BV.Scan(v, start)
		switch {
		case pos < 0:
			return ActContinue, false, nil
		case hot:
			j.HotDrop = true
			return ActDrop, true, nil
		}
		r := s.Rules[pos]
		j.Counters = append(j.Counters, r.ID)
		switch r.Kind {
		case ActAccept, ActDrop, ActReturn:
			return r.Kind, true, nil
		case ActJump, ActGoto:
			res, err := p.runChain(p.Chains[r.Target], v, j, depth+1)
			if err != nil || res == ActAccept || res == ActDrop {
				return res, true, err
			}
			if r.Kind == ActGoto {
				return ActReturn, true, nil
			}
		}
		start = pos + 1
	}
}

// candidates returns the rules of a segment to test against the packet, in
// order, or reports a hot drop. A linear segment offers all its rules; a
// hash or LPM segment the one its lookup selects, after its common tests.
func (s *Segment) candidates(v Values) ([]*Rule, bool) {
	if s.Kind == Linear {
		return s.Rules, false
	}
	// A packet a hot-drop test of the segment catches is dropped if some
	// rule of the segment reaches that test: its earlier tests pass.
	if hotDropHolds(s.Common, v) {
		for _, r := range s.Rules {
			if _, hot := testsHold(r.Tests, v); hot {
				return nil, true
			}
		}
		return nil, false
	}
	for _, t := range s.Common {
		if !t.HotDrop && !t.holds(v) {
			return nil, false
		}
	}
	e, ok := s.lookup(v)
	if !ok {
		return nil, false
	}
	return []*Rule{e.Rule}, false
}

// lookup finds the entry for the packet: the exact key for Hash, the
// longest prefix for LPM.
func (s *Segment) lookup(v Values) (Entry, bool) {
	if s.Kind == Hash {
		var key []byte
		for _, f := range s.Key {
			key = append(key, v[f]...)
		}
		for _, e := range s.Entries {
			if bytes.Equal(e.Key, key) {
				return e, true
			}
		}
		return Entry{}, false
	}
	addr := v[s.Key[0]]
	best, found := Entry{}, false
	for _, e := range s.Entries {
		if contains(e.Key, e.PrefixLen, addr) && (!found || e.PrefixLen > best.PrefixLen) {
			best, found = e, true
		}
	}
	return best, found
}

// contains reports whether the prefix value/plen contains addr.
func contains(value []byte, plen int, addr []byte) bool {
	for i := 0; i < plen; i++ {
		if bit(value, i) != bit(addr, i) {
			return false
		}
	}
	return true
}

func hotDropHolds(tests []Test, v Values) bool {
	for _, t := range tests {
		if t.HotDrop && t.cond(v) {
			return true
		}
	}
	return false
}

// testsHold runs a rule's tests in order: ok when all hold, hot when a
// hot-drop test held first.
func testsHold(tests []Test, v Values) (ok, hot bool) {
	for _, t := range tests {
		if t.HotDrop {
			if t.cond(v) {
				return false, true
			}
			continue
		}
		if !t.holds(v) {
			return false, false
		}
	}
	return true, false
}

// holds is the test's condition with its inversion applied.
func (t Test) holds(v Values) bool { return t.cond(v) != t.Invert }

// cond is the test's condition before inversion.
func (t Test) cond(v Values) bool {
	x := v[t.Field]
	switch t.Op {
	case OpEq:
		for i := range x {
			if x[i]&t.Mask[i] != t.Value[i] {
				return false
			}
		}
		return true
	case OpRange:
		return bytes.Compare(t.Lo, x) <= 0 && bytes.Compare(x, t.Hi) <= 0
	case OpSet:
		return inRanges(binary.BigEndian.Uint16(x), t.Ranges)
	case OpSetEither:
		return inRanges(binary.BigEndian.Uint16(v[FieldSport]), t.Ranges) || inRanges(binary.BigEndian.Uint16(v[FieldDport]), t.Ranges)
	case OpIface:
		return binary.BigEndian.Uint64(x)&(1<<t.Pattern) != 0
	case OpRandom, OpNth:
		return t.statCond()
	case OpLimit:
		return t.limitCond()
	}
	return false
}

func inRanges(x uint16, rs [][2]uint16) bool {
	for _, r := range rs {
		if r[0] <= x && x <= r[1] {
			return true
		}
	}
	return false
}
