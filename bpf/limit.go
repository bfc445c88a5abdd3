package bpf

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/bpftables/bpftables/translator/plan"
)

// mapLimit holds the limit match's buckets: per test, the jiffies of its
// last packet (0 before the first) and its credit, shared by all CPUs.
const mapLimit = "limit"

// limitAttempts bounds the compare-and-exchange retries of a bucket
// update. The kernel retries until it wins; the verifier wants a bound.
// Losing four races in a row to other CPUs updating the same bucket at
// the same instant does not happen on the machines bpftables runs on; if
// it did, the packet would not match (as when the bucket is empty).
const limitAttempts = 4

// Offsets in a limit map value.
const (
	limitPrev   = 0 // u64: jiffies of the last update, 0 before the first packet
	limitCredit = 8 // u32: the credit
	limitValue  = 16
)

// KernelHZ returns the running kernel's tick rate (CONFIG_HZ), which the
// limit match's arithmetic depends on: it counts time in jiffies
// (bpf_jiffies64). It reads the kernel's configuration from
// /proc/config.gz or /boot/config-RELEASE.
var KernelHZ = sync.OnceValues(func() (uint32, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return 0, err
	}
	release := unix.ByteSliceToString(uts.Release[:])
	read := func(name string, gz bool) (uint32, error) {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		var r io.Reader = f
		if gz {
			if r, err = gzip.NewReader(f); err != nil {
				return 0, err
			}
		}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
				hz, err := strconv.ParseUint(v, 10, 32)
				if err != nil || hz == 0 {
					return 0, fmt.Errorf("%s: CONFIG_HZ=%s", name, v)
				}
				return uint32(hz), nil
			}
		}
		return 0, fmt.Errorf("%s: no CONFIG_HZ", name)
	}
	hz, err := read("/proc/config.gz", true)
	if err == nil {
		return hz, nil
	}
	if hz, err2 := read("/boot/config-"+release, false); err2 == nil {
		return hz, nil
	}
	return 0, fmt.Errorf("the kernel's tick rate (CONFIG_HZ), which the limit match counts in, is in neither /proc/config.gz nor /boot/config-%s: %w", release, err)
})

// limitMap returns the spec of the plan's limit buckets, every one full.
func limitMap(p *plan.Plan, hz uint32) *ebpf.MapSpec {
	m := &ebpf.MapSpec{Name: mapLimit, Type: ebpf.Array, KeySize: 4, ValueSize: limitValue, MaxEntries: uint32(p.LimitSlots())}
	for _, r := range p.Rules {
		for _, t := range r.Tests {
			if t.Op != plan.OpLimit {
				continue
			}
			_, _, capacity := plan.LimitCredits(t.Lim.Avg, t.Lim.Burst, hz)
			v := make([]byte, limitValue)
			binary.NativeEndian.PutUint32(v[limitCredit:], capacity)
			m.Contents = append(m.Contents, ebpf.MapKV{Key: uint32(t.Lim.Slot), Value: v})
		}
	}
	return m
}

// limit emits limit_mt: falls through when the rule's bucket had a
// credit to take, jumps to onFalse when not. It is the kernel's loop:
// the time since the last update (exchanged for now) adds credit, capped
// at the burst; a match takes the cost; the credit is written back if no
// other CPU changed it meanwhile, else it starts over with the credit
// gained so far. A bucket's first packet (prev 0) finds it full, as the
// kernel's bucket is when the rule is loaded and stays while unused.
// r8 holds the bucket, r9 the credit gained; the helper keeps both.
func (g *gen) limit(e *emitter, t plan.Test, onFalse string) {
	perJiffy, cost, capacity := plan.LimitCredits(t.Lim.Avg, t.Lim.Burst, g.hz)
	slow, done := e.newLabel("lslow"), e.newLabel("ldone")
	e.emit(asm.StoreImm(asm.R10, stackCounterKey, int64(t.Lim.Slot), asm.Word))
	mapLookup(e, mapLimit, stackCounterKey)
	e.emit(
		asm.JEq.Imm(asm.R0, 0, onFalse),
		asm.Mov.Reg(asm.R8, asm.R0),
		// the fast path: nothing to gain and nothing to take
		asm.LoadMem(asm.R1, asm.R8, limitCredit, asm.Word),
		asm.JGE.Imm32(asm.R1, int32(cost), slow),
		asm.FnJiffies64.Call(),
		asm.LoadMem(asm.R1, asm.R8, limitPrev, asm.DWord),
		asm.JEq.Reg(asm.R0, asm.R1, onFalse),
	)
	e.mark(slow)
	e.emit(asm.Mov.Imm(asm.R9, 0))
	for i := 0; i < limitAttempts; i++ {
		first, capped, nomatch := e.newLabel("lfirst"), e.newLabel("lcap"), e.newLabel("lno")
		e.emit(
			asm.FnJiffies64.Call(),
			asm.Mov.Reg(asm.R2, asm.R0),
			asm.Mov.Reg(asm.R1, asm.R0),
			atomicMem(asm.Xchg, asm.R8, asm.R1, asm.DWord, limitPrev),
			asm.JEq.Imm(asm.R1, 0, first),
			asm.Sub.Reg(asm.R2, asm.R1),
			asm.Mul.Imm(asm.R2, int32(perJiffy)),
			asm.Add.Reg32(asm.R9, asm.R2),
		)
		e.mark(first)
		e.emit(
			asm.LoadMem(asm.R0, asm.R8, limitCredit, asm.Word),
			asm.Mov.Reg32(asm.R5, asm.R0),
			asm.Mov.Reg32(asm.R3, asm.R0),
			asm.Add.Reg32(asm.R3, asm.R9),
			asm.JLE.Imm32(asm.R3, int32(capacity), capped),
			asm.Mov.Imm32(asm.R3, int32(capacity)),
		)
		e.mark(capped)
		e.emit(
			asm.Mov.Imm(asm.R4, 0),
			asm.JLT.Imm32(asm.R3, int32(cost), nomatch),
			asm.Sub.Imm32(asm.R3, int32(cost)),
			asm.Mov.Imm(asm.R4, 1),
		)
		e.mark(nomatch)
		e.emit(
			atomicMem(asm.CmpXchg, asm.R8, asm.R3, asm.Word, limitCredit),
			asm.JEq.Reg32(asm.R0, asm.R5, done),
		)
	}
	e.emit(asm.Ja.Label(onFalse))
	e.mark(done)
	e.emit(asm.JEq.Imm(asm.R4, 0, onFalse))
}
