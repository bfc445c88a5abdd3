package compat

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpftables/bpftables/bpf"
	"github.com/bpftables/bpftables/live"
	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
	"github.com/bpftables/bpftables/translator/xt"
)

// LogMain runs `bpftables log [-f]`: it prints the LOG and NFLOG events
// the datapath holds, as the kernel's LOG target writes them, and with
// -f keeps printing them as they come. Drops are reported on stderr.
func LogMain(args []string, env Env) int {
	follow := false
	for _, a := range args {
		switch a {
		case "-f", "--follow":
			follow = true
		default:
			fmt.Fprintln(env.Stderr, "Usage: bpftables log [-f]")
			return 1
		}
	}
	n, err := live.OpenReader(live.Options{})
	if err != nil {
		return liveError("bpftables log", err, env)
	}
	defer n.Close()
	rd, err := n.LogReader()
	if err != nil {
		return liveError("bpftables log", err, env)
	}
	defer rd.Close()
	names := ifaceNames{}
	var lastFull, lastRate uint64
	reportDrops := func() error {
		full, rate, err := n.LogDrops()
		if err != nil {
			return err
		}
		if full != lastFull || rate != lastRate {
			fmt.Fprintf(env.Stderr, "bpftables log: %d events dropped as the ring buffer was full, %d over the rate limit (since the datapath was made)\n", full, rate)
			lastFull, lastRate = full, rate
		}
		return nil
	}
	var rec ringbuf.Record
	for {
		if follow {
			rd.SetDeadline(time.Now().Add(time.Second))
		} else {
			rd.SetDeadline(time.Now())
		}
		err := rd.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if err := reportDrops(); err != nil {
				return liveError("bpftables log", err, env)
			}
			if !follow {
				return 0
			}
			continue
		}
		if err != nil {
			return liveError("bpftables log", err, env)
		}
		ev, err := bpf.DecodeLogEvent(rec.RawSample)
		if err != nil {
			continue
		}
		if _, err := io.WriteString(env.Stdout, FormatLogEvent(ev, names.name)+"\n"); err != nil {
			return 1 // the reader went away (a closed pipe)
		}
	}
}

// ifaceNames resolves interface indexes to names in the namespace,
// remembering them; an index without an interface shows as "if<N>".
type ifaceNames map[uint32]string

func (m ifaceNames) name(idx uint32) string {
	if idx == 0 {
		return ""
	}
	if s, ok := m[idx]; ok {
		return s
	}
	s := "if" + strconv.Itoa(int(idx))
	if i, err := net.InterfaceByIndex(int(idx)); err == nil {
		s = i.Name
	}
	m[idx] = s
	return s
}

// forwardTTL returns the offset of the TTL or hop limit of a packet
// the kernel would forward, 0 if none.
func forwardTTL(ip []byte, ipv6 bool) int {
	off := 8
	if ipv6 {
		off = 7
	}
	if len(ip) <= off || ip[off] <= 1 {
		return 0
	}
	return off
}

// FormatLogEvent formats an event as one line: a LOG event as the kernel
// logs it, after its syslog level in angle brackets ("<4>", as the raw
// kernel log shows it); an NFLOG event as "[nflog group N] " and the same
// line as a LOG rule without options would log, from the bytes
// --nflog-size leaves.
func FormatLogEvent(ev *bpf.LogEvent, name func(uint32) string) string {
	e := &xt.LogEvent{MAC: ev.MAC, Data: ev.Data, IPv6: ev.Family == translator.IPv6, Mark: ev.Mark}
	switch ev.Hook {
	case translator.PreRouting, translator.Input:
		e.In = name(ev.In)
	case translator.Forward:
		e.In, e.Out = name(ev.In), name(ev.Out)
		// The kernel forwards a packet with its TTL or hop limit already
		// lowered when FORWARD sees it (ip_forward, ip6_forward); tc and
		// XDP see it as it came.
		if ttl := forwardTTL(e.Data, e.IPv6); ttl > 0 {
			e.Data = append([]byte(nil), e.Data...)
			e.Data[ttl]--
		}
	default:
		e.Out = name(ev.Out)
	}
	if ev.Spec.Kind == plan.LogNFLOG {
		if ev.Spec.HasSize && int(ev.Spec.Size) < len(e.Data) {
			e.Data = e.Data[:ev.Spec.Size]
		}
		t := &xt.Log{Prefix: ev.Spec.Prefix}
		return fmt.Sprintf("[nflog group %d] %s", ev.Spec.Group, t.Format(e))
	}
	t := &xt.Log{Level: ev.Spec.Level, Flags: ev.Spec.Flags, Prefix: ev.Spec.Prefix}
	return fmt.Sprintf("<%d>%s", ev.Spec.Level, t.Format(e))
}
