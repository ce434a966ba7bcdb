#!/usr/bin/env bash
# `make demo`: the whole otelcol-biz mission on one machine, on loopback:
#   demo shop --OTLP--> agent (config/agent.yaml + overlays/agent-local.yaml)
#     --Kafka (kafka-dev)--> gateway (config/gateway.yaml) --> Jaeger, Loki, Prometheus
# Ctrl-C stops everything this script started (by PID). Logs and data live in
# .cache/demo/. Faults for the shop: DEMO_FLAGS="-fault-latency=payment:300ms"
# (see `go run ./cmd/demo -h`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN="$ROOT/.cache/demo"
BIN="$ROOT/.cache/bin"
mkdir -p "$RUN"
pids=()
cleanup() {
	trap - EXIT INT TERM
	echo
	echo "demo: stopping ${#pids[@]} processes"
	# newest first (the shop flushes into the agent, the agent into Kafka...)
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
	for _ in $(seq 1 20); do # bounded: 10 s, then SIGKILL
		alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[[ $alive == 0 ]] && return
		sleep 0.5
	done
	for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# start NAME CMD...: runs CMD in the background with its output in $RUN/NAME.log
start() {
	local name=$1
	shift
	"$@" >"$RUN/$name.log" 2>&1 &
	pids+=("$!")
	echo "demo: started $name (pid $!, log $RUN/$name.log)"
}

# wait_http NAME URL: bounded wait (60 s) for URL to answer 200, failing at
# once if the process started last has died
wait_http() {
	for _ in $(seq 1 120); do
		if curl -fs -o /dev/null "$2"; then return 0; fi
		if ! kill -0 "${pids[-1]}" 2>/dev/null; then
			echo "demo: $1 exited; see $RUN/$1.log" >&2
			tail -5 "$RUN/$1.log" >&2
			exit 1
		fi
		sleep 0.5
	done
	echo "demo: $1 did not come up ($2); see $RUN/$1.log" >&2
	exit 1
}

go build -o "$BIN/kafka-dev" ./cmd/kafka-dev
go build -o "$BIN/demo" ./cmd/demo

start kafka "$BIN/kafka-dev" -port 9092
start jaeger "$BIN/jaeger" --config scripts/backends/jaeger/jaeger-local.yaml
LOKI_DATA_DIR="$RUN/loki" start loki "$BIN/loki" -config.file=scripts/backends/loki/loki-local.yaml -config.expand-env=true
cat >"$RUN/prometheus.yml" <<PROM
global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: otelcol-biz-exporter
    static_configs: [{targets: ["127.0.0.1:8889"]}]
  - job_name: otelcol-biz-internal
    static_configs: [{targets: ["127.0.0.1:8888", "127.0.0.1:28888"]}]
PROM
start prometheus "$BIN/prometheus" --config.file="$RUN/prometheus.yml" --storage.tsdb.path="$RUN/prometheus" \
	--web.listen-address=127.0.0.1:9090 --enable-feature=native-histograms
wait_http jaeger http://127.0.0.1:13133/status
wait_http loki http://127.0.0.1:3100/ready
wait_http prometheus http://127.0.0.1:9090/-/ready

(cd "$RUN" && BIZ_KAFKA_BROKERS=127.0.0.1:9092 BIZ_KAFKA_INITIAL_OFFSET=earliest \
	BIZ_OTLP_GRPC_ENDPOINT=127.0.0.1:24317 BIZ_OTLP_HTTP_ENDPOINT=127.0.0.1:24318 \
	BIZ_HEALTH_ENDPOINT=127.0.0.1:13134 BIZ_PPROF_ENDPOINT=127.0.0.1:1778 BIZ_STATE_DIR="$RUN/gateway-state" \
	BIZ_TAIL_DECISION_WAIT=${BIZ_TAIL_DECISION_WAIT:-5s} BIZ_BUCKET_TUNER_LEARN_FOR=${BIZ_BUCKET_TUNER_LEARN_FOR:-1m} \
	exec "$ROOT/bin/otelcol-biz" --config="$ROOT/config/gateway.yaml") >"$RUN/gateway.log" 2>&1 &
pids+=("$!")
echo "demo: started gateway (pid $!, log $RUN/gateway.log)"
wait_http gateway http://127.0.0.1:13134/

(cd "$RUN" && BIZ_KAFKA_BROKERS=127.0.0.1:9092 BIZ_HEALTH_ENDPOINT=127.0.0.1:13135 BIZ_TELEMETRY_PORT=28888 \
	BIZ_PPROF_ENDPOINT=127.0.0.1:1779 BIZ_QUEUE_DIR="$RUN/agent-queue" BIZ_CHECKPOINT_DIR="$RUN/agent-checkpoints" BIZ_POD_LOG_DIR="$RUN/pods" \
	exec "$ROOT/bin/otelcol-biz" --config="$ROOT/config/agent.yaml" --config="$ROOT/config/overlays/agent-local.yaml") >"$RUN/agent.log" 2>&1 &
pids+=("$!")
echo "demo: started agent (pid $!, log $RUN/agent.log)"
wait_http agent http://127.0.0.1:13135/

# shellcheck disable=SC2086 # DEMO_FLAGS is a list of flags
start shop "$BIN/demo" -endpoint=127.0.0.1:4317 -orders=0 -rate="${DEMO_RATE:-5}" ${DEMO_FLAGS:-}

cat <<INFO

otelcol-biz demo is running (Ctrl-C stops everything):
  Jaeger    http://127.0.0.1:16686/api/traces?service=order&tags={"biz.order_id":"ORD-1"}
            (API; the Go module has no UI files: use Grafana from docker/ for the UI)
  Prometheus http://127.0.0.1:9090  e.g. histogram_quantile(0.99, sum by (le, service_name) (rate(traces_span_metrics_duration_seconds_bucket[1m])))
  Loki      http://127.0.0.1:3100/loki/api/v1/query_range?query={service_name="payment"}
  orders    tail -f $RUN/shop.log
INFO
wait "${pids[-1]}"
