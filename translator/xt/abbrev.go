package xt

import "strings"

// isAbbrev reports whether given begins s, ignoring case: the
// strncasecmp(s, given, strlen(given)) == 0 with which iptables matches
// names it lets users shorten (REJECT's reject types; and, the other way
// round, DSCP class names against the argument that begins with one).
func isAbbrev(s, given string) bool {
	return len(given) <= len(s) && strings.EqualFold(s[:len(given)], given)
}
