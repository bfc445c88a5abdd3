package compat

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bpftables/bpftables/bpf/state"
	"github.com/bpftables/bpftables/live"
	"github.com/bpftables/bpftables/translator/iptables"
	"github.com/bpftables/bpftables/translator/plan"
)

// Config is bpftables' configuration file: `key = value` lines, `#`
// comments. Keys: xdp (yes/no: run the ingress hooks at XDP), attach
// (tcx or clsact), conntrack-size (the connection table's entries,
// taken when a namespace's datapath is made), log-buffer (the LOG and
// NFLOG ring buffer's bytes, likewise) and log-rate (the most LOG and
// NFLOG events a second, 0 for no limit, taken at every load).
type Config struct {
	XDP           bool
	Clsact        bool
	ConntrackSize int
	LogBufferSize int
	// LogRate is 0 for the default (bpf.DefaultLogRate), negative for
	// no limit.
	LogRate int
}

// DefaultConfigPath is where the configuration is read from unless
// BPFTABLES_CONFIG names another file.
const DefaultConfigPath = "/etc/bpftables/bpftables.conf"

// LoadConfig reads the configuration file; a missing file is the default
// configuration.
func LoadConfig() (Config, error) {
	path := os.Getenv("BPFTABLES_CONFIG")
	if path == "" {
		path = DefaultConfigPath
	}
	var c Config
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(text) == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		bad := func() error { return fmt.Errorf("%s:%d: bad value %q for %s", path, line, value, key) }
		switch {
		case !ok:
			return c, fmt.Errorf("%s:%d: expected key = value", path, line)
		case key == "xdp":
			switch value {
			case "yes", "true", "1":
				c.XDP = true
			case "no", "false", "0":
				c.XDP = false
			default:
				return c, bad()
			}
		case key == "conntrack-size":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || n > 1<<24 {
				return c, bad()
			}
			c.ConntrackSize = n
		case key == "log-buffer":
			n, err := strconv.Atoi(value)
			if err != nil || n < 4096 || n > 1<<30 {
				return c, bad()
			}
			c.LogBufferSize = n
		case key == "log-rate":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 || n > 1e9 {
				return c, bad()
			}
			c.LogRate = n
			if n == 0 {
				c.LogRate = -1
			}
		case key == "attach":
			switch value {
			case "tcx":
				c.Clsact = false
			case "clsact":
				c.Clsact = true
			default:
				return c, bad()
			}
		default:
			return c, fmt.Errorf("%s:%d: unknown key %q", path, line, key)
		}
	}
	return c, sc.Err()
}

// waitDuration converts iptables' -w value (-1 not given, 0 forever, else
// seconds) to a lock wait.
func waitDuration(w int) time.Duration {
	switch {
	case w < 0:
		return 0
	case w == 0:
		return state.WaitForever
	}
	return time.Duration(w) * time.Second
}

// liveOptions are the options of a command that touches the datapath.
func liveOptions(wait int, xdp bool) (live.Options, error) {
	c, err := LoadConfig()
	if err != nil {
		return live.Options{}, err
	}
	return live.Options{Wait: waitDuration(wait), XDP: xdp || c.XDP, Clsact: c.Clsact, ConntrackSize: c.ConntrackSize,
		LogBufferSize: c.LogBufferSize, LogRate: c.LogRate}, nil
}

// liveError prints an error of the datapath as iptables would print the
// failure, and returns the exit status: a rule the datapath cannot run is
// reported at its line ("line N failed"), a held lock as iptables reports
// it (status 4), the rest as a resource problem naming what failed.
func liveError(prog string, err error, env Env) int {
	var le *state.LockError
	if errors.As(err, &le) {
		fmt.Fprint(env.Stderr, le.Message())
		return le.ExitStatus()
	}
	var re *plan.RuleError
	if errors.As(err, &re) && re.Line > 0 {
		msg, status := iptables.FormatError(prog, iptables.LineFailed(re.Line, re.Err))
		fmt.Fprint(env.Stderr, msg)
		return status
	}
	if errors.Is(err, os.ErrPermission) {
		fmt.Fprintf(env.Stderr, "%s v%s (%s): %v (you must be root)\n", prog, iptables.Version, iptables.Flavor, err)
		return iptables.ResourceProblem
	}
	fmt.Fprintf(env.Stderr, "%s v%s (%s): %v\n", prog, iptables.Version, iptables.Flavor, err)
	if errors.Is(err, plan.ErrNotInDatapath) || errors.Is(err, plan.ErrTooDeep) {
		return iptables.OtherProblem
	}
	return iptables.ResourceProblem
}
