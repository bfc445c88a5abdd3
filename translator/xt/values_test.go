package xt_test

import (
	"net/netip"
	"testing"

	"github.com/bpftables/bpftables/translator/xt"
)

func TestParseIPv4Dotted(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when refused
	}{
		{"1.2.3.4", "1.2.3.4"},
		{"10", "10.0.0.0"}, // missing parts are zero
		{"10.1", "10.1.0.0"},
		{"0x0a.010.0.1", "10.8.0.1"}, // hex and octal parts
		{"", ""},
		{".", ""},
		{"1..2", ""},
		{"1.2.3.", ""},
		{"1.2.3.4.", ""}, // the fourth part is the rest: "4."
		{"1.2.3.4.5", ""},
		{"256.1.1.1", ""},
		{"1.2.3.4/8", ""},
		{" 1.2.3.4", "1.2.3.4"}, // strtoul skips leading space
	}
	for _, tt := range tests {
		a, ok := xt.ParseIPv4Dotted(tt.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("ParseIPv4Dotted(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := xt.ParseIPv4Mask("255.255.0"); ok {
		t.Errorf("ParseIPv4Mask takes three parts")
	}
	if m, ok := xt.ParseIPv4Mask("255.255.0.0"); !ok || m != netip.MustParseAddr("255.255.0.0") {
		t.Errorf("ParseIPv4Mask(255.255.0.0) = %v, %v", m, ok)
	}
}
