# syncserver — a Firefox Sync 1.5 server in one Go binary.
#
#   make serve   build and run with ./syncserver.ini (sqlite, http://localhost:5000/)
#   make test    go vet + the whole test suite with the race detector
#   make lint    gofmt and go vet
#   make fuzz    run every fuzz target for FUZZTIME each (make test runs their seeds)
#   make build   bin/syncserver
#   make dist    the release archives (linux amd64 and arm64, static) and
#                their SHA256SUMS in dist/
#   make deb     dist/syncserver_<version>_amd64.deb and _arm64.deb (Debian 12)
#   make image   the container image localhost/syncserver:VERSION and :latest
#                (podman, from Containerfile)
#   make test-packaging  build dist and the packages, then install and run what
#                they ship as users do (internal/packagetest; as root)
#   make test-arm64      the sqlite and handler tests for arm64 under qemu
#   make bench-report  the syncload scenarios against a fresh bin/syncserver
#                on loopback: one Markdown table (BENCH_DURATION per run,
#                BENCH_RUNS runs, medians; BENCH_OUT writes it to a file;
#                BENCH_VIA=standalone,nginx-fcgi,apache-fcgi adds rows through
#                nginx or Apache in front of syncserver -fcgi;
#                BENCH_PEER_CMD adds another Sync 1.5 server's rows, runs
#                alternated, and the ratio of the two)
#   make mutants apply a fixed list of bugs, one at a time, to a copy of the
#                tree and check that the tests catch each (not run in CI)

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The commit, and whether the tree had changes, for `syncserver version`.
# The go command stamps them itself only in a plain clone (not in a git
# worktree, nor in a tree without .git), so they are passed here as well.
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED ?= $(shell test -n "$$(git status --porcelain --untracked-files=no 2>/dev/null)" && echo true)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.modified=$(MODIFIED)
CONFIG  ?= ./syncserver.ini
FUZZTIME ?= 30s
# Each new interesting input is shrunk for up to this long (go test's
# default, 60s, can spend a whole FUZZTIME on one input).
FUZZMINIMIZE ?= 2s

.PHONY: all build serve test lint fuzz bench bench-report mutants clean static dist deb test-packaging test-arm64 image

# The release binary: linked statically (glibc), so it needs nothing but
# the kernel. netgo and osusergo keep the resolver and user lookups in Go
# (glibc's would need its shared NSS modules at run time), and
# sqlite_omit_load_extension drops sqlite's dlopen. -trimpath and no time
# stamp: the same commit gives the same bytes. -buildvcs=false: the commit
# comes from LDFLAGS, since the go command's own stamp would make a build in
# a clone differ from one in a worktree of the same commit.
# ARCH=arm64 cross-compiles with Debian's gcc-aarch64-linux-gnu.
ARCH    ?= amd64
CC_amd64 ?= gcc
CC_arm64 ?= aarch64-linux-gnu-gcc
STATIC_TAGS := netgo osusergo sqlite_omit_load_extension
# DIST is where static and dist write (dist/ unless a test builds a
# second copy elsewhere to compare).
DIST    ?= dist
static:
	@command -v $(CC_$(ARCH)) >/dev/null || { echo "make static ARCH=$(ARCH): no C compiler $(CC_$(ARCH));" \
		"on Debian: apt-get install $(if $(filter arm64,$(ARCH)),gcc-aarch64-linux-gnu libc6-dev-arm64-cross,gcc libc6-dev)"; exit 1; }
	@mkdir -p $(DIST)/build/linux-$(ARCH)
	CGO_ENABLED=1 GOOS=linux GOARCH=$(ARCH) CC=$(CC_$(ARCH)) $(GO) build -trimpath -buildvcs=false \
		-tags '$(STATIC_TAGS)' -ldflags '$(LDFLAGS) -s -w -buildid= -extldflags -static' \
		-o $(DIST)/build/linux-$(ARCH)/syncserver ./cmd/syncserver

# The release archives, one per architecture, and their SHA256SUMS. The
# same commit gives the same bytes: the files are taken from git (only
# tracked files of contrib/), sorted, stamped with the commit's time,
# owned by 0:0 with modes that do not depend on the umask, and gzip -n
# stores no name or time.
DIST_ARCHES ?= amd64 arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DIST_FILES := README.md syncserver.ini syncserver.fcgi.conf
dist:
	@set -e; for arch in $(DIST_ARCHES); do $(MAKE) --no-print-directory static ARCH=$$arch DIST=$(DIST); done
	@set -e; rm -f $(DIST)/syncserver-*-linux-*.tar.gz $(DIST)/SHA256SUMS; \
	for arch in $(DIST_ARCHES); do \
		name=syncserver-$(VERSION)-linux-$$arch; stage=$(DIST)/build/stage-$$arch; \
		rm -rf $$stage; mkdir -p $$stage/$$name; \
		cp $(DIST)/build/linux-$$arch/syncserver $(DIST_FILES) $$stage/$$name/; \
		files=$$(git ls-files contrib 2>/dev/null || find contrib -type f); \
		cp --parents $$files $$stage/$$name/; \
		tar -C $$stage --sort=name --format=gnu --mtime=@$(SOURCE_DATE_EPOCH) \
			--owner=0 --group=0 --numeric-owner --mode='u+rw,go+r,go-w,a+X' \
			-cf - $$name | gzip -n -9 > $(DIST)/$$name.tar.gz; \
		rm -rf $$stage; \
		echo "wrote $(DIST)/$$name.tar.gz"; \
	done; \
	cd $(DIST) && sha256sum syncserver-$(VERSION)-linux-*.tar.gz > SHA256SUMS; cat SHA256SUMS

