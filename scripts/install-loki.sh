#!/usr/bin/env bash
# Builds the Loki single binary used by the end-to-end tests into
# .cache/bin/loki (git-ignored). Idempotent: skips the build when the binary
# already exists and reports the pinned version.
#
# The build goes through the wrapper module in scripts/backends/loki, whose
# go.mod requires github.com/grafana/loki/v3 and repeats Loki's own
# replace/exclude directives (those of a dependency are not inherited).
set -euo pipefail

LOKI_VERSION="3.7.8"
LOKI_MODULE="github.com/grafana/loki/v3"
LOKI_PKG="${LOKI_MODULE}/cmd/loki"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WRAPPER_DIR="scripts/backends/loki"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/loki"

log() { echo "install-loki: $*" >&2; }

if [[ -x "$BIN" ]] && "$BIN" -version 2>/dev/null | grep -q "version ${LOKI_VERSION}[ ,]"; then
	log "$BIN is already Loki ${LOKI_VERSION}; nothing to do"
	exit 0
fi

command -v go >/dev/null || { log "go is not installed"; exit 1; }

required="$(cd "$WRAPPER_DIR" && go list -m -f '{{.Version}}' "$LOKI_MODULE")"
if [[ "$required" != "v${LOKI_VERSION}" ]]; then
	log "$WRAPPER_DIR/go.mod requires $LOKI_MODULE $required, expected v${LOKI_VERSION}"
	exit 1
fi

mkdir -p "$BIN_DIR"
tmp="$BIN.tmp.$$"
trap 'rm -f "$tmp"' EXIT

# Same flags as Loki's Makefile (static, stripped, version stamped).
vprefix="${LOKI_MODULE}/pkg/util/build"
ldflags="-s -w -X ${vprefix}.Version=${LOKI_VERSION} -X ${vprefix}.Branch=HEAD"
ldflags+=" -X ${vprefix}.Revision=v${LOKI_VERSION} -X ${vprefix}.BuildUser=install-loki.sh"
ldflags+=" -X ${vprefix}.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"

log "building $LOKI_PKG@v${LOKI_VERSION} -> $BIN (takes several minutes)"
start=$(date +%s)
(
	cd "$WRAPPER_DIR"
	# go.sum is committed; -mod=mod only lets go fill in anything missing.
	CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" \
		go build -trimpath -tags netgo -ldflags "$ldflags" -o "$tmp" "$LOKI_PKG"
)
mv -f "$tmp" "$BIN"
log "built in $(( $(date +%s) - start ))s: $("$BIN" -version | head -n1)"
