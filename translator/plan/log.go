package plan

import "fmt"

// LogKind tells the LOG target from the NFLOG target.
type LogKind uint8

// Log kinds.
const (
	LogSyslog LogKind = 1 // LOG: a kernel-log style line
	LogNFLOG  LogKind = 2 // NFLOG: the same line, tagged with the group
)

// String returns "LOG" or "NFLOG".
func (k LogKind) String() string {
	if k == LogNFLOG {
		return "NFLOG"
	}
	return "LOG"
}

// LogSpec is what a LOG or NFLOG rule sends with each packet it logs: the
// datapath copies it into the event, so an event read after a swap still
// says what the rule that wrote it said.
type LogSpec struct {
	Kind   LogKind
	Level  uint8  // LOG: the syslog level
	Flags  uint8  // LOG: the XT_LOG_* flags
	Group  uint16 // NFLOG: --nflog-group
	Size   uint32 // NFLOG: --nflog-size, with HasSize
	Prefix string // at most LogPrefixSize bytes
	// HasSize says --nflog-size was given: the reader shows at most Size
	// bytes of the packet.
	HasSize bool
}

// LogPrefixSize is the most bytes of a prefix an event carries: NFLOG's
// (LOG's holds 29).
const LogPrefixSize = 64

// Logger is a target that logs the packet and lets it go on: LOG, NFLOG.
type Logger interface {
	LogSpec() LogSpec
}

func (s LogSpec) String() string {
	if s.Kind == LogNFLOG {
		return fmt.Sprintf("nflog group %d prefix %q", s.Group, s.Prefix)
	}
	return fmt.Sprintf("log level %d flags 0x%x prefix %q", s.Level, s.Flags, s.Prefix)
}
