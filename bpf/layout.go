// Package bpf turns plans into BPF programs and maps (code generation with
// cilium/ebpf's asm, no compiler at run time), loads them as generations,
// and swaps a generation in through the root program array.
//
// The stable part of the datapath - hook programs, the root program
// arrays, the packet context - outlives generations; a generation holds
// the programs and maps of one ruleset of one family.
package bpf

import (
	"encoding/binary"

	"github.com/bpftables/bpftables/translator/plan"
)

// The packet context is one per-CPU array entry the hook program fills and
// every later program reads. Addresses are kept in network order;
// numbers in host order, as BPF loads them.
const (
	offSrc      = 0   // [16]byte
	offDst      = 16  // [16]byte
	offMark     = 32  // u32
	offLen      = 36  // u16
	offSport    = 38  // u16
	offDport    = 40  // u16
	offICMP     = 42  // u16: type << 8 | code
	offFragOff  = 44  // u16
	offL4Avail  = 46  // u16
	offProto    = 48  // u8
	offTCPFlags = 49  // u8
	offTTL      = 50  // u8
	offTOS      = 51  // u8
	offPktType  = 52  // u8
	offHasMAC   = 53  // u8
	offSrcMAC   = 54  // [6]byte
	offHook     = 60  // u8: plan hook + 1 (0: none)
	offFamily   = 61  // u8: 4 or 6
	offL4Off    = 62  // u16: offset of the layer 4 header in the packet
	offInIfidx  = 64  // u32
	offOutIfidx = 68  // u32
	offInBits   = 72  // u64
	offOutBits  = 80  // u64
	offBytes    = 88  // u32: IP packet length, for byte counters
	offCtState  = 92  // u8: connection tracking state (plan.CTStateBits)
	offCtOp     = 93  // u8: 1 when an accepted packet creates its entry
	offCtDir    = 94  // u8: 1 in the connection's reply direction
	offCtStatus = 95  // u8: the connection's status (IPS_* bits)
	offCtKey    = 96  // [40]byte: the connection's key (ctKey)
	offCtNew    = 136 // [24]byte: the entry an accepted packet creates
	offCtSport  = 160 // u16: the connection's original source port
	offCtDport  = 162 // u16: and destination port
	offCtRSport = 164 // u16: the connection's reply source port
	offCtRDport = 166 // u16: and destination port
	pktSize     = 168
)

// field describes where a plan field lives in the packet context.
type field struct {
	off  int16
	size int // bytes in the context (addresses: 4 or 16 by family)
	// numeric fields are host-order integers; others are raw bytes.
	numeric bool
}

// fields is the field table the code generator walks.
var fields = [plan.NumFields]field{
	plan.FieldSrc:      {offSrc, 16, false},
	plan.FieldDst:      {offDst, 16, false},
	plan.FieldProto:    {offProto, 1, true},
	plan.FieldSport:    {offSport, 2, true},
	plan.FieldDport:    {offDport, 2, true},
	plan.FieldTCPFlags: {offTCPFlags, 1, true},
	plan.FieldICMP:     {offICMP, 2, true},
	plan.FieldLen:      {offLen, 2, true},
	plan.FieldTTL:      {offTTL, 1, true},
	plan.FieldTOS:      {offTOS, 1, true},
	plan.FieldPktType:  {offPktType, 1, true},
	plan.FieldMark:     {offMark, 4, true},
	plan.FieldSrcMAC:   {offSrcMAC, 6, false},
	plan.FieldHasMAC:   {offHasMAC, 1, true},
	plan.FieldFragOff:  {offFragOff, 2, true},
	plan.FieldL4Avail:  {offL4Avail, 2, true},
	plan.FieldInIface:  {offInBits, 8, true},
	plan.FieldOutIface: {offOutBits, 8, true},
	plan.FieldCtState:  {offCtState, 1, true},
	// the connection's original tuple: its key (ctKey), ports in host
	// order beside it
	plan.FieldCtDir:       {offCtDir, 1, true},
	plan.FieldCtStatus:    {offCtStatus, 1, true},
	plan.FieldCtProto:     {offCtKey + ctKeyProto, 1, true},
	plan.FieldCtOrigSrc:   {offCtKey, 16, false},
	plan.FieldCtOrigDst:   {offCtKey + 16, 16, false},
	plan.FieldCtOrigSport: {offCtSport, 2, true},
	plan.FieldCtOrigDport: {offCtDport, 2, true},
	plan.FieldCtReplSport: {offCtRSport, 2, true},
	plan.FieldCtReplDport: {offCtRDport, 2, true},
}

// Verdicts chain functions and programs return inside a generation. The
// generation's entry program turns them into tc or XDP action codes.
const (
	verdictContinue = 0 // the chain returned or ended
	verdictAccept   = 1
	verdictDrop     = 2
	verdictError    = 3 // a tail call failed: the packet is dropped
	// verdictReturn is returned by a block of a chain (plan.Segment.Block)
	// when the chain ends without a verdict: RETURN, or a goto whose
	// target returned. The chain's function returns verdictContinue.
	verdictReturn = 4
	// verdictReject plus an ActReject's target (plan.RejectReset or the
	// ICMP code) drops the packet and answers it (bpf/reject.go).
	verdictReject = 16
)

// Action codes of the program types.
const (
	// tcActUnspec passes the packet and lets the tc programs after ours
	// run (TCX_NEXT); TC_ACT_OK would end the hook for them.
	tcActUnspec = -1
	tcActShot   = 2
	xdpDrop     = 1
	xdpPass     = 2
)

// appendKeyBytes appends a plan value (big-endian, the plan field's size)
// as its bytes in the packet context, which is how lookup keys are built.
func appendKeyBytes(b []byte, f plan.Field, v []byte) []byte {
	fd := fields[f]
	if !fd.numeric {
		return append(b, v...)
	}
	x := uintOf(v)
	switch fd.size {
	case 1:
		return append(b, byte(x))
	case 2:
		return binary.NativeEndian.AppendUint16(b, uint16(x))
	case 4:
		return binary.NativeEndian.AppendUint32(b, uint32(x))
	}
	return binary.NativeEndian.AppendUint64(b, x)
}

// uintOf returns a big-endian plan value as a number.
func uintOf(v []byte) uint64 {
	var x uint64
	for _, b := range v {
		x = x<<8 | uint64(b)
	}
	return x
}
