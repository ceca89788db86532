# syncserver — a Firefox Sync 1.5 server in one Go binary.
#
#   make serve   build and run with ./syncserver.ini (sqlite, http://localhost:5000/)
#   make test    go vet + the whole test suite with the race detector
#   make lint    gofmt and go vet
#   make build   bin/syncserver
#   make mutants apply a fixed list of bugs, one at a time, to a copy of the
#                tree and check that the tests catch each (not run in CI)

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CONFIG  ?= ./syncserver.ini

.PHONY: all build serve test lint bench mutants clean

all: build

# The first build compiles sqlite (C, through cgo) and prints nothing for
# minutes: say so before, rather than look hung. (go list cannot tell a
# cached build from a fresh one, so the line is always printed.)
build:
	@echo "building bin/syncserver (the first build compiles sqlite through cgo: 2-3 minutes without output; later ones take seconds)"
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/syncserver ./cmd/syncserver

serve: build
	./bin/syncserver -config $(CONFIG)

# With a MySQL or PostgreSQL server to test against (.ci/databases starts
# them), the handler tests run once more on each.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	@if [ -n "$$SYNCSERVER_TEST_MYSQL_URI" ]; then echo "== handler tests on MySQL"; \
		SYNCSERVER_TEST_BACKEND=mysql $(GO) test -race -count=1 ./handlers/; fi
	@if [ -n "$$SYNCSERVER_TEST_POSTGRES_URI" ]; then echo "== handler tests on PostgreSQL"; \
		SYNCSERVER_TEST_BACKEND=postgres $(GO) test -race -count=1 ./handlers/; fi

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

mutants:
	GO=$(GO) $(GO) run ./scripts/mutants

clean:
	rm -rf bin
