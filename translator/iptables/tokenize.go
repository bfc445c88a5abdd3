package iptables

import "strings"

// Limits of iptables-restore's rule tokenizer (xshared.c).
const (
	maxArgs     = 255  // MAX_ARGC
	maxParamLen = 1023 // struct xt_param_buf holds 1024 bytes
)

// splitArgs splits a rule line into arguments as iptables-restore's
// add_param_to_argv does: arguments are separated by spaces and tabs;
// double quotes group, and inside them a backslash escapes the next
// character; a quote may open in the middle of an argument, and a closing
// quote always ends one (so `""` is an empty argument). The arguments are
// appended to args.
func splitArgs(args []string, line string) ([]string, error) {
	if strings.IndexByte(line, '"') < 0 {
		return splitPlain(args, line)
	}
	return splitQuoted(args, line)
}

// splitQuoted is splitArgs for any line, byte by byte.
func splitQuoted(args []string, line string) ([]string, error) {
	var (
		cur       []byte
		quoteOpen bool
		escaped   bool
	)
	add := func(c byte) error {
		cur = append(cur, c)
		if len(cur) > maxParamLen {
			return paramErrorf("Parameter too long!")
		}
		return nil
	}
	flush := func() error {
		if len(args)+1 >= maxArgs-3 { // argv[0], "-t", table come first
			return paramErrorf("Parser cannot handle more arguments")
		}
		args = append(args, string(cur))
		cur = cur[:0] // string(cur) copied it
		return nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quoteOpen {
			switch {
			case escaped:
				escaped = false
				if err := add(c); err != nil {
					return nil, err
				}
			case c == '\\':
				escaped = true
			case c == '"':
				// a closing quote ends the argument, even an empty one
				quoteOpen = false
				if err := flush(); err != nil {
					return nil, err
				}
			default:
				if err := add(c); err != nil {
					return nil, err
				}
			}
			continue
		}
		switch c {
		case '"':
			quoteOpen = true
		case ' ', '\t', '\n':
			if len(cur) == 0 {
				continue
			}
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			if err := add(c); err != nil {
				return nil, err
			}
		}
	}
	if len(cur) > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// splitPlain is splitArgs for a line without quotes, the common case:
// every argument is a piece of the line, so none is copied.
func splitPlain(args []string, line string) ([]string, error) {
	for i := 0; i < len(line); {
		if isArgSpace(line[i]) {
			i++
			continue
		}
		start := i
		for i < len(line) && !isArgSpace(line[i]) {
			i++
		}
		if i-start > maxParamLen {
			return nil, paramErrorf("Parameter too long!")
		}
		if len(args)+1 >= maxArgs-3 { // argv[0], "-t", table come first
			return nil, paramErrorf("Parser cannot handle more arguments")
		}
		args = append(args, line[start:i])
	}
	return args, nil
}

func isArgSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }
