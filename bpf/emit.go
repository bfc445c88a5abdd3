package bpf

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// emitter builds one program's instructions. Labels are symbols on
// instructions, unique within the program.
type emitter struct {
	// The instructions, in chunks that fill up and are never copied: one
	// growing slice copied a large program's instructions some five
	// times over (append grows large slices by a quarter).
	chunks  []asm.Instructions
	cur     asm.Instructions
	pending []string // labels waiting for the next instruction
	n       int
}

// maxChunk bounds an emitter's chunks: 1 MiB of instructions.
const maxChunk = 1 << 14

// add appends one instruction.
func (e *emitter) add(in asm.Instruction) {
	if len(e.cur) == cap(e.cur) {
		if e.cur != nil {
			e.chunks = append(e.chunks, e.cur)
		}
		e.cur = make(asm.Instructions, 0, min(max(16, 2*cap(e.cur)), maxChunk))
	}
	e.cur = append(e.cur, in)
}

// instructions returns the program's instructions.
func (e *emitter) instructions() asm.Instructions {
	n := len(e.cur)
	for _, c := range e.chunks {
		n += len(c)
	}
	out := make(asm.Instructions, 0, n)
	for _, c := range e.chunks {
		out = append(out, c...)
	}
	return append(out, e.cur...)
}

// newLabel returns a label unique within the program.
func (e *emitter) newLabel(prefix string) string {
	e.n++
	return prefix + "_" + strconv.Itoa(e.n)
}

// emit appends instructions; pending labels go on the first.
func (e *emitter) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if len(e.pending) > 0 {
			// More than one label at one place: all but the last get a
			// no-op jump of their own.
			for _, l := range e.pending[:len(e.pending)-1] {
				e.add(asm.Ja.Label(e.pending[len(e.pending)-1]).WithSymbol(l))
			}
			in = in.WithSymbol(e.pending[len(e.pending)-1])
			e.pending = e.pending[:0]
		}
		e.add(in)
	}
}

// mark places a label at the next instruction.
func (e *emitter) mark(label string) { e.pending = append(e.pending, label) }

// Parameters of generated functions.
type param uint8

const (
	paramCtx  param = iota // the program's context
	paramPkt               // the packet context (struct pkt *, checked for NULL)
	paramSlot              // an int: a program array slot
)

// function starts a global BPF function: the verifier checks a global
// function once, whatever calls it, where a static one is checked again
// at every call site - which multiplies with nested chains. Its BTF
// prototype types the context (the kind's context struct) and the packet
// context (a sized struct pointer, which the function must check for
// NULL).
func (e *emitter) function(name string, k Kind, params ...param) {
	e.mark(name)
	fn := &btf.Func{Name: name, Linkage: btf.GlobalFunc, Type: funcProto(k, params)}
	ins := asm.Mov.Reg(asm.R0, asm.R1)
	if len(e.pending) > 0 {
		for _, l := range e.pending[:len(e.pending)-1] {
			e.add(asm.Ja.Label(e.pending[len(e.pending)-1]).WithSymbol(l))
		}
		ins = ins.WithSymbol(e.pending[len(e.pending)-1])
		e.pending = e.pending[:0]
	}
	e.add(btf.WithFuncMetadata(ins, fn))
}

// funcProtos are the prototypes of generated functions, made once: a
// generation of thousands of chain programs has thousands of functions
// of a few prototypes.
var funcProtos sync.Map // protoKey -> *btf.FuncProto

type protoKey struct {
	k      Kind
	params string
}

// funcProto returns the BTF prototype of a function of the kind with
// the parameters: it returns an int.
func funcProto(k Kind, params []param) *btf.FuncProto {
	key := protoKey{k, string(params)}
	if fp, ok := funcProtos.Load(key); ok {
		return fp.(*btf.FuncProto)
	}
	fp := &btf.FuncProto{Return: btfInt}
	for i, p := range params {
		var t btf.Type
		switch p {
		case paramCtx:
			t = &btf.Pointer{Target: k.ctxType()}
		case paramPkt:
			t = &btf.Pointer{Target: btfPkt}
		default:
			t = btfInt
		}
		fp.Params = append(fp.Params, btf.FuncParam{Name: fmt.Sprintf("a%d", i), Type: t})
	}
	got, _ := funcProtos.LoadOrStore(key, fp)
	return got.(*btf.FuncProto)
}

var (
	btfInt = &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	// btfPkt is the packet context as the verifier sees it: 96 bytes.
	btfPkt = &btf.Struct{Name: "pkt", Size: pktSize, Members: []btf.Member{{
		Name: "b", Type: &btf.Array{Type: &btf.Int{Name: "unsigned char", Size: 1}, Index: btfInt, Nelems: pktSize},
	}}}
	btfSkb = &btf.Struct{Name: "__sk_buff"}
	btfXDP = &btf.Struct{Name: "xdp_md"}
)

// ctxType is the context struct the verifier expects for the kind.
func (k Kind) ctxType() btf.Type {
	if k == XDP {
		return btfXDP
	}
	return btfSkb
}

// ret returns a constant from the current function.
func (e *emitter) ret(v int32) {
	e.emit(asm.Mov.Imm(asm.R0, v), asm.Return())
}

// prune removes instructions no path reaches: the verifier refuses
// unreachable code, and rules after an unconditional verdict (or functions
// nothing calls) are such code. It works in place.
func prune(insns asm.Instructions) asm.Instructions {
	at := make(map[string]int, len(insns)/4)
	for i, ins := range insns {
		if s := ins.Symbol(); s != "" {
			at[s] = i
		}
	}
	reached := make([]bool, len(insns))
	work := []int{0}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		for i < len(insns) && !reached[i] {
			reached[i] = true
			ins := insns[i]
			op := ins.OpCode.JumpOp()
			if ins.OpCode.Class().IsJump() {
				switch {
				case op == asm.Exit:
					i = len(insns)
					continue
				case op == asm.Ja:
					work = append(work, at[ins.Reference()])
					i = len(insns)
					continue
				case ins.IsFunctionCall():
					work = append(work, at[ins.Reference()])
				case op != asm.Call:
					work = append(work, at[ins.Reference()])
				}
			}
			i++
		}
	}
	out := insns[:0]
	for i, ins := range insns {
		if reached[i] {
			out = append(out, ins)
		}
	}
	return out
}
