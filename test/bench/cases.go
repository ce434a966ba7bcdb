//go:build bench

package main

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// unit is what a run's CPU is divided by.
type unit string

const (
	unitSpans unit = "spans"
	unitLogs  unit = "logs"
)

// benchCase is one collector configuration under one load.
type benchCase struct {
	name     string // also the profile's file name
	group    string // cases of a group alternate within a round
	label    string // the table's row label
	config   string // path relative to the repository root
	flat     bool
	spanRate float64 // loadgen -span-rate; 0: the harness's -rate (default: as fast as accepted)
	logs     int     // log records per trace
	noSpan   bool    // only logs are sent
	unit     unit
	scrape   bool // scrape the prometheus exporter (as a Prometheus would)
	full     bool // the full gateway: kafka-dev, loadgen to Kafka, sinks
	otlpOut  bool // configs/traces-otlp-out.yaml merged over config: OTLP to the harness's sink
}

// cases returns every run of a round, grouped; gatewayConfig is the full
// gateway's configuration file. The trace pipelines run twice: as fast as
// the collector accepts (the method: sustained throughput, each at
// its own rate and hold size) and at one fixed rate for all (fixedSpans
// spans/s: the same offered load, so the same batch and hold sizes). The
// pass-through and the gateway also run, as fast as accepted, exporting
// OTLP to the harness's sink instead of to debug (issue 18's pass-through
// is OTLP -> batch -> OTLP; the gateway exports only the kept traces).
func cases(gatewayConfig string, fixedSpans float64) [][]benchCase {
	traces := func(load string, flat bool, rate float64, otlp bool) []benchCase {
		suffix, out := loadSuffix(load, rate), "debug"
		if otlp {
			suffix, out = suffix+"-otlp", "OTLP (sink)"
		}
		c := func(name, label, cfg string) benchCase {
			return benchCase{name: name + "-" + suffix, group: "traces-" + suffix, label: label,
				config: "test/bench/configs/" + cfg, flat: flat, spanRate: rate, otlpOut: otlp, unit: unitSpans}
		}
		cs := []benchCase{
			c("passthrough", "pass-through: OTLP -> batch -> "+out, "traces-passthrough.yaml"),
			c("gateway", "gateway trace path: biz_dye (sampling) -> "+out, "traces-gateway.yaml"),
		}
		if !otlp {
			cs = append(cs, c("stock", "stock: groupbytrace -> transform -> tail_sampling -> batch -> debug", "traces-stock.yaml"))
		}
		return cs
	}
	groups := [][]benchCase{
		traces("realistic", false, 0, false), traces("realistic", false, 0, true),
		traces("flat", true, 0, false), traces("flat", true, 0, true),
	}
	if fixedSpans > 0 {
		groups = append(groups, traces("realistic", false, fixedSpans, false), traces("flat", true, fixedSpans, false))
	}
	return append(groups, [][]benchCase{
		{
			{name: "logs-baseline", group: "logs", label: "no processor (baseline)", config: "test/bench/configs/logs-passthrough.yaml", logs: 8, noSpan: true, unit: unitLogs},
			{name: "logcorrelation", group: "logs", label: "log_correlation (key_value, json)", config: "test/bench/configs/logs-logcorrelation.yaml", logs: 8, noSpan: true, unit: unitLogs},
			{name: "ottl", group: "logs", label: "transform/OTTL (same extraction)", config: "test/bench/configs/logs-ottl.yaml", logs: 8, noSpan: true, unit: unitLogs},
		},
		{
			{name: "spanmetrics-buckettuner", group: "metrics", label: "span_metrics -> bucket_tuner -> prometheus", config: "test/bench/configs/spanmetrics-buckettuner.yaml", unit: unitSpans, scrape: true},
			{name: "spanmetrics", group: "metrics", label: "span_metrics -> prometheus", config: "test/bench/configs/spanmetrics.yaml", unit: unitSpans, scrape: true},
		},
		{
			{name: "gateway-full", group: "gateway-full", label: "full gateway config, fed from Kafka (kafka-dev)", config: gatewayConfig, logs: 2, unit: unitSpans, scrape: true, full: true},
		},
	}...)
}

// loadSuffix names a trace load: "realistic", or "realistic-20k" at a fixed rate.
func loadSuffix(load string, spanRate float64) string {
	if spanRate > 0 {
		return load + "-" + ftoa(spanRate/1000) + "k"
	}
	return load
}

// rotate returns the group's cases in round r's order, so each case runs
// first, second, ... equally often (drift on a shared machine cancels).
func rotate(g []benchCase, r int) []benchCase {
	out := make([]benchCase, 0, len(g))
	for i := range g {
		out = append(out, g[(i+r)%len(g)])
	}
	return out
}

