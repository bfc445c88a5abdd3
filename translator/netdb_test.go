package translator

import "testing"

func TestParseUint(t *testing.T) {
	tests := []struct {
		s        string
		min, max uint64
		want     uint64
		ok       bool
	}{
		{"22", 0, 65535, 22, true},
		{"0x16", 0, 65535, 22, true},
		{"026", 0, 65535, 22, true}, // octal, as strtoul with base 0
		{"0", 0, 65535, 0, true},
		{"65536", 0, 65535, 65536, false},
		{"-1", 0, 65535, 0, false},
		{" 7", 0, 10, 7, true}, // strtoul skips leading space
		{"7 ", 0, 10, 7, false},
		{"", 0, 10, 0, false},
		{"x", 0, 10, 0, false},
		{"08", 0, 10, 0, false}, // "0" then "8" left over
		{"4294967295", 0, 4294967295, 4294967295, true},
		{"42949672956", 0, 4294967295, 0, false},
		{"18446744073709551616", 0, 0, 0, false}, // overflow
		{"18446744073709551615", 0, 0, 18446744073709551615, true},
		{"9999999999999999999", 0, 0, 9999999999999999999, true},
		{"12a", 0, 0, 0, false},
		{"1.2", 0, 0, 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseUint(tt.s, tt.min, tt.max)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ParseUint(%q, %d, %d) = %d, %v; want %d, %v", tt.s, tt.min, tt.max, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseUintPrefix(t *testing.T) {
	tests := []struct {
		s    string
		base int
		want uint64
		rest string
		ok   bool
	}{
		{"22:80", 0, 22, ":80", true},
		{"22", 10, 22, "", true},
		{"010", 10, 10, "", true},
		{"010", 0, 8, "", true},
		{"12345678901234567890x", 0, 12345678901234567890, "x", true},
		{"99999999999999999999", 0, 0, "", false}, // overflow
		{"1f", 16, 31, "", true},
		{"+5/", 0, 5, "/", true},
		{"-5", 0, 0, "-5", false},
	}
	for _, tt := range tests {
		got, rest, ok := ParseUintBase(tt.s, 0, 0, tt.base)
		if ok != tt.ok || rest != tt.rest || (ok && got != tt.want) {
			t.Errorf("ParseUintBase(%q, base %d) = %d, %q, %v; want %d, %q, %v", tt.s, tt.base, got, rest, ok, tt.want, tt.rest, tt.ok)
		}
	}
}

func TestProtocols(t *testing.T) {
	for _, tt := range []struct {
		in   string
		num  uint8
		name string
	}{
		{"tcp", 6, "tcp"}, {"6", 6, "tcp"}, {"ipv6-icmp", 58, "ipv6-icmp"}, {"icmpv6", 58, "ipv6-icmp"},
		{"135", 135, "mobility-header"}, {"all", 0, "0"}, {"gre", 47, "gre"}, {"254", 254, "254"},
	} {
		n, err := ParseProto(tt.in)
		if err != nil || n != tt.num {
			t.Errorf("ParseProto(%q) = %d, %v; want %d", tt.in, n, err, tt.num)
		}
		if tt.num != 0 {
			if got := ProtoName(n); got != tt.name {
				t.Errorf("ProtoName(%d) = %q, want %q", n, got, tt.name)
			}
		}
	}
	if _, err := ParseProto("nosuchproto"); err == nil || err.Error() != `unknown protocol "nosuchproto" specified` {
		t.Errorf("unknown protocol: %v", err)
	}
}

func TestServicePort(t *testing.T) {
	for _, tt := range []struct {
		name, proto string
		port        uint16
	}{{"ssh", "tcp", 22}, {"domain", "udp", 53}, {"ftp-data", "tcp", 20}, {"https", "", 443}} {
		if p, ok := ServicePort(tt.name, tt.proto); !ok || p != tt.port {
			t.Errorf("ServicePort(%q, %q) = %d, %v; want %d", tt.name, tt.proto, p, ok, tt.port)
		}
	}
	if _, ok := ServicePort("no-such-service", "tcp"); ok {
		t.Error("unknown service resolved")
	}
}
