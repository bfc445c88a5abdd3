# bpftables: build, demo and test entry points.
GO ?= go
BIN := bin/bpftables

.PHONY: all build demo test deps fuzz bench-cost clean
all: build

build:
	$(GO) build -o $(BIN) ./cmd/bpftables
	ln -sf bpftables bin/iptables-restore
	ln -sf bpftables bin/ip6tables-restore
	ln -sf bpftables bin/iptables-save
	ln -sf bpftables bin/ip6tables-save

# The main job on the built-in default: a client - firewall - server
# topology in network namespaces, the demo ruleset loaded into the
# firewall's eBPF datapath, traffic judged, counters from iptables-save -c.
demo: build
	./$(BIN) demo

# Installs what the tests need (idempotent) and runs every test; prints
# the iptables conformance table at the end.
test: deps
	$(GO) vet ./...
	@mkdir -p .cache
	BPFTABLES_CONFORMANCE_REPORT=$(CURDIR)/.cache/conformance.txt $(GO) test -count=1 ./...
	@cat .cache/conformance.txt

deps:
	./.ci/install-deps

# Per-packet cost and load time of generated rulesets, written to
# benchmarks/RESULTS.md (needs root; takes a few minutes).
bench-cost:
	$(GO) run ./benchmarks/cmd/cost -rounds 5 -md benchmarks/RESULTS.md

# A longer fuzz run of the restore parser (FUZZTIME=10m by default).
FUZZTIME ?= 10m
fuzz:
	$(GO) test ./translator/iptables -run '^$$' -fuzz FuzzRestore -fuzztime $(FUZZTIME) -timeout 0

clean:
	rm -rf bin .cache