// settings are the timings of a run.
type settings struct {
	warmup, window time.Duration
	decisionWait   time.Duration // biz_dye sampling.decision_wait = tail_sampling decision_wait
	dyeWait        time.Duration // biz_dye wait
	groupWait      time.Duration // groupbytrace wait_duration
	flush          time.Duration // span_metrics flush interval
	learnFor       time.Duration // bucket_tuner learn_for
	scrapeEvery    time.Duration
	rate           float64 // loadgen -rate (traces/s), 0 = as fast as accepted
	workers        int
	gatewaySpans   float64 // loadgen -span-rate into Kafka for the full gateway
	collectorEnv   string  // extra KEY=VALUE,... of every collector run (-collector-env)
}

// collectorEnv is the environment of one collector run: the harness's own
// minus anything that would change the runtime or the configs (GOGC,
// GOMEMLIMIT, GOMAXPROCS, BIZ_*, BENCH_*), plus vars.
func collectorEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "GOGC", k == "GOMEMLIMIT", k == "GOMAXPROCS", strings.HasPrefix(k, "BIZ_"), strings.HasPrefix(k, "BENCH_"):
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// withExtraEnv adds -collector-env's KEY=VALUE pairs (runtime tuning under
// test, such as GOGC=200) to vars.
func withExtraEnv(vars map[string]string, extra string) map[string]string {
	for _, kv := range strings.Split(extra, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k != "" {
			vars[k] = v
		}
	}
	return vars
}

// ports are the loopback endpoints of one run.
type ports struct {
	otlp, otlpHTTP, pprof, telemetry, prometheus, health, kafka string
}

func newPorts() (ports, error) {
	var p ports
	for _, dst := range []*string{&p.otlp, &p.otlpHTTP, &p.pprof, &p.telemetry, &p.prometheus, &p.health, &p.kafka} {
		a, err := freeAddr()
		if err != nil {
			return p, err
		}
		*dst = a
	}
	return p, nil
}

// benchVars configure the harness's own configs (test/bench/configs).
func benchVars(p ports, s settings, sk *sinks) map[string]string {
	sinkAddr := ""
	if sk != nil {
		sinkAddr = sk.grpcAddr
	}
	return map[string]string{
		"BENCH_OTLP_SINK_ENDPOINT":  sinkAddr,
		"BENCH_OTLP_GRPC_ENDPOINT":  p.otlp,
		"BENCH_PPROF_ENDPOINT":      p.pprof,
		"BENCH_TELEMETRY_PORT":      portOf(p.telemetry),
		"BENCH_PROMETHEUS_ENDPOINT": p.prometheus,
		"BENCH_DECISION_WAIT":       s.decisionWait.String(),
		"BENCH_DYE_WAIT":            s.dyeWait.String(),
		"BENCH_GROUP_WAIT":          s.groupWait.String(),
		"BENCH_FLUSH_INTERVAL":      s.flush.String(),
		"BENCH_LEARN_FOR":           s.learnFor.String(),
	}
}

// gatewayVars point config/gateway.yaml's endpoints at the run's ports,
// kafka-dev and the sinks; its own defaults stay, except the waits in smoke.
func gatewayVars(p ports, s settings, sk *sinks, stateDir string) map[string]string {
	return map[string]string{
		"BIZ_OTLP_GRPC_ENDPOINT":         p.otlp,
		"BIZ_OTLP_HTTP_ENDPOINT":         p.otlpHTTP,
		"BIZ_PPROF_ENDPOINT":             p.pprof,
		"BIZ_TELEMETRY_HOST":             "127.0.0.1",
		"BIZ_TELEMETRY_PORT":             portOf(p.telemetry),
		"BIZ_PROMETHEUS_ENDPOINT":        p.prometheus,
		"BIZ_HEALTH_ENDPOINT":            p.health,
		"BIZ_KAFKA_BROKERS":              p.kafka,
		"BIZ_KAFKA_GROUP":                "bench",
		"BIZ_KAFKA_INITIAL_OFFSET":       "earliest",
		"BIZ_JAEGER_OTLP_ENDPOINT":       sk.grpcAddr,
		"BIZ_LOKI_OTLP_ENDPOINT":         "http://" + sk.httpAddr + "/otlp",
		"BIZ_STATE_DIR":                  filepath.Join(stateDir, "state"),
		"BIZ_DATA_DIR":                   filepath.Join(stateDir, "data"),
		"BIZ_LOG_LEVEL":                  "warn",
		"BIZ_TAIL_DECISION_WAIT":         s.decisionWait.String(),
		"BIZ_DYE_WAIT":                   s.dyeWait.String(),
		"BIZ_SPANMETRICS_FLUSH_INTERVAL": s.flush.String(),
	}
}
