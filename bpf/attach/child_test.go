package attach

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/cilium/ebpf"
)

// childEnv, when set, makes the test binary a child that does the
// childJob it holds (as JSON) and exits; see TestMain.
const childEnv = "BPFTABLES_ATTACH_TEST_CHILD"

// childJob is what a child process does: attach a program that drops the
// test's datagrams, counting them in slot 0 of the map pinned at Counts,
// at Hook of interface Ifindex of the namespace at NetNS, then exit.
type childJob struct {
	NetNS, Pins, Counts string
	Ifindex             int
	Hook                Hook
	Opts                Options
}

func runChild() int {
	var job childJob
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &job); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if err := job.run(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func (j childJob) run() error {
	counts, err := ebpf.LoadPinnedMap(j.Counts, nil)
	if err != nil {
		return err
	}
	defer counts.Close()
	typ, drop := ebpf.SchedCLS, int32(tcShot)
	if j.Hook == XDP {
		typ, drop = ebpf.XDP, xdpDrop
	}
	prog, err := ebpf.NewProgram(udpProgramSpec(typ, "bpftables_child", counts, 0, drop))
	if err != nil {
		return err
	}
	defer prog.Close()
	ns, err := OpenNS(j.NetNS, j.Pins)
	if err != nil {
		return err
	}
	defer ns.Close()
	a, err := ns.Attach(j.Ifindex, j.Hook, prog, j.Opts)
	if err != nil {
		return err
	}
	fmt.Println(a)
	return nil
}

// inChild runs the job in a child process and waits for it to exit.
func inChild(tb testing.TB, job childJob) {
	tb.Helper()
	b, err := json.Marshal(job)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("child: %v: %s", err, out)
	}
	tb.Logf("child attached: %s", out)
}
