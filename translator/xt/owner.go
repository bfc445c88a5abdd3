package xt

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/bpftables/bpftables/translator"
)

// Owner is the owner match: the local socket that sent the packet and its
// user and groups (struct xt_owner_match_info).
type Owner struct {
	UIDMin, UIDMax uint32
	GIDMin, GIDMax uint32
	// Flags has an Owner* bit for every option given, Invert one for every
	// option given with "!".
	Flags, Invert uint8
}

// Owner option bits (XT_OWNER_*), in Owner.Flags and Invert.
const (
	OwnerUID         = 1 << 0
	OwnerGID         = 1 << 1
	OwnerSocket      = 1 << 2
	OwnerSupplGroups = 1 << 3
)

const (
	ownerOptUser = iota
	ownerOptGroup
	ownerOptSocketExists
	ownerOptSupplGroups = 6 // O_SUPPL_GROUPS, after the v0 options
)

func init() {
	RegisterMatch(&MatchDef{
		Name: "owner",
		Options: []Option{
			{Name: "uid-owner", Type: String, ID: ownerOptUser, Flags: Invert},
			{Name: "gid-owner", Type: String, ID: ownerOptGroup, Flags: Invert},
			{Name: "socket-exists", Type: None, ID: ownerOptSocketExists, Flags: Invert},
			{Name: "suppl-groups", Type: None, ID: ownerOptSupplGroups},
		},
		New: func(translator.Family) MatchParser { return &Owner{} },
	})
}

// Name returns "owner".
func (m *Owner) Name() string { return "owner" }

// Files that getpwnam and getgrnam read, as NSS "files" does.
var (
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// lookupID returns the id (third field) of the first entry called name in
// a passwd- or group-format file, as getpwnam and getgrnam would find it.
func lookupID(file, name string) (uint32, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) < 3 || fields[0] != name {
			continue
		}
		id, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		return uint32(id), true
	}
	return 0, false
}

// parseOwnerRange parses "id" or "id-id" (or "id:id") as owner_parse_range
// does; -1 is the kernel's invalid id, so the largest is one less.
func parseOwnerRange(s, opt string) (from, to uint32, err error) {
	bad := Errorf("owner: Bad value for \"%s\" option: \"%s\"", opt, s)
	v, rest, ok := translator.ParseUintPrefix(s, 0, math.MaxUint32-1)
	if !ok {
		return 0, 0, bad
	}
	w := v
	if rest != "" && (rest[0] == '-' || rest[0] == ':') {
		if w, rest, ok = translator.ParseUintPrefix(rest[1:], 0, math.MaxUint32-1); !ok {
			return 0, 0, bad
		}
	}
	if rest != "" {
		return 0, 0, bad
	}
	return uint32(v), uint32(w), nil
}

// Parse takes one owner option. A user or group name is looked up first,
// so a name made of digits is the user of that name, not the number.
func (m *Owner) Parse(c *Call) error {
	var bit uint8
	switch c.Opt.ID {
	case ownerOptUser:
		bit = OwnerUID
		if id, ok := lookupID(passwdFile, c.Arg); ok {
			m.UIDMin, m.UIDMax = id, id
		} else {
			from, to, err := parseOwnerRange(c.Arg, "--uid-owner")
			if err != nil {
				return err
			}
			m.UIDMin, m.UIDMax = from, to
		}
	case ownerOptGroup:
		bit = OwnerGID
		if id, ok := lookupID(groupFile, c.Arg); ok {
			m.GIDMin, m.GIDMax = id, id
		} else {
			from, to, err := parseOwnerRange(c.Arg, "--gid-owner")
			if err != nil {
				return err
			}
			m.GIDMin, m.GIDMax = from, to
		}
	case ownerOptSocketExists:
		bit = OwnerSocket
	case ownerOptSupplGroups:
		if m.Flags&OwnerGID == 0 {
			return c.Errorf("owner: Bad value for \"--suppl-groups\" option: \"you need to use --gid-owner first\"")
		}
		bit = OwnerSupplGroups
	}
	m.Flags |= bit
	if c.Invert {
		m.Invert |= bit
	}
	return nil
}

// Final requires one of the options that select something.
func (m *Owner) Final(c *Final) error {
	if c.Seen == 0 {
		return c.Errorf("owner: At least one of --uid-owner, --gid-owner or --socket-exists is required")
	}
	return nil
}

// Save prints the match as owner_mt_save does: ids as numbers, a range as
// "min-max".
func (m *Owner) Save(b *strings.Builder, _ translator.Family) {
	item := func(bit uint8, label string) bool {
		if m.Flags&bit == 0 {
			return false
		}
		SaveInv(b, m.Invert&bit != 0)
		b.WriteString(" " + label)
		return true
	}
	ids := func(lo, hi uint32) {
		if lo != hi {
			Savef(b, " %d-%d", lo, hi)
		} else {
			Savef(b, " %d", lo)
		}
	}
	item(OwnerSocket, "--socket-exists")
	if item(OwnerUID, "--uid-owner") {
		ids(m.UIDMin, m.UIDMax)
	}
	if item(OwnerGID, "--gid-owner") {
		ids(m.GIDMin, m.GIDMax)
	}
	item(OwnerSupplGroups, "--suppl-groups")
}

// Check makes owner_check's and x_tables' checks: only where packets have
// a local sender (OUTPUT and POSTROUTING), and ranges not reversed.
func (m *Owner) Check(c *translator.CheckContext) error {
	if err := c.RequireHooks("owner match", translator.Output.Mask()|translator.PostRouting.Mask()); err != nil {
		return err
	}
	if m.Flags&OwnerUID != 0 && m.UIDMax < m.UIDMin {
		return c.Errorf("owner match: UID range %d-%d is reversed", m.UIDMin, m.UIDMax)
	}
	if m.Flags&OwnerGID != 0 && m.GIDMax < m.GIDMin {
		return c.Errorf("owner match: GID range %d-%d is reversed", m.GIDMin, m.GIDMax)
	}
	return nil
}

// Match evaluates the match as owner_mt does. A packet without a socket
// matches only if every option given is inverted; a socket makes
// "! --socket-exists" fail.
func (m *Owner) Match(c *translator.Context) bool {
	sk := c.Packet.Sock
	if sk == nil {
		return m.Flags^m.Invert == 0
	}
	if m.Flags&m.Invert&OwnerSocket != 0 {
		return false
	}
	if m.Flags&OwnerUID != 0 {
		in := m.UIDMin <= sk.UID && sk.UID <= m.UIDMax
		if in == (m.Invert&OwnerUID != 0) {
			return false
		}
	}
	if m.Flags&OwnerGID != 0 {
		in := m.GIDMin <= sk.GID && sk.GID <= m.GIDMax
		if !in && m.Flags&OwnerSupplGroups != 0 {
			for _, g := range sk.SupplGroups {
				if m.GIDMin <= g && g <= m.GIDMax {
					in = true
					break
				}
			}
		}
		if in == (m.Invert&OwnerGID != 0) {
			return false
		}
	}
	return true
}
