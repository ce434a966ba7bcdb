#!/usr/bin/env bash
# Runs each fuzz target (pkg:FuzzName arguments) for FUZZTIME.
#
# Go 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" when -fuzztime expires while a worker is mid-call, on a
# busy machine (golang/go#75804, fixed in Go 1.27): no input failed and none
# is written to testdata/fuzz. Such a run is retried once; any other failure,
# or a failing input, fails at once.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
for t in "$@"; do
	pkg=${t%%:*} fn=${t##*:}
	for attempt in 1 2; do
		echo "fuzz $pkg $fn ($FUZZTIME)"
		out=$(mktemp)
		"$GO" test "./$pkg" -run '^$' -fuzz "^$fn\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		flake=0
		if [ "$rc" -ne 0 ] && grep -q 'context deadline exceeded' "$out" &&
			! grep -Eq 'Failing input written|panic:|_test\.go:[0-9]+:' "$out"; then
			flake=1
		fi
		rm -f "$out"
		[ "$rc" -eq 0 ] && break
		if [ "$flake" -eq 1 ] && [ "$attempt" -eq 1 ]; then
			echo "fuzz $pkg $fn: the fuzztime deadline race (golang/go#75804, no failing input): once more"
			continue
		fi
		exit 1
	done
done
