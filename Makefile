# The two commands of the README: `make dev` and `make test`.
GO ?= go
PKGS := ./...
# A pipe fails when go test does, not only when its reader does.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec

.PHONY: dev test check fuzz deps-dev deps-test build vet bench clean

dev: deps-dev build ## run EventOps on its embedded default (broker, private PostgreSQL, all stages, API on :8088)
	bin/eventops dev

test: deps-test vet ## run the whole test suite under the race detector, with its real parts; a skipped test fails the run
	$(GO) test -race -count=1 -timeout 25m -json $(PKGS) | $(GO) run ./scripts/noskip

check: ## the tests that need no broker, PostgreSQL or browser (-short), in seconds
	$(GO) test -short -count=1 $(PKGS)

FUZZTIME ?= 1m
fuzz: ## the property tests at their full count, then every fuzz target for FUZZTIME each
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

deps-dev:
	scripts/deps.sh dev

deps-test:
	scripts/deps.sh test

build: ## compile bin/eventops
	@echo "compiling bin/eventops (the first build takes a minute or two; later ones a few seconds)"
	$(GO) build -buildvcs=auto -o bin/eventops ./cmd/eventops

# vet builds with the race detector's settings: its compile of every package
# is then the one the race run of make test uses, not a second one.
vet:
	$(GO) vet -race $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

bench: deps-dev ## the full benchmark (ceilings, pipeline capacity, latency); see BENCHMARKS.md
	$(GO) run ./cmd/eventops bench

clean:
	rm -rf bin .eventops
