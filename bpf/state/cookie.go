package state

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// Cookie identifies a network namespace for as long as the machine runs:
// the kernel's namespace cookie, which, unlike the namespace's inode
// number, is never given to another namespace. The zero Cookie names no
// namespace.
type Cookie uint64

// String returns the cookie in decimal, the name of its namespace's
// directory.
func (c Cookie) String() string { return strconv.FormatUint(uint64(c), 10) }

// parseCookie reads a directory name written by Cookie.String.
func parseCookie(name string) (Cookie, bool) {
	v, err := strconv.ParseUint(name, 10, 64)
	if err != nil || v == 0 || strconv.FormatUint(v, 10) != name {
		return 0, false
	}
	return Cookie(v), true
}

// CurrentCookie returns the cookie of the calling thread's network
// namespace, read with SO_NETNS_COOKIE from a socket made there (Linux
// 5.14). A caller that switched namespaces must have locked its OS thread.
func CurrentCookie() (Cookie, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("network namespace cookie: socket: %w", err)
	}
	defer unix.Close(fd)
	v, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("network namespace cookie: getsockopt SO_NETNS_COOKIE (Linux 5.14): %w", err)
	}
	return Cookie(v), nil
}
