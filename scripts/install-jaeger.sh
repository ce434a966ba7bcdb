#!/usr/bin/env bash
# Builds the Jaeger v2 binary used by the end-to-end tests into
# .cache/bin/jaeger (git-ignored). Idempotent: skips the build when the binary
# already exists and reports the pinned version.
#
# The build goes through the wrapper module in scripts/backends/jaeger, whose
# go.mod requires github.com/jaegertracing/jaeger and repeats Jaeger's own
# replace directive (those of a dependency are not inherited).
# The UI is the placeholder page (the real UI assets are not in the Go module);
# the HTTP/gRPC query APIs are complete.
set -euo pipefail

JAEGER_VERSION="2.13.0"          # Jaeger v2 release ...
JAEGER_MODULE_VERSION="v1.76.0"  # ... published as this Go module version
JAEGER_MODULE="github.com/jaegertracing/jaeger"
JAEGER_PKG="${JAEGER_MODULE}/cmd/jaeger"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WRAPPER_DIR="scripts/backends/jaeger"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/jaeger"

log() { echo "install-jaeger: $*" >&2; }

if [[ -x "$BIN" ]] && "$BIN" version 2>/dev/null | grep -q "\"gitVersion\":\"v${JAEGER_VERSION}\""; then
	log "$BIN is already Jaeger v${JAEGER_VERSION}; nothing to do"
	exit 0
fi

command -v go >/dev/null || { log "go is not installed"; exit 1; }

# Some collector/contrib module versions Jaeger depends on are not answered by
# the checksum database here; the wrapper's committed go.sum pins them anyway.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}go.opentelemetry.io/collector,github.com/open-telemetry/opentelemetry-collector-contrib"

required="$(cd "$WRAPPER_DIR" && go list -m -f '{{.Version}}' "$JAEGER_MODULE")"
if [[ "$required" != "$JAEGER_MODULE_VERSION" ]]; then
	log "$WRAPPER_DIR/go.mod requires $JAEGER_MODULE $required, expected $JAEGER_MODULE_VERSION"
	exit 1
fi

mkdir -p "$BIN_DIR"
tmp="$BIN.tmp.$$"
trap 'rm -f "$tmp"' EXIT

# Same version stamping as Jaeger's Makefile (scripts/makefiles/BuildInfo.mk).
vprefix="${JAEGER_MODULE}/internal/version"
ldflags="-s -w -X ${vprefix}.latestVersion=v${JAEGER_VERSION}"
ldflags+=" -X ${vprefix}.commitSHA=${JAEGER_MODULE_VERSION}"
ldflags+=" -X ${vprefix}.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"

log "building $JAEGER_PKG@$JAEGER_MODULE_VERSION (Jaeger v${JAEGER_VERSION}) -> $BIN (takes several minutes)"
start=$(date +%s)
(
	cd "$WRAPPER_DIR"
	# go.sum is committed; -mod=mod only lets go fill in anything missing.
	CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" \
		go build -trimpath -ldflags "$ldflags" -o "$tmp" "$JAEGER_PKG"
)
mv -f "$tmp" "$BIN"
log "built in $(( $(date +%s) - start ))s: $("$BIN" version 2>/dev/null)"
