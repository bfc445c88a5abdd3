package xt

import (
	"math"
	"strings"
	"time"
)

// HZ is the kernel tick rate (CONFIG_HZ) that limit, hashlimit and recent
// count time in. Their results depend on it through the jiffy arithmetic
// (credits per jiffy, rounding of seconds and milliseconds to ticks), so
// the evaluator uses the value of the kernels bpftables targets: 250, the
// default of most distributions and of the kernel the tests run on.
const HZ = 250

// jiffies converts a time to kernel ticks. The origin is the Unix epoch, not
// boot: only differences of jiffies matter to the matches.
func jiffies(t time.Time) uint64 {
	return uint64(t.Unix())*HZ + uint64(t.Nanosecond())*HZ/1e9
}

// timeAfter is the kernel's time_after(a, b): a is later than b, correct
// across wrap-around.
func timeAfter(a, b uint64) bool { return int64(b-a) < 0 }

// timeAfterEq is time_after_eq(a, b).
func timeAfterEq(a, b uint64) bool { return int64(a-b) >= 0 }

// maxJiffyOffset is MAX_JIFFY_OFFSET on 64-bit kernels.
const maxJiffyOffset = (math.MaxInt64 >> 1) - 1

// msecsToJiffies is the kernel's msecs_to_jiffies: rounded up, and
// "infinite" for values that are negative as an int.
func msecsToJiffies(m uint32) uint64 {
	if int32(m) < 0 {
		return maxJiffyOffset
	}
	return (uint64(m)*HZ + 999) / 1000
}

// pow2Below is POW2_BELOW32/POW2_BELOW64: the largest power of two not
// above x (for x > 0).
func pow2Below(x uint64) uint64 {
	for s := uint(1); s < 64; s <<= 1 {
		x |= x >> s
	}
	return x>>1 + 1
}

// strtol is glibc's strtol with base 10: leading white space, an optional
// sign, digits, saturated at the int64 limits; 0 when there are no digits.
func strtol(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v uint64
	over := false
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			over = true
			break
		}
		v = v*10 + d
	}
	switch {
	case neg && (over || v > 1<<63):
		return math.MinInt64
	case neg:
		return -int64(v)
	case over || v > math.MaxInt64:
		return math.MaxInt64
	}
	return int64(v)
}

// atoi is glibc's atoi: strtol truncated to an int.
func atoi(s string) int32 { return int32(strtol(s)) }

// rateUnit reads the "/second", "/minute", "/hour" or "/day" suffix of a
// rate as limit and hashlimit do (any case, any prefix of the word) and
// returns its length in seconds; 1 without a suffix. ok is false for an
// empty or unknown suffix.
func rateUnit(rate string) (mult uint32, ok bool) {
	i := strings.IndexByte(rate, '/')
	if i < 0 {
		return 1, true
	}
	unit := rate[i+1:]
	if unit == "" {
		return 0, false
	}
	for _, u := range []struct {
		word string
		mult uint32
	}{{"second", 1}, {"minute", 60}, {"hour", 60 * 60}, {"day", 24 * 60 * 60}} {
		if len(unit) <= len(u.word) && strings.EqualFold(unit, u.word[:len(unit)]) {
			return u.mult, true
		}
	}
	return 0, false
}

// rateName is how limit and hashlimit print a period: the largest unit in
// which the rate is a whole number of packets or more.
func rateName(period uint64, scale uint64) (perUnit uint64, unit string, unitMsecs uint32) {
	rates := [...]struct {
		name string
		secs uint64
	}{{"day", 24 * 60 * 60}, {"hour", 60 * 60}, {"min", 60}, {"sec", 1}}
	i := 1
	for ; i < len(rates); i++ {
		mult := rates[i].secs * scale
		if period > mult || mult/period < mult%period {
			break
		}
	}
	r := rates[i-1]
	return r.secs * scale / period, r.name, uint32(r.secs * 1000)
}
