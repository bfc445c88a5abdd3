module github.com/bpftables/bpftables

go 1.24
