// Package state is where a network namespace's BPF objects live so that
// they outlive the process that loaded them and the next bpftables process
// for the namespace finds them again, and the lock that serialises the
// writers of a namespace.
//
// # Where the bpffs is
//
// Every bpftables process for a namespace must reach the same bpffs, whether
// it runs in the host's mount namespace or under `ip netns exec`. That
// command unshares the mount namespace, makes / a slave, remounts /sys (so a
// bpffs on /sys/fs/bpf is hidden) and then execs the command, so the
// process's parent is still in the outer mount namespace. Anything mounted
// inside the throwaway namespace vanishes with it. What was found on the
// machine this was written on (Linux 6.18): / is a private mount, so a mount
// made in the host after an `ip netns exec` namespace was copied does not
// propagate into it; a bind mount from another mount namespace is refused
// (EINVAL, whether the source is reached through /proc/<pid>/root or an open
// file); /proc/1 cannot be read (permission denied), while the parent's
// /proc/<pid>/ns/mnt can.
//
// So the decision is taken in the outermost mount namespace bpftables
// reaches: that of the highest ancestor process whose mount namespace can be
// opened (PID 1 and other unreadable ancestors are passed over). If that is
// not the process's own, one locked OS thread enters it: Go cannot move a
// whole process (setns(CLONE_NEWNS) refuses a task sharing its filesystem
// context), but a thread can after unshare(CLONE_FS), and it is discarded
// afterwards, so neither nsenter nor a re-executed binary is needed. There
// Layout.locate applies the rule, in this order:
//
//  1. /run/bpftables/bpffs if it is a bpffs (statfs magic BPF_FS_MAGIC):
//     state that is there stays there;
//  2. else /sys/fs/bpf/bpftables if /sys/fs/bpf is a bpffs;
//  3. else a new bpffs mounted on /run/bpftables/bpffs, under a lock file so
//     that processes starting together mount one.
//
// The thread opens the chosen directory (O_PATH) before it ends. The process
// then reaches the directory under its own name when that names the same
// directory in its own mount namespace (same device and inode: the host, or
// an `ip netns exec` started after the mount), and otherwise through
// /proc/self/fd/<n>: path lookups through that file stay in the outer
// namespace's mount tree, and unlike /proc/<ppid>/root they keep working if
// the parent exits first.
//
// Processes that cannot see each other's ancestors (another PID namespace,
// a daemon reparented to an unreadable PID 1) decide in the namespace they
// reach and may not share state: run bpftables for a namespace from one
// side, or give a container the host's /run/bpftables.
//
// # Inside the bpffs
//
// Each network namespace has a directory named by its cookie
// (SO_NETNS_COOKIE), which unlike the namespace's inode number is never
// reused. It holds a marker, "netns": a device map holding the namespace's
// loopback device, which the kernel empties when the namespace is destroyed
// (see Root.Alive); Root.Collect removes directories whose marker says so.
// A generation is a subdirectory, made under a temporary name and put in
// place with Dir.Replace (rename(2) and renameat2's RENAME_EXCHANGE work on
// bpffs). bpffs refuses names containing a dot (they are reserved for its
// own files, maps.debug and progs.debug): "gen4-next", not "gen4.next".
//
// # The lock
//
// Writers of one namespace take Root.Lock, flock(2) on
// /run/bpftables/lock/<cookie>, with the -w semantics of iptables 1.8.13;
// a *LockError carries iptables' message and exit status.
//
// Everything here needs root and Linux 5.14 (SO_NETNS_COOKIE).
package state
