package benchmarks

// Results is everything one run of the benchmark harness measured: what
// `make bench` writes as JSON beside benchmarks/RESULTS.md and draws the
// plots from. Each figure is the median of the run's interleaved rounds;
// Rounds keeps every round's value, so a reader sees the noise.
type Results struct {
	Machine Machine `json:"machine"`
	// Command is the command line that produced the results.
	Command string `json:"command"`
	// Quick is set for a smoke run (make bench-quick): small sizes, few
	// rounds, figures not for comparison.
	Quick bool `json:"quick"`

	Cost       []CostResult       `json:"cost"`
	Throughput []ThroughputResult `json:"throughput"`
	Load       []LoadResult       `json:"load"`
	Update     []UpdateResult     `json:"update"`
	Memory     []MemoryResult     `json:"memory"`
}

// Machine describes where the results were measured.
type Machine struct {
	Kernel  string `json:"kernel"`
	CPU     string `json:"cpu"`
	CPUs    int    `json:"cpus"`
	MemMiB  int    `json:"mem_mib"`
	Commit  string `json:"commit"`
	Dirty   bool   `json:"dirty"`
	Go      string `json:"go"`
	Started string `json:"started"` // RFC 3339
	// Tools are the versions of the other contenders' tools.
	Tools map[string]string `json:"tools"`
}

// ThroughputResult is one contender forwarding one generated ruleset's
// traffic from the client to the server namespace.
type ThroughputResult struct {
	Family    string `json:"family"`
	N         int    `json:"rules"`
	Contender string `json:"contender"`
	// PPS is the median packets per second that reached the server;
	// Rounds the value of each round.
	PPS    float64   `json:"pps"`
	Rounds []float64 `json:"rounds"`
	// Ratio is PPS over the no-firewall contender's PPS in the same run.
	Ratio float64 `json:"ratio_to_none"`
	// SentPPS is the median rate the client sent at; the traffic is what
	// the ruleset accepts, so PPS below it is loss.
	SentPPS float64 `json:"sent_pps"`
	// Flows is how many distinct packets the traffic cycles through.
	Flows int `json:"flows"`
	// Hook is where a bpftables contender ran on the firewall's
	// client-side link, as bpftables status shows it ("xdp xdp-native").
	Hook string `json:"hook,omitempty"`
	// Error says why the contender could not run the case, if it could
	// not; the figures are then zero.
	Error string `json:"error,omitempty"`
}

// LoadResult is the time a contender takes to load a whole generated
// ruleset with its own tool into an empty namespace.
type LoadResult struct {
	Family    string    `json:"family"`
	N         int       `json:"rules"`
	Contender string    `json:"contender"`
	Ms        float64   `json:"ms"` // median
	Rounds    []float64 `json:"rounds_ms"`
	Error     string    `json:"error,omitempty"`
}

// UpdateResult is the time a contender takes to make one small change -
// one rule, one Service - to a loaded ruleset of N rules, the way a user
// of the contender makes it (iptables-restore --noflush, nft -f with the
// change only).
type UpdateResult struct {
	Change    string    `json:"change"` // "one rule", "one Service", ...
	Family    string    `json:"family"`
	N         int       `json:"rules"`
	Contender string    `json:"contender"`
	Ms        float64   `json:"ms"` // median
	Rounds    []float64 `json:"rounds_ms"`
	Error     string    `json:"error,omitempty"`
}

// MemoryResult is the kernel memory of a loaded bpftables generation, as
// the kernel accounts it (memlock of each map and program).
type MemoryResult struct {
	Family   string `json:"family"`
	N        int    `json:"rules"`
	Programs int    `json:"programs"`
	Maps     int    `json:"maps"`
	// ProgBytes and MapBytes are the sums of the programs' and maps'
	// memlock figures.
	ProgBytes int64 `json:"prog_bytes"`
	MapBytes  int64 `json:"map_bytes"`
	// Insns is the programs' instruction count after the kernel's
	// rewriting (translated size / 8), Verified the instructions the
	// verifier processed.
	Insns    int64   `json:"insns"`
	Verified int64   `json:"verified_insns"`
	PerRule  float64 `json:"bytes_per_rule"`
}
