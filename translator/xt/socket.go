package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// Socket is the socket match: the packet belongs to a local socket
// (struct xt_socket_mtinfo3, the revision iptables 1.8 uses).
type Socket struct {
	// Transparent accepts only sockets with IP_TRANSPARENT.
	Transparent bool
	// NoWildcard also accepts sockets bound to the wildcard address.
	NoWildcard bool
	// RestoreSkmark sets the packet mark to the socket's mark when the
	// socket is accepted.
	RestoreSkmark bool
}

const (
	socketOptTransparent = iota
	socketOptNoWildcard
	socketOptRestoreSkmark
)

func init() {
	RegisterMatch(&MatchDef{
		Name: "socket",
		Options: []Option{
			{Name: "transparent", Type: None, ID: socketOptTransparent},
			{Name: "nowildcard", Type: None, ID: socketOptNoWildcard},
			{Name: "restore-skmark", Type: None, ID: socketOptRestoreSkmark},
		},
		New: func(translator.Family) MatchParser { return &Socket{} },
	})
}

// Name returns "socket".
func (m *Socket) Name() string { return "socket" }

// Parse takes one socket option.
func (m *Socket) Parse(c *Call) error {
	switch c.Opt.ID {
	case socketOptTransparent:
		m.Transparent = true
	case socketOptNoWildcard:
		m.NoWildcard = true
	case socketOptRestoreSkmark:
		m.RestoreSkmark = true
	}
	return nil
}

// Final has nothing to check: the match without options is valid.
func (m *Socket) Final(*Final) error { return nil }

// Save prints the flags given, in socket_mt_save_v3's order.
func (m *Socket) Save(b *strings.Builder, _ translator.Family) {
	if m.Transparent {
		b.WriteString(" --transparent")
	}
	if m.NoWildcard {
		b.WriteString(" --nowildcard")
	}
	if m.RestoreSkmark {
		b.WriteString(" --restore-skmark")
	}
}

// Check allows the match only where the kernel looks sockets up for
// incoming packets: PREROUTING and INPUT.
func (m *Socket) Check(c *translator.CheckContext) error {
	return c.RequireHooks("socket match", translator.PreRouting.Mask()|translator.Input.Mask())
}

// Match evaluates the match as socket_match does on the socket the packet
// belongs to: one bound to the wildcard address does not count unless
// --nowildcard, a non-transparent one does not count with --transparent,
// and with --restore-skmark a socket that counts gives the packet its
// mark.
func (m *Socket) Match(c *translator.Context) bool {
	sk := c.Packet.Sock
	if sk == nil {
		return false
	}
	wildcard := !m.NoWildcard && sk.Wildcard
	transparent := !m.Transparent || sk.Transparent
	if m.RestoreSkmark && !wildcard && transparent {
		c.Packet.Mark = sk.Mark
	}
	return !wildcard && transparent
}
