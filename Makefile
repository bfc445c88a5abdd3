# bpftables: build, demo and test entry points.
GO ?= go
BIN := bin/bpftables

.PHONY: all build demo test deps fuzz clean
all: build

build:
	$(GO) build -o $(BIN) ./cmd/bpftables
	ln -sf bpftables bin/iptables-restore
	ln -sf bpftables bin/ip6tables-restore

# The main job on the built-in default: check the example rulesets as
# iptables-restore --test does, print one canonically, judge probe packets.
demo: build
	./$(BIN) demo rulesets/examples

# Installs what the tests need (idempotent) and runs every test; prints
# the iptables conformance table at the end.
test: deps
	$(GO) vet ./...
	@mkdir -p .cache
	BPFTABLES_CONFORMANCE_REPORT=$(CURDIR)/.cache/conformance.txt $(GO) test -count=1 ./...
	@cat .cache/conformance.txt

deps:
	./.ci/install-deps

# A longer fuzz run of the restore parser (FUZZTIME=10m by default).
FUZZTIME ?= 10m
fuzz:
	$(GO) test ./translator/iptables -run '^$$' -fuzz FuzzRestore -fuzztime $(FUZZTIME) -timeout 0

clean:
	rm -rf bin .cache
