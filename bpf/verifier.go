package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// LoadError is the kernel's refusal of a program: which program, the
// chains it holds, and the verifier's reason.
type LoadError struct {
	// Program names the program ("entry_tc", "c3_tc", a hook program).
	Program string
	// Chains are the chains the program holds, if it is a generation's.
	Chains []string
	// Reason is the verifier's last message, or the error's text when
	// the verifier left none.
	Reason string
	// Log holds the last lines of the verifier's log, Reason last but
	// for its statistics.
	Log []string
	// Err is the error loading returned.
	Err error
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the kernel refused program %s", e.Program)
	switch n := len(e.Chains); {
	case n == 1:
		fmt.Fprintf(&b, " (chain %s)", e.Chains[0])
	case n > maxChainNames:
		fmt.Fprintf(&b, " (chains %s and %d more)", strings.Join(e.Chains[:maxChainNames], ", "), n-maxChainNames)
	case n > 1:
		fmt.Fprintf(&b, " (chains %s)", strings.Join(e.Chains, ", "))
	}
	fmt.Fprintf(&b, ": %s", e.Reason)
	if len(e.Log) > 1 {
		b.WriteString("\nthe verifier's log ends:")
		for _, l := range e.Log {
			b.WriteString("\n\t")
			b.WriteString(strings.TrimSpace(l))
		}
	}
	return b.String()
}

func (e *LoadError) Unwrap() error { return e.Err }

// maxChainNames is how many of its chains a LoadError names.
const maxChainNames = 8

// logLines is how many lines of the verifier's log a LoadError keeps.
const logLines = 6

// statsLine reports whether a line of the verifier's log is one of the
// statistics it ends with.
func statsLine(l string) bool {
	for _, p := range []string{"processed ", "verification time ", "stack depth ", "Func#"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return strings.TrimSpace(l) == ""
}

// newLoadError makes a LoadError of a program's failed load from its
// verifier log, if it has one.
func newLoadError(name string, chains []string, err error, log []string) *LoadError {
	le := &LoadError{Program: name, Chains: chains, Err: err, Reason: err.Error()}
	end := len(log)
	for end > 0 && statsLine(log[end-1]) {
		end--
	}
	if end == 0 {
		return le
	}
	le.Reason = strings.TrimSpace(log[end-1])
	for _, l := range log[max(0, end-logLines):end] {
		if strings.TrimSpace(l) != "" {
			le.Log = append(le.Log, l)
		}
	}
	return le
}

// explain turns the error of a failed collection load into a LoadError
// naming the program that failed and the verifier's reason. cilium/ebpf
// v0.22 drops the verifier's log when loading fails with EFAULT ("hit
// verifier bug"), which is how Linux 6.18 reports a function with more
// than 8192 branches pending ("The sequence of 8193 jumps is too
// complex": push_stack fails and check_cond_jmp_op returns -EFAULT; the
// patch "bpf: fix the return value of push_stack" makes it E2BIG): the
// program is then loaded once more by hand, with a log. chains names the
// chains a program holds; replace has the maps the load replaced.
func explain(spec *ebpf.CollectionSpec, err error, chains func(prog string) []string, replace map[string]*ebpf.Map) error {
	name := failedProgram(spec, err)
	if name == "" {
		return err
	}
	var log []string
	if ve := (*ebpf.VerifierError)(nil); errors.As(err, &ve) {
		log = ve.Log
	}
	if len(log) == 0 {
		if l, lerr := reloadWithLog(spec, spec.Programs[name], replace); lerr == nil {
			log = l
		}
	}
	return newLoadError(name, chains(name), err, log)
}

// failedProgram names the program a collection load failed on: cilium/ebpf
// says "program NAME: ...".
func failedProgram(spec *ebpf.CollectionSpec, err error) string {
	msg := err.Error()
	names := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		names = append(names, n)
	}
	// the longest name first: c1_tc is in "program c11_tc: ..." too
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		if strings.Contains(msg, "program "+n+":") {
			return n
		}
	}
	return ""
}

// reloadLogSize is the verifier log buffer of a reload: the kernel keeps
// the end of a longer log in it (a rotating log, Linux 6.4).
const reloadLogSize = 1 << 20

