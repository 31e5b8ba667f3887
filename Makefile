# The two commands a new user needs: `make run` and `make test`.
# Everything else here is what those two are made of.

SHELL         := bash
GO            ?= go
VERSION       ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOBIN         := $(shell $(GO) env GOPATH)/bin
STATICCHECK   := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2

# testcontainers on this machine: no registry to pull its reaper from, and a
# /.dockerenv that would make it dial the default gateway instead of the
# ports mapped on localhost. `?=` so a user can override both.
export TESTCONTAINERS_RYUK_DISABLED ?= true
export TESTCONTAINERS_HOST_OVERRIDE ?= localhost

UNIT_PKGS = $(shell $(GO) list ./... | grep -v /integration)

# tasks/ is a module of its own (tasks/go.mod: producers importing it get
# asynq and the standard library only), which the root's ./... does not
# match: every step that covers ./... runs in each of these directories.
MODULES = . tasks

# Every fuzz target, as package-directory:Target. `make test-fuzz` runs each
# for FUZZTIME on top of its checked-in seeds (testdata/fuzz/<Target>), from
# the package's directory so that the module around it (tasks/ or the root)
# is the one that builds it; plain `go test` runs the seeds alone.
FUZZ_TARGETS = \
	./tasks:FuzzDecodePhotoDelete ./tasks:FuzzDecodeUserMerge ./tasks:FuzzDecodeUserErase \
	./tasks:FuzzDecodeAssetsSweep ./internal/taskscheck:FuzzCheckID ./internal/taskscheck:FuzzStorageKey \
	./internal/api:FuzzFiling ./internal/storage:FuzzValidateKey \
	./internal/skeys:FuzzSeg ./internal/erasure:FuzzVerify
FUZZTIME ?= 4s

# staticcheck keeps its analysis between runs here (its default is the
# user's cache directory, which a fresh CI home loses): a second lint on an
# unchanged tree takes seconds, not minutes.
export STATICCHECK_CACHE ?= $(HOME)/.cache/staticcheck

.PHONY: run build test test-unit test-fuzz test-hostile test-integration test-faults images bench lint redis-server chromium clean

## run: the whole service in one process on embedded defaults (Ctrl-C stops it)
run:
	$(GO) run ./cmd/lifecycle dev --log-format console

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/lifecycle ./cmd/lifecycle

## test: lint, unit tests, fuzzing, integration tests, then the fault suite (builds images, installs what is missing)
test: lint test-unit test-fuzz test-hostile test-integration test-faults

test-unit: redis-server
	@echo "test-unit: go test -race on $(words $(UNIT_PKGS)) packages and the tasks module: a few minutes; a line per package as it finishes"
	cd tasks && $(GO) test -race -count=1 -timeout 5m ./...
	$(GO) test -race -count=1 -timeout 10m $(UNIT_PKGS)

## test-fuzz: each fuzz target for FUZZTIME (about a minute in all). On a
## busy machine Go's fuzz coordinator can end a run with "context deadline
## exceeded" and no failing input (golang/go#48127-style); such a run is tried
## once more and says so. A real finding names its input and fails at once.
test-fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		out=$$(cd $${t%%:*} && $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) . 2>&1) && { echo "$$out" | tail -1; continue; }; \
		echo "$$out"; \
		if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input'; then \
			echo "fuzz $${t#*:}: the fuzz engine timed out without a finding; trying once more"; \
			(cd $${t%%:*} && $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) .); \
		else exit 1; fi; \
	done

## test-hostile: the hostile corpus against the real binary in dev mode
## (no Docker); prints "N tried, N refused cleanly, 0 touched state"
test-hostile:
	$(GO) test -count=1 -timeout 5m -v -run '^TestHostileCorpus$$' ./integration/

# Most integration tests spend their time waiting (leases, upstream latency,
# retries' backoff), not computing: those marked t.Parallel run INTEGRATION_PARALLEL
# at a time. Tests that compare throughput stay serial.
INTEGRATION_PARALLEL ?= 4

# A failed run's last lines are container logs; $(call failures,LOG) prints
# again, at the end, each failed test and the lines its assertions wrote, so
# a CI log's tail says what failed.
define failures
{ echo "FAILED: these tests, with what they reported (the whole log is above):"; \
  grep -E -- '^[[:space:]]*--- FAIL|^[[:space:]]+[A-Za-z0-9_]+\.go:[0-9]+: ' $(1) | tail -n 80; exit 1; }
endef

test-integration: images chromium
	@echo "test-integration: real processes, Redis and S3 containers: several minutes; a line when the package finishes (-v for each test)"
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	$(GO) test -count=1 -timeout 20m -parallel $(INTEGRATION_PARALLEL) -skip '^TestHostileCorpus$$' $$($(GO) list ./integration/... | grep -v /integration/faults) 2>&1 | tee $$log; \
	[ $${PIPESTATUS[0]} -eq 0 ] || $(call failures,$$log)

## test-faults: the fault suite (integration/faults): worker and Redis
## kills, upstream storms, poison tasks... against real processes and
## containers; each scenario prints one line starting "fault "
test-faults: redis-server images
	@echo "test-faults: eight scenarios side by side, 1.5 to 3 minutes; one 'fault <scenario>: ...' line each"
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	$(GO) test -count=1 -timeout 20m -v ./integration/faults/ 2>&1 | tee $$log; \
	[ $${PIPESTATUS[0]} -eq 0 ] || $(call failures,$$log)

## images: build every container image locally (deploy/images/build.sh)
images:
	@echo "images: building lifecycle:dev, lifecycle-redis:dev, lifecycle-s3:dev (deploy/images/build.sh)"
	bash deploy/images/build.sh

## bench: the performance table (bench/README.md): each figure against its
## reference in one run, printed and written to bench/results.json
## (BENCH_ARGS=-bench.quick for a quick try; -bench.s3=false without docker).
## The size and memory benchmarks of single packages:
## go test -run '^$$' -bench . -benchmem ./internal/...
BENCH_ARGS ?=
bench: redis-server images
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkTable$$' -benchtime 1x -timeout 15m ./bench -args $(BENCH_ARGS)

## lint: gofmt, go vet, staticcheck (installed with go install when missing)
lint: $(STATICCHECK)
	@echo "lint: gofmt"
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	@echo "lint: go vet ./... in $(MODULES) (compiles every package: a minute or more on a busy machine)"
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
	@echo "lint: staticcheck ./... in $(MODULES) (the first run analyses the dependencies too: minutes; then cached in $(STATICCHECK_CACHE))"
	@set -e; for m in $(MODULES); do (cd $$m && $(STATICCHECK) ./...); done
	@echo "lint: clean"

## redis-server: Debian's redis-server, installed when missing: unit tests
## run Lua scripts against a real Redis, not only miniredis
redis-server:
	@bash deploy/images/need-redis-server.sh make

## chromium: Debian's chromium, installed when missing: the console's
## browser tests drive it (integration/console_test.go)
chromium:
	@bash deploy/images/need-chromium.sh make

$(STATICCHECK):
	@echo "lint: staticcheck is missing: go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)"
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean:
	rm -rf bin .lifecycle
