// Command bpftables is an iptables-compatible firewall whose datapath is
// eBPF.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bpftables: under construction")
	os.Exit(1)
}