// progLoadAttr is the start of union bpf_attr as BPF_PROG_LOAD reads it
// (include/uapi/linux/bpf.h), as far as a reload sets it. Pointers are
// 64-bit: the datapath's programs need a 64-bit JIT.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              unsafe.Pointer
	license            unsafe.Pointer
	logLevel           uint32
	logSize            uint32
	logBuf             unsafe.Pointer
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
	progBTFFD          uint32
	funcInfoRecSize    uint32
	funcInfo           unsafe.Pointer
	funcInfoCnt        uint32
	lineInfoRecSize    uint32
	lineInfo           unsafe.Pointer
	lineInfoCnt        uint32
}

// reloadWithLog loads a program of a collection spec again, by itself,
// with a verifier log, and returns the log's lines. It creates the maps
// the program refers to (empty) unless replace has them.
func reloadWithLog(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec, replace map[string]*ebpf.Map) ([]string, error) {
	if ps == nil || unsafe.Sizeof(uintptr(0)) != 8 {
		return nil, errors.New("no program to reload")
	}
	insns := make(asm.Instructions, len(ps.Instructions))
	copy(insns, ps.Instructions)
	maps := map[string]*ebpf.Map{}
	defer func() {
		for _, m := range maps {
			m.Close()
		}
	}()
	for i := range insns {
		ins := &insns[i]
		if !ins.IsLoadFromMap() || ins.Reference() == "" {
			continue
		}
		name := ins.Reference()
		m := replace[name]
		if m == nil {
			if m = maps[name]; m == nil {
				ms := spec.Maps[name]
				if ms == nil {
					return nil, fmt.Errorf("map %s: not in the spec", name)
				}
				ms = ms.Copy()
				ms.Contents = nil // a program array's names programs
				var err error
				if m, err = ebpf.NewMap(ms); err != nil {
					return nil, fmt.Errorf("map %s: %w", name, err)
				}
				maps[name] = m
			}
		}
		if err := ins.AssociateMap(m); err != nil {
			return nil, err
		}
	}
	var b btf.Builder
	funcInfo, lineInfo, err := btf.MarshalExtInfos(insns, &b)
	if err != nil {
		return nil, err
	}
	h, err := btf.NewHandle(&b)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var code bytes.Buffer
	// asm takes the two byte orders by name, not binary.NativeEndian
	var order binary.ByteOrder = binary.LittleEndian
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
		order = binary.BigEndian
	}
	if err := insns.Marshal(&code, order); err != nil {
		return nil, err
	}
	license := append([]byte(ps.License), 0)
	logBuf := make([]byte, reloadLogSize)
	attr := progLoadAttr{
		progType:           uint32(ps.Type),
		progFlags:          ps.Flags,
		expectedAttachType: uint32(ps.AttachType),
		insnCnt:            uint32(code.Len() / asm.InstructionSize),
		insns:              unsafe.Pointer(&code.Bytes()[0]),
		license:            unsafe.Pointer(&license[0]),
		logLevel:           1,
		logSize:            reloadLogSize,
		logBuf:             unsafe.Pointer(&logBuf[0]),
		progBTFFD:          uint32(h.FD()),
		funcInfoRecSize:    btf.FuncInfoSize,
		funcInfoCnt:        uint32(len(funcInfo)) / btf.FuncInfoSize,
		lineInfoRecSize:    btf.LineInfoSize,
		lineInfoCnt:        uint32(len(lineInfo)) / btf.LineInfoSize,
	}
	copy(attr.progName[:15], ps.Name)
	if len(funcInfo) > 0 {
		attr.funcInfo = unsafe.Pointer(&funcInfo[0])
	}
	if len(lineInfo) > 0 {
		attr.lineInfo = unsafe.Pointer(&lineInfo[0])
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(&attr) // and the buffers it points to
	if errno == 0 {
		unix.Close(int(fd))
	}
	if i := bytes.IndexByte(logBuf, 0); i >= 0 {
		logBuf = logBuf[:i]
	}
	text := strings.TrimRight(string(logBuf), "\n")
	if text == "" {
		return nil, errors.New("the verifier left no log")
	}
	return strings.Split(text, "\n"), nil
}
