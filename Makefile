# bpftables: build, demo and test entry points.
GO ?= go
BIN := bin/bpftables

.PHONY: all build demo test deps fuzz bench bench-quick clean
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

# bpftables side by side with iptables-legacy, iptables-nft and nftables:
# per-packet cost, throughput, load, update and memory, written to
# benchmarks/RESULTS.md, benchmarks/results.json and benchmarks/plots/
# (needs root; some 10 minutes on 2 CPUs - run it on a quiet machine).
bench: deps build
	$(GO) run ./benchmarks/cmd/bench -bin $(BIN) -out benchmarks

# The smoke run: small rulesets, short rounds, written to a temporary
# directory so that the committed report stays. make test runs it too
# (TestQuickRun in benchmarks/cmd/bench).
bench-quick: deps build
	@dir=$$(mktemp -d); \
	$(GO) run ./benchmarks/cmd/bench -quick -bin $(BIN) -out $$dir && \
	echo "smoke run written to $$dir"

# A longer fuzz run of the restore parser (FUZZTIME=10m by default).
FUZZTIME ?= 10m
fuzz:
	$(GO) test ./translator/iptables -run '^$$' -fuzz FuzzRestore -fuzztime $(FUZZTIME) -timeout 0

clean:
	rm -rf bin .cache
