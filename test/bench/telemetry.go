//go:build bench

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metric names read from the collector's own telemetry (Prometheus text);
// a trailing _total is ignored, series of one name are summed.
const (
	metricSpansIn = "otelcol_receiver_accepted_spans"
	metricLogsIn  = "otelcol_receiver_accepted_log_records"
	// what the harness's sinks received (Jaeger spans, Loki request bytes)
	metricSinkSpans = "bench_sink_jaeger_spans"
	metricSinkBytes = "bench_sink_loki_bytes"
)

// watchedCounters are reported per run when present: they say whether a
// stateful pipeline ran in its normal mode (no early decisions, evictions
// or refusals) and how much it kept.
var watchedCounters = []string{
	"otelcol_receiver_refused_spans",
	"otelcol_receiver_refused_log_records",
	"otelcol_exporter_sent_spans",
	"otelcol_exporter_sent_log_records",
	"otelcol_processor_biz_dye_early_releases",
	"otelcol_processor_biz_dye_spans_sampled_out",
	"otelcol_processor_tail_sampling_sampling_trace_dropped_too_early",
	"otelcol_processor_groupbytrace_traces_evicted",
	"otelcol_kafka_receiver_unmarshal_failed_spans",
	metricSinkSpans,
	metricSinkBytes,
}

// watchedGauges are reported with their value at the window's end.
var watchedGauges = []string{
	"otelcol_receiver_durable_kafka_inflight_bytes",
	"otelcol_receiver_durable_kafka_lag",
	"otelcol_processor_biz_dye_held_spans",
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// scrape returns the sum of every series per metric name at url.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseProm(resp.Body)
}

func parseProm(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		rest := line[len(name):]
		if strings.HasPrefix(rest, "{") {
			rest = rest[strings.LastIndexByte(rest, '}')+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(name, "_total")] += v
	}
	return out, s.Err()
}

// fetch GETs url and discards the body (a Prometheus scrape, a profile).
func fetch(ctx context.Context, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{} // a profile takes its seconds: bounded by ctx
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
