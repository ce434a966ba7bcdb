# otelcol-biz developer workflow. Tool versions are pinned in
# internal/tools/go.mod and run through `go tool`, fetched from the module proxy.
SHELL      := /bin/bash
GO         ?= go
GO_TOOL    := $(GO) tool -modfile=$(CURDIR)/internal/tools/go.mod
# Linters in their own tool module, so their dependencies never move ocb's or mdatagen's.
LINT_TOOL  := $(GO) tool -modfile=$(CURDIR)/internal/tools/lint/go.mod
BIN        := bin/otelcol-biz
DIST_DIR   := cmd/otelcol-biz
GENERATED  := components.go main.go main_others.go main_windows.go
CONFIGS    := $(wildcard config/*.yaml)
OVERLAYS   := $(wildcard config/overlays/*.yaml)
GOTEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: all build generate check-generated mdatagen test unit-test validate vet lint fmt run clean backends demo e2e fuzz

all: build

## build: compile the distribution into bin/otelcol-biz
build:
	$(GO) build -trimpath -ldflags "-s -w" -o $(BIN) ./$(DIST_DIR)

## generate: ocb main/components from builder-config.yaml, mdatagen for our components, tidy
generate:
	$(GO_TOOL) builder --config builder-config.yaml --skip-get-modules --skip-compilation
	gofmt -w $(addprefix $(DIST_DIR)/,$(GENERATED))
	$(MAKE) mdatagen
	$(GO) mod tidy -e

## mdatagen: regenerate internal/metadata, generated tests and documentation.md of our components
mdatagen:
	@for f in $$(find processor exporter connector extension receiver -name metadata.yaml -not -path '*/testdata/*' 2>/dev/null); do \
		echo "mdatagen $$f"; (cd $$(dirname $$f) && $(GO_TOOL) mdatagen metadata.yaml) || exit 1; \
	done

## check-generated: fail when cmd/otelcol-biz no longer matches builder-config.yaml
check-generated:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(GO_TOOL) builder --config builder-config.yaml --skip-get-modules --skip-compilation \
		--output-path $$tmp >/dev/null 2>&1 && \
	gofmt -w $$tmp/*.go && \
	for f in $(GENERATED); do \
		diff -u $(DIST_DIR)/$$f $$tmp/$$f || { echo "$(DIST_DIR)/$$f is stale: run 'make generate'"; exit 1; }; \
	done && echo "generated code matches builder-config.yaml"

## vet: go vet every package
vet:
	$(GO) vet ./...

## lint: golangci-lint with .golangci.yml (gofmt, govet, errcheck, staticcheck, revive, ...) and deadcode
lint:
	$(LINT_TOOL) golangci-lint run ./...
	@out=$$($(LINT_TOOL) deadcode -test ./...); if [ -n "$$out" ]; then echo "dead code (deadcode -test):"; echo "$$out"; exit 1; fi
	@echo "lint: clean"

## validate: `otelcol-biz validate` on every file in config/, and each overlay on gateway.yaml
# kubelet_stats with auth_type serviceAccount reads the pod's service-account
# CA when it is created, which validate does: off a cluster it is checked with
# auth_type none (every other key as shipped).
VALIDATE_OFF_CLUSTER := yaml:receivers::kubelet_stats::auth_type: none
# The secure overlays need their secrets set (empty ones fail startup, as
# they should); validate does not read the files.
VALIDATE_SECRETS := BIZ_TLS_CERT_FILE=server.pem BIZ_TLS_KEY_FILE=server.key BIZ_OTLP_BEARER_TOKEN=token \
	BIZ_KAFKA_CA_FILE=kafka-ca.pem BIZ_KAFKA_SASL_USERNAME=user BIZ_KAFKA_SASL_PASSWORD=password
validate: build
	@for c in $(CONFIGS); do \
		echo "validate $$c"; ./$(BIN) validate --config=$$c $(if $(VALIDATE_OFF_CLUSTER),'--config=$(VALIDATE_OFF_CLUSTER)') || exit 1; \
	done
	@for o in $(OVERLAYS); do \
		base=config/gateway.yaml; case $$o in *agent-*) base=config/agent.yaml;; esac; \
		echo "validate $$base + $$o"; env $(VALIDATE_SECRETS) ./$(BIN) validate --config=$$base --config=$$o '--config=$(VALIDATE_OFF_CLUSTER)' || exit 1; \
	done

## backends: real peers for the end-to-end tests, built into .cache/bin (pinned, idempotent)
backends:
	bash scripts/install-loki.sh
	bash scripts/install-jaeger.sh
	bash scripts/install-prometheus.sh

## unit-test: go test -race ./... (the e2e tests use the binary from `make build` and .cache/bin backends)
unit-test: build backends
	OTELCOL_BIZ_BIN=$(CURDIR)/$(BIN) $(GO) test $(GOTEST_FLAGS) ./...
	$(GO) test $(GOTEST_FLAGS) -tags bench ./test/bench

## fuzz: every fuzz target of a path that takes untrusted input, FUZZTIME each (bounded)
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	processor/bizdyeprocessor:FuzzConsumeTraces \
	processor/bizdyeprocessor:FuzzSnapshots \
	processor/spanguardprocessor:FuzzConsumeTraces \
	receiver/durablekafkareceiver:FuzzDecodeRecord \
	processor/logcorrelationprocessor:FuzzProcessLogs \
	processor/metricguardprocessor:FuzzGuardedPrometheus \
	processor/buckettunerprocessor:FuzzConvert \
	processor/gnnrootcause:FuzzConsume \
	internal/nesting:FuzzProtoExceeds \
	internal/nezha:FuzzReadTraces \
	internal/nezha:FuzzReadLogs \
	internal/nezha:FuzzReadMetrics
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh $(FUZZ_TARGETS)

## test: everything CI runs
test: check-generated lint validate unit-test fuzz bench-smoke

## demo: backends + agent + gateway + the demo shop under load, on loopback (Ctrl-C stops all)
demo: build backends
	bash scripts/demo.sh

## e2e: the end-to-end tests only (real backends, agent and gateway from config/)
e2e: build backends
	OTELCOL_BIZ_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -v ./test/e2e/

## run: build, then start the collector on its embedded default (config/local.yaml)
run: build
	./$(BIN)

clean:
	rm -rf bin data

## bench: A/B collector benchmarks on bin/otelcol-biz (test/bench, see BENCHMARKS.md): BENCH_ROUNDS rounds, results and profiles in .cache/bench
BENCH_ROUNDS ?= 3
bench: build
	$(GO) run -tags bench ./test/bench -rounds $(BENCH_ROUNDS)

## bench-smoke: one short round of every bench case (about 3 minutes), prints the table; no pass/fail on timings
bench-smoke: build
	$(GO) run -tags bench ./test/bench -smoke

.PHONY: bench bench-smoke
