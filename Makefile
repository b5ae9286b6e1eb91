# Stele: Go implementation of the Stele covenant protocol as a worker pipeline.
# `make run` starts the embedded all-in-one; `make test` runs every test.

GO       ?= go
BIN      ?= bin
DATA     ?= .stele-data
ADDR     ?= 127.0.0.1:8080
# NATS_LISTEN, when set (e.g. make run NATS_LISTEN=127.0.0.1:4223), lets NATS
# clients (examples/nats, integrations) reach the all-in-one's server.
NATS_LISTEN ?=
FUZZTIME ?= 30s
FUZZCOUNT ?= 50000x
BENCHTIME ?= 1s
NATS_SERVER_VERSION ?= v2.15.2

.PHONY: all build run test test-short test-e2e bench fuzz fuzz-short lint tools clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	$(BIN)/gateway --embedded --data $(DATA) --addr $(ADDR) $(if $(NATS_LISTEN),--nats-listen $(NATS_LISTEN))

# tools installs what the end-to-end tests need beyond the Go toolchain:
# a current nats-server (the Debian one is too old), redis-server, and
# redis-cli (the Redis Cluster tests form their cluster with it).
tools:
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server redis-tools; }
	@test -x "$$($(GO) env GOPATH)/bin/nats-server" || $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

test: tools lint
	$(GO) test -race -count=1 -timeout 40m ./...
	$(MAKE) fuzz-short

test-short:
	$(GO) test -short -count=1 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./internal/core/...

# fuzz runs every fuzz target for FUZZTIME each.
fuzz:
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' internal | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz $$t $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) ./$$t || exit 1; \
	  done; \
	done

# fuzz-short is CI's brief pass. It budgets executions, not seconds: with a
# duration, Go 1.26's fuzz coordinator can report a spurious "context deadline
# exceeded" failure when -fuzztime expires on a busy machine (golang/go#75804,
# fixed in Go 1.27); a count has no deadline to race.
fuzz-short:
	$(MAKE) fuzz FUZZTIME=$(FUZZCOUNT)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod or go.sum is not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }

clean:
	rm -rf $(BIN)
