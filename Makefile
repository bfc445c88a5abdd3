# bpftables build and test entry points.
GO ?= go

.PHONY: all build test
all: build

build:
	$(GO) build -o bin/bpftables ./cmd/bpftables

test:
	$(GO) vet ./...
	$(GO) test ./...
