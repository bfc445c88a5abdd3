package iptables

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"-A INPUT -j ACCEPT", []string{"-A", "INPUT", "-j", "ACCEPT"}},
		{"  -A\tINPUT   -j  ACCEPT  ", []string{"-A", "INPUT", "-j", "ACCEPT"}},
		{`--comment "two words"`, []string{"--comment", "two words"}},
		{`--comment "a \"b\" \\ c"`, []string{"--comment", `a "b" \ c`}},
		{`--comment 'x y'`, []string{"--comment", "'x", "y'"}},
		{`a"b c"d`, []string{"ab c", "d"}}, // a closing quote ends the argument
		{`-c "" x`, []string{"-c", "", "x"}},
		{`back\slash`, []string{`back\slash`}}, // no escapes outside quotes
		{`"unterminated quote`, []string{"unterminated quote"}},
	}
	for _, tt := range tests {
		got, err := splitArgs(nil, tt.line)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
	if _, err := splitArgs(nil, "--comment "+strings.Repeat("x", 1024)); err == nil || err.Error() != "Parameter too long!" {
		t.Errorf("long parameter: %v", err)
	}
	if _, err := splitArgs(nil, strings.Repeat("a ", 300)); err == nil || err.Error() != "Parser cannot handle more arguments" {
		t.Errorf("many arguments: %v", err)
	}
}

// TestSplitPlain checks the fast path for lines without quotes against
// the byte-by-byte one, limits included.
func TestSplitPlain(t *testing.T) {
	for _, line := range []string{
		"", " ", "\t\t", "-A INPUT -j ACCEPT", "  -A\tINPUT   -j  ACCEPT  ", `back\slash`,
		"a\nb", "x\r y", "-m comment --comment " + strings.Repeat("x", 1023),
		"-m comment --comment " + strings.Repeat("x", 1024) + " " + strings.Repeat("a ", 300),
		strings.Repeat("a ", 250), strings.Repeat("a ", 251), strings.Repeat("a ", 252) + strings.Repeat("y", 2000),
	} {
		want, wantErr := splitQuoted(nil, line)
		got, err := splitPlain(nil, line)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) && len(want)+len(got) > 0 {
			t.Errorf("splitPlain(%.40q) = %q, %v; want %q, %v", line, got, err, want, wantErr)
		}
	}
}

func TestGetopt(t *testing.T) {
	type ret struct {
		code int
		arg  string
	}
	run := func(args ...string) []ret {
		g := getopt{args: args, short: shortOpts, base: baseLongOpts}
		var out []ret
		for {
			c := g.next()
			if c == codeEnd {
				break
			}
			out = append(out, ret{c, g.optarg})
		}
		return out
	}
	tests := []struct {
		args []string
		want []ret
	}{
		{[]string{"-A", "INPUT"}, []ret{{'A', "INPUT"}}},
		{[]string{"-AINPUT"}, []ret{{'A', "INPUT"}}},
		{[]string{"--append=INPUT"}, []ret{{'A', "INPUT"}}},
		{[]string{"--app", "INPUT"}, []ret{{'A', "INPUT"}}},
		{[]string{"-vn"}, []ret{{'v', ""}, {'n', ""}}},
		{[]string{"!", "-s", "1.2.3.4"}, []ret{{codeNonOption, "!"}, {'s', "1.2.3.4"}}},
		{[]string{"-F"}, []ret{{'F', ""}}},           // optional argument absent
		{[]string{"-Fchain"}, []ret{{'F', "chain"}}}, // only attached
		{[]string{"-s"}, []ret{{codeMissingArg, ""}}},
		{[]string{"-s", "-x"}, []ret{{'s', "-x"}}}, // a required argument is taken whatever it looks like
		{[]string{"--nosuch"}, []ret{{codeUnknown, ""}}},
		{[]string{"--s", "x"}, []ret{{codeUnknown, ""}, {codeNonOption, "x"}}}, // ambiguous
		{[]string{"--numeric=1"}, []ret{{codeUnknown, ""}}},                    // no argument allowed
		{[]string{"-A", "X", "--", "y"}, []ret{{'A', "X"}}},
	}
	for _, tt := range tests {
		if got := run(tt.args...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("getopt(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
