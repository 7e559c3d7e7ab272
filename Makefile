# driftgate — every target loops over every go.mod of the go.work monorepo.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

MODULES := $(shell find . -name go.mod -not -path './.*' -not -path '*/testdata/*' -exec dirname {} \; | sort)
TOOLS_DIR ?= $(or $(DRIFTGATE_TOOLS_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/driftgate/tools)
export DRIFTGATE_TOOLS_DIR := $(TOOLS_DIR)
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
TEST_TIMEOUT ?= 40m
BENCHTIME ?= 1x
BIN := bin

.PHONY: all build build-check test lint vet staticcheck tidy-check tidy bench tools lab-up lab-down demo clean help chaos chaos-short

all: build

help:
	@echo "make demo   - build what the demo runs, start the lab, apply the example, run driftgate against it"
	@echo "make test   - install the lab tools (cached), then test every module against the real lab"
	@echo "make chaos  - the fault suite's long form (make chaos-short: the short form); prints the table"
	@echo "make build | build-check | lint | tidy-check | bench | tools | lab-up | lab-down | clean"

## build: compile every module, then the CLI and each service's own binary into bin/, then build-check.
build:
	@for m in $(MODULES); do echo "go build $$m"; (cd $$m && go build ./...); done
	@mkdir -p $(BIN)
	go build -o $(BIN)/driftgate ./cmd/driftgate
	@for s in services/*/cmd/*/; do [ -d "$$s" ] || continue; echo "go build $$s"; go build -o $(BIN)/ ./$$s; done
	@$(MAKE) --no-print-directory build-check

## build-check: each service builds on its own (GOWORK=off), as its image does, and imports no other service.
build-check:
	@./hack/build-check.sh

## test: every service builds on its own (build-check), then every module's tests, against an
## in-process JetStream and the local lab, then the fault suite's short form on its own (not beside
## the other lab tests: its rows are bounded in time), its table printed.
test: tools build-check
	@fail=""; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && CHAOS=off go test -count=1 -timeout $(TEST_TIMEOUT) ./...) || fail="$$fail $$m"; done; \
	echo "== the fault suite's short form (test/chaos)"; mkdir -p $(BIN); rm -f $(BIN)/chaos-short-table.txt; \
	(cd test && CHAOS=short CHAOS_TABLE=$(CURDIR)/$(BIN)/chaos-short-table.txt go test -count=1 -timeout 30m -run TestChaosLab ./chaos) || fail="$$fail test/chaos(short form)"; \
	if [ -f $(BIN)/chaos-short-table.txt ]; then cat $(BIN)/chaos-short-table.txt; fi; \
	if [ -n "$$fail" ]; then echo "FAILED:$$fail"; exit 1; fi; echo "all modules passed"

vet:
	@fail=0; for m in $(MODULES); do echo "go vet $$m"; (cd $$m && go vet ./...) || fail=1; done; exit $$fail

$(STATICCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) GOTOOLCHAIN=local go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	@fail=0; for m in $(MODULES); do echo "staticcheck $$m"; (cd $$m && $(STATICCHECK) ./...) || fail=1; done; exit $$fail

## lint: go vet plus a pinned staticcheck.
lint: vet staticcheck

## tidy-check: fail when a go.mod or go.sum is not tidy.
tidy-check:
	@for m in $(MODULES); do (cd $$m && go mod tidy -diff >/dev/null) || { echo "not tidy: $$m (run make tidy)"; exit 1; }; done; echo "all modules tidy"

tidy:
	@for m in $(MODULES); do (cd $$m && go mod tidy); done

## bench: every benchmark, figures printed (BENCHTIME=1x by default; e.g. BENCHTIME=20000x).
bench: tools
	@for m in $(MODULES); do echo "== go test -bench $$m"; (cd $$m && go test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout $(TEST_TIMEOUT) ./...); done

## chaos: the fault suite's long form (test/chaos): every service as its own process on a 3-node NATS
## cluster, every fault while work is in flight; prints the table (also written to bin/chaos-table.txt).
## CHAOS_FAULTS=substr,substr runs only those rows.
chaos: tools
	@mkdir -p $(BIN)
	cd test && CHAOS=long CHAOS_TABLE=$(CURDIR)/$(BIN)/chaos-table.txt go test -count=1 -timeout 90m -run TestChaosLab -v ./chaos

## chaos-short: the short form (each fault once, shorter outages).
chaos-short: tools
	@mkdir -p $(BIN)
	cd test && CHAOS=short CHAOS_TABLE=$(CURDIR)/$(BIN)/chaos-short-table.txt go test -count=1 -timeout 30m -run TestChaosLab -v ./chaos

## tools: the lab's pinned components, built once into $(TOOLS_DIR); Debian's chromium for the console's browser test.
tools:
	@./hack/tools.sh
	@./hack/chromium.sh >/dev/null

lab-up: tools
	@./hack/lab-up.sh

lab-down:
	@./hack/lab-down.sh

## demo: hack/demo.sh installs the tools (cached) and builds only the three binaries it runs.
demo:
	@./hack/demo.sh

clean:
	rm -rf $(BIN)
