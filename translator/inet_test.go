package translator

import (
	"net/netip"
	"testing"
)

// InetNtop prints as glibc's inet_ntop, which differs from Go only for
// IPv4-compatible addresses (checked with ip6tables-legacy, which prints
// ::1:2 as ::0.1.0.2).
func TestInetNtop(t *testing.T) {
	tests := []struct{ in, want string }{
		{"::1:2", "::0.1.0.2"},
		{"::1:0", "::0.1.0.0"},
		{"::102:304", "::1.2.3.4"},
		{"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
		{"::ffff:0:1:2", "::ffff:0:1:2"},
		{"::", "::"},
		{"::1", "::1"},
		{"::2", "::2"},
		{"0:0:0:0:0:1:0:0", "::1:0:0"},
		{"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
		{"1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"},
		{"dead::beef", "dead::beef"},
		{"10.0.0.1", "10.0.0.1"},
	}
	for _, tt := range tests {
		if got := InetNtop(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("InetNtop(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
