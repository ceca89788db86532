# syncserver — a Firefox Sync 1.5 server in one Go binary.
#
#   make serve   build and run with ./syncserver.ini (sqlite, http://localhost:5000/)
#   make test    go vet + the whole test suite with the race detector
#   make lint    gofmt and go vet
#   make fuzz    run every fuzz target for FUZZTIME each (make test runs their seeds)
#   make build   bin/syncserver
#   make bench-report  the syncload scenarios against a fresh bin/syncserver
#                on loopback: one Markdown table (BENCH_DURATION per run,
#                BENCH_RUNS runs, medians; BENCH_OUT writes it to a file)
#   make mutants apply a fixed list of bugs, one at a time, to a copy of the
#                tree and check that the tests catch each (not run in CI)

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CONFIG  ?= ./syncserver.ini
FUZZTIME ?= 30s
# Each new interesting input is shrunk for up to this long (go test's
# default, 60s, can spend a whole FUZZTIME on one input).
FUZZMINIMIZE ?= 2s

.PHONY: all build serve test lint fuzz bench bench-report mutants clean static

# The release binary: linked statically (glibc), so it needs nothing but
# the kernel. netgo and osusergo keep the resolver and user lookups in Go
# (glibc's would need its shared NSS modules at run time), and
# sqlite_omit_load_extension drops sqlite's dlopen. -trimpath and no time
# stamp: the same commit gives the same bytes. ARCH=arm64 cross-compiles
# with Debian's gcc-aarch64-linux-gnu.
ARCH    ?= amd64
CC_amd64 ?= gcc
CC_arm64 ?= aarch64-linux-gnu-gcc
STATIC_TAGS := netgo osusergo sqlite_omit_load_extension
static:
	@mkdir -p dist/build/linux-$(ARCH)
	CGO_ENABLED=1 GOOS=linux GOARCH=$(ARCH) CC=$(CC_$(ARCH)) $(GO) build -trimpath \
		-tags '$(STATIC_TAGS)' -ldflags '$(LDFLAGS) -s -w -buildid= -extldflags -static' \
		-o dist/build/linux-$(ARCH)/syncserver ./cmd/syncserver

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

# go test -fuzz takes one target at a time, so loop over the packages that
# have Fuzz functions and over their targets. A failing input is written to
# the package's testdata/fuzz/FuzzXxx/; commit it, and plain go test (so
# make test) replays it from then on.
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for target in $$($(GO) test -list '^Fuzz' $$dir | grep '^Fuzz'); do \
			echo "== $$dir $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$dir; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Each scenario runs against its own fresh server, started and stopped
# by PID: about (2 s warm-up + BENCH_DURATION + set-up) per scenario and
# run. The table goes to stdout, or to BENCH_OUT.
BENCH_DURATION  ?= 10s
BENCH_RUNS      ?= 1
BENCH_CLIENTS   ?= 32
BENCH_SCENARIOS ?= lbheartbeat,s1,get100,post100,s6,token
BENCH_OUT       ?=
bench-report: build
	$(GO) build -trimpath -o bin/syncload ./cmd/syncload
	$(GO) run ./scripts/benchreport -server bin/syncserver -syncload bin/syncload \
		-d $(BENCH_DURATION) -runs $(BENCH_RUNS) -c $(BENCH_CLIENTS) \
		-scenarios $(BENCH_SCENARIOS) $(if $(BENCH_OUT),-o $(BENCH_OUT))

mutants:
	GO=$(GO) $(GO) run ./scripts/mutants

clean:
	rm -rf bin dist
