#!/usr/bin/env bash
# Puts Debian's Prometheus 2.42 into .cache/bin/prometheus (git-ignored) for
# the end-to-end tests and the demo. The package is downloaded and only its
# binary extracted: installing it would start a system service listening on
# all interfaces. Idempotent; pinned to the Debian 12 package version.
set -euo pipefail

PROM_DEB_VERSION="2.42.0+ds-5+deb12u1"
PROM_VERSION="2.42.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/prometheus"
log() { echo "install-prometheus: $*" >&2; }

if [[ -x "$BIN" ]] && "$BIN" --version 2>&1 | grep -q "version ${PROM_VERSION}[+ ]"; then
	log "$BIN is already Prometheus ${PROM_VERSION}; nothing to do"
	exit 0
fi
command -v apt-get >/dev/null || { log "apt-get is needed (Debian package prometheus=${PROM_DEB_VERSION})"; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download "prometheus=${PROM_DEB_VERSION}" >/dev/null 2>&1; then
	log "package lists are stale: apt-get update"
	apt-get update -qq
	apt-get download "prometheus=${PROM_DEB_VERSION}"
fi
dpkg-deb -x prometheus_*.deb root
mkdir -p "$BIN_DIR"
install -m 0755 root/usr/bin/prometheus "$BIN"
log "installed: $("$BIN" --version 2>&1 | head -n1)"
