package state

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// nsID is a namespace's identity as stat(2) of its /proc/<pid>/ns file
// reports it.
type nsID struct{ dev, ino uint64 }

func mountNS(pid string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+pid+"/ns/mnt", &st); err != nil {
		return nsID{}, err
	}
	return nsID{st.Dev, st.Ino}, nil
}

// parentPID reads the PPid line of /proc/<pid>/status; 0 means none (the
// top of this PID namespace) or gone.
func parentPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("PPid:")); ok {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n
		}
	}
	return 0
}

// outermostMountNS returns the process ID of the highest ancestor whose
// mount namespace we can open and that is not ours, or 0 when our mount
// namespace is the outermost one we can reach. Ancestors we may not inspect
// (here, PID 1) are passed over: the walk goes on to their parents.
//
// Highest rather than nearest: under nested `ip netns exec` the nearest
// other namespace is itself a throwaway one.
func outermostMountNS() (int, error) {
	self, err := mountNS("self")
	if err != nil {
		return 0, fmt.Errorf("own mount namespace: %w", err)
	}
	outer := 0
	for pid := parentPID(os.Getpid()); pid > 0; pid = parentPID(pid) {
		id, err := mountNS(strconv.Itoa(pid))
		if err != nil {
			continue
		}
		if id != self {
			outer = pid
		} else {
			outer = 0
		}
	}
	return outer, nil
}

// inMountNS runs f on a thread of its own that has entered the mount
// namespace of process pid. Go cannot move a whole process into another
// mount namespace (setns(CLONE_NEWNS) refuses a task that shares its
// filesystem context with other threads), but one locked thread can, once
// unshare(CLONE_FS) has given it a context of its own. The thread is never
// unlocked, so the runtime ends it when f returns instead of reusing it.
func inMountNS(pid int, f func() error) error {
	ns, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	if err != nil {
		return fmt.Errorf("mount namespace of process %d: %w", pid, err)
	}
	defer ns.Close()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			done <- fmt.Errorf("unshare CLONE_FS: %w", err)
			return
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			done <- fmt.Errorf("enter mount namespace of process %d: %w", pid, err)
			return
		}
		done <- f()
	}()
	return <-done
}
