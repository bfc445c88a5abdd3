package attach

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Verdicts of the test programs.
const (
	tcOK    = 0 // TC_ACT_OK
	tcShot  = 2 // TC_ACT_SHOT
	xdpDrop = 1 // XDP_DROP
	xdpPass = 2 // XDP_PASS
)

// testPort is the UDP port the test programs judge; every other packet
// passes uncounted, so that stray traffic cannot disturb the counts.
const testPort = 4242

// newCounts makes the array the test programs count packets in, one slot
// per program.
func newCounts(tb testing.TB) *ebpf.Map {
	tb.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		tb.Fatalf("counts map: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// udpProgram loads udpProgramSpec.
func udpProgram(tb testing.TB, typ ebpf.ProgramType, name string, counts *ebpf.Map, slot uint32, verdict int32) *ebpf.Program {
	tb.Helper()
	p, err := ebpf.NewProgram(udpProgramSpec(typ, name, counts, slot, verdict))
	if err != nil {
		tb.Fatalf("load %s: %+v", name, err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// udpProgramSpec is a program of type typ named name that, for each IPv4
// UDP packet to testPort behind an Ethernet header, adds one to slot of
// counts and returns verdict; other packets pass.
func udpProgramSpec(typ ebpf.ProgramType, name string, counts *ebpf.Map, slot uint32, verdict int32) *ebpf.ProgramSpec {
	// Offsets of data and data_end in __sk_buff and in xdp_md.
	dataOff, endOff, pass := int16(76), int16(80), int32(tcOK)
	if typ == ebpf.XDP {
		dataOff, endOff, pass = 0, 4, xdpPass
	}
	be16 := func(v uint16) int32 { return int32(binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))) }
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, dataOff, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, endOff, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20+8),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R4, asm.R2, 12, asm.Half), // EtherType
		asm.JNE.Imm(asm.R4, be16(0x0800), "pass"),
		asm.LoadMem(asm.R4, asm.R2, 14+9, asm.Byte), // IP protocol
		asm.JNE.Imm(asm.R4, 17, "pass"),
		asm.LoadMem(asm.R4, asm.R2, 14+20+2, asm.Half), // UDP destination port (no IP options)
		asm.JNE.Imm(asm.R4, be16(testPort), "pass"),
		asm.StoreImm(asm.RFP, -4, int64(slot), asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, counts.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "verdict"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, verdict).WithSymbol("verdict"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, pass).WithSymbol("pass"),
		asm.Return(),
	}
	return &ebpf.ProgramSpec{Name: name, Type: typ, License: "GPL", Instructions: insns}
}

// count reads slot of counts.
func count(tb testing.TB, counts *ebpf.Map, slot uint32) uint64 {
	tb.Helper()
	var v uint64
	if err := counts.Lookup(slot, &v); err != nil {
		tb.Fatalf("read count %d: %v", slot, err)
	}
	return v
}

// waitCount waits (briefly: a veth peer receives in softirq, after the
// send returned) until slot reaches want, and returns its value.
func waitCount(tb testing.TB, counts *ebpf.Map, slot uint32, want uint64) uint64 {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		v := count(tb, counts, slot)
		if v >= want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(5 * time.Millisecond)
	}
}
