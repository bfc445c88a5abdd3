package nettest

import (
	"bytes"
	"testing"
)

// RequireSameVerdicts fails the test for every packet that got through in
// one result and not in the other, or in a different number of copies;
// want is the reference (the kernel's iptables), got the firewall under
// test. Both must come from probing the
// same packets at the same hook, or the comparison means nothing and the
// test stops. Packets the kernel drops on its own (KernelDrops) agree
// whatever the firewalls do; the log says how many there were.
func RequireSameVerdicts(tb testing.TB, want, got *Verdicts) {
	tb.Helper()
	if want.Hook != got.Hook || len(want.Packets) != len(got.Packets) {
		tb.Fatalf("compare verdicts: %s probe of %d packets against %s probe of %d",
			want.Hook, len(want.Packets), got.Hook, len(got.Packets))
	}
	vacuous := 0
	for i := range want.Packets {
		if !bytes.Equal(want.Packets[i], got.Packets[i]) {
			tb.Fatalf("compare verdicts: packet %d differs: %s against %s", i, Describe(want.Packets[i]), Describe(got.Packets[i]))
		}
		if KernelDrops(want.Hook, want.Packets[i]) != "" {
			vacuous++
		}
		if want.Copies[i] != got.Copies[i] {
			tb.Errorf("%s packet %d (%s): want %s, got %s", want.Hook, i, Describe(want.Packets[i]), want.verdict(i), got.verdict(i))
		}
	}
	if vacuous > 0 {
		tb.Logf("%s: %d of %d packets are dropped by the kernel itself; they agree whatever the firewalls do", want.Hook, vacuous, len(want.Packets))
	}
}