# The tests of what dist (and the packages built from its binaries)
# ship, run as a user runs them: internal/packagetest. They skip without
# SYNCSERVER_TEST_DIST, so make test leaves them out.
test-packaging: dist deb image
	SYNCSERVER_TEST_DIST=$(abspath $(DIST)) SYNCSERVER_TEST_IMAGE=$(IMAGE):latest $(GO) test -count=1 -v ./internal/packagetest/

# The sqlite backend's and the handlers' tests, cross-compiled for arm64
# and run under qemu-aarch64-static (no binfmt needed): linked statically
# with the release build's tags, so qemu needs no arm64 libraries.
# TestCrashDuringBatchCommits and TestCacheSeesAnotherProcess run their own
# test binary again as a child, which the kernel cannot execute without
# binfmt_misc; make test runs them.
ARM64_TEST_PKGS ?= ./db/sqlite/ ./handlers/
test-arm64:
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=$(CC_arm64) $(GO) test -count=1 \
		-tags '$(STATIC_TAGS)' -ldflags '-extldflags -static' \
		-exec qemu-aarch64-static -skip '^(TestCrashDuringBatchCommits|TestCacheSeesAnotherProcess)$$' $(ARM64_TEST_PKGS)

# The Debian packages dist/syncserver_<version>_<arch>.deb, built with
# dpkg-deb from the static binaries and packaging/deb/ (the version comes
# from git describe: packaging/deb/version).
DEB_ARCHES ?= amd64 arm64
deb:
	@set -e; for arch in $(DEB_ARCHES); do \
		$(MAKE) --no-print-directory static ARCH=$$arch; \
		GO=$(GO) packaging/deb/build $$arch; \
	done

# The container image, FROM scratch: the static binary and an empty /data
# owned by the image's user (10001). The build context is laid out here,
# in dist/build/image-linux-$(ARCH)/, so nothing else of the tree reaches
# the image. --format docker keeps the HEALTHCHECK (the OCI format has
# none); --timestamp, the commit's time, makes the same commit give the
# same layer and dates (the image ID still differs: buildah records its
# build container); --layers=false leaves no intermediate images behind.
# The test (internal/packagetest) takes the image it names with
# SYNCSERVER_TEST_IMAGE=$(IMAGE):latest, or builds its own.
IMAGE   ?= localhost/syncserver
IMAGE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image: static
	rm -rf dist/build/image-linux-$(ARCH)
	mkdir -p dist/build/image-linux-$(ARCH)/data
	chmod 0755 dist/build/image-linux-$(ARCH)/data
	cp dist/build/linux-$(ARCH)/syncserver dist/build/image-linux-$(ARCH)/syncserver
	podman build --format docker --layers=false --timestamp $(IMAGE_EPOCH) \
		--platform linux/$(ARCH) --build-arg VERSION=$(VERSION) \
		-f Containerfile -t $(IMAGE):$(VERSION) -t $(IMAGE):latest dist/build/image-linux-$(ARCH)

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
# Paths to the server: standalone, nginx-fcgi, apache-fcgi (comma-separated).
BENCH_VIA       ?= standalone
# Another Sync 1.5 server measured side by side: a command started with
# BENCH_PORT, BENCH_SECRET, BENCH_URL and BENCH_DIR set (docs/BENCHMARKS.md).
BENCH_PEER_CMD  ?=
BENCH_PEER_NAME ?= peer
bench-report: build
	$(GO) build -trimpath -o bin/syncload ./cmd/syncload
	$(GO) run ./scripts/benchreport -server bin/syncserver -syncload bin/syncload \
		-d $(BENCH_DURATION) -runs $(BENCH_RUNS) -c $(BENCH_CLIENTS) \
		-scenarios $(BENCH_SCENARIOS) -via $(BENCH_VIA) $(if $(BENCH_OUT),-o $(BENCH_OUT)) \
		$(if $(BENCH_PEER_CMD),-peer-cmd '$(BENCH_PEER_CMD)' -peer-name '$(BENCH_PEER_NAME)')

mutants:
	GO=$(GO) $(GO) run ./scripts/mutants

clean:
	rm -rf bin dist
