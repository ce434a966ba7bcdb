//go:build bench

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is what one run measured over its window.
type sample struct {
	Case        string             `json:"case"`
	Round       int                `json:"round"`
	WindowS     float64            `json:"window_s"`
	CPUS        float64            `json:"cpu_s"`
	Spans       float64            `json:"spans"`
	Logs        float64            `json:"logs"`
	CPUPerM     float64            `json:"cpu_s_per_million_units"`
	UnitsPerS   float64            `json:"units_per_s"`
	SpansPerS   float64            `json:"spans_per_s"`
	OfferedPerS float64            `json:"offered_spans_per_s,omitempty"`
	PeakRSSMiB  float64            `json:"peak_rss_mib"`
	Cores       float64            `json:"cores"` // collector CPU seconds per second of window
	Refused     float64            `json:"loadgen_refused,omitempty"`
	Counters    map[string]float64 `json:"counters,omitempty"`
	Loadgen     json.RawMessage    `json:"loadgen,omitempty"`
	Skipped     string             `json:"skipped,omitempty"`
}

// snapshot is the collector's CPU ticks and own counters at one instant.
type snapshot struct {
	at      time.Time
	ticks   uint64
	metrics map[string]float64
}

// runner runs cases; every path is absolute.
type runner struct {
	root, out          string
	bin, loadgen, kdev string
	s                  settings
	hz                 float64
	sinks              *sinks // the full gateway's backends, during its run
}

// runCase starts what the case needs, loads the collector for warmup +
// window, and measures the window. Everything it started is stopped by PID
// before it returns.
func (r *runner) runCase(ctx context.Context, c benchCase, round int, profile bool) (sample, error) {
	smp := sample{Case: c.name, Round: round}
	p, err := newPorts()
	if err != nil {
		return smp, err
	}
	dir := filepath.Join(r.out, "runs", fmt.Sprintf("r%d-%s", round, c.name))
	if err := os.RemoveAll(dir); err != nil {
		return smp, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return smp, err
	}
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()
	env, skip, err := r.prepare(ctx, c, p, dir, &cleanup)
	if err != nil || skip != "" {
		smp.Skipped = skip
		return smp, err
	}
	col, err := r.startCollector(c, env, dir, p)
	if err != nil {
		return smp, err
	}
	cleanup = append(cleanup, func() { warn(col.stop(30 * time.Second)) })
	return r.measure(ctx, c, round, profile, p, dir, col, smp)
}

// measure drives the load and reads the window.
func (r *runner) measure(ctx context.Context, c benchCase, round int, profile bool, p ports, dir string, col *proc, smp sample) (sample, error) {
	var lgOut bytes.Buffer
	lg, err := r.startLoadgen(c, round, p, dir, &lgOut)
	if err != nil {
		return smp, err
	}
	defer func() { warn(lg.stop(15 * time.Second)) }()
	sctx, stopScrape := context.WithCancel(ctx)
	defer stopScrape()
	if c.scrape {
		go scrapeEvery(sctx, "http://"+p.prometheus+"/metrics", r.s.scrapeEvery)
	}
	warmup := r.s.warmup
	if c.full {
		warmup += 5 * time.Second // the consumer group joins first
	}
	if err := sleepAlive(ctx, warmup, col, dir); err != nil {
		return smp, err
	}
	a, err := r.snap(ctx, col, p)
	if err != nil {
		return smp, err
	}
	var wg sync.WaitGroup
	if profile {
		wg.Add(1)
		go func() {
			defer wg.Done()
			warn(r.profile(ctx, c, p))
		}()
	}
	if err := sleepAlive(ctx, r.s.window, col, dir); err != nil {
		return smp, err
	}
	b, err := r.snap(ctx, col, p)
	if err != nil {
		return smp, err
	}
	hwm, err := vmHWM(col.pid())
	if err != nil {
		return smp, err
	}
	warn(lg.stop(15 * time.Second))
	wg.Wait()
	smp.Loadgen = json.RawMessage(bytes.TrimSpace(lgOut.Bytes()))
	return r.compute(c, smp, a, b, hwm), nil
}

// compute turns two snapshots into the sample's figures.
func (r *runner) compute(c benchCase, smp sample, a, b snapshot, hwm uint64) sample {
	smp.WindowS = b.at.Sub(a.at).Seconds()
	smp.CPUS = float64(b.ticks-a.ticks) / r.hz
	smp.Spans = b.metrics[metricSpansIn] - a.metrics[metricSpansIn]
	smp.Logs = b.metrics[metricLogsIn] - a.metrics[metricLogsIn]
	units := smp.Spans
	if c.unit == unitLogs {
		units = smp.Logs
	}
	if units > 0 {
		smp.CPUPerM = smp.CPUS / units * 1e6
	}
	smp.UnitsPerS = units / smp.WindowS
	smp.SpansPerS = smp.Spans / smp.WindowS
	smp.PeakRSSMiB = float64(hwm) / (1 << 20)
	smp.Cores = smp.CPUS / smp.WindowS
	smp.Counters = map[string]float64{}
	for _, name := range watchedCounters {
		if v, ok := b.metrics[name]; ok {
			smp.Counters[name] = v - a.metrics[name]
		}
	}
	for _, name := range watchedGauges {
		if v, ok := b.metrics[name]; ok {
			smp.Counters[name+" (at end)"] = v
		}
	}
	var lg struct {
		SpansPerSec  float64 `json:"spans_per_sec"`
		SpansRefused float64 `json:"spans_refused"`
		LogsRefused  float64 `json:"logs_refused"`
	}
	if json.Unmarshal(smp.Loadgen, &lg) == nil {
		smp.Refused = lg.SpansRefused + lg.LogsRefused
		if c.full {
			smp.OfferedPerS = lg.SpansPerSec
		}
	}
	return smp
}

// snap reads the CPU ticks first, then the counters: the scrape's own cost
// falls into the window.
func (r *runner) snap(ctx context.Context, col *proc, p ports) (snapshot, error) {
	t, err := cpuTicks(col.pid())
	if err != nil {
		return snapshot{}, err
	}
	at := time.Now()
	m, err := scrape(ctx, "http://"+p.telemetry+"/metrics")
	if err == nil && r.sinks != nil {
		m[metricSinkSpans] = float64(r.sinks.spans.Load())
		m[metricSinkBytes] = float64(r.sinks.httpBytes.Load())
	}
	return snapshot{at: at, ticks: t, metrics: m}, err
}

// profile saves a CPU profile of the window (the pprof extension).
func (r *runner) profile(ctx context.Context, c benchCase, p ports) error {
	secs := max(1, int(r.s.window.Seconds())-1)
	path := filepath.Join(r.out, "profiles", c.name+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
	defer cancel()
	return fetch(pctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprof, secs), f)
}

func scrapeEvery(ctx context.Context, url string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = fetch(ctx, url, io.Discard)
		}
	}
}

// sleepAlive waits d, failing early when the collector exits.
func sleepAlive(ctx context.Context, d time.Duration, col *proc, dir string) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-col.done:
		return fmt.Errorf("collector exited (%v); see %s", col.err, filepath.Join(dir, "collector.log"))
	case <-time.After(d):
		return nil
	}
}

func warn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: warning:", err)
	}
}

// validate runs `otelcol-biz validate` on a config with env (bounded).
func (r *runner) validate(ctx context.Context, config string, env []string) error {
	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(vctx, r.bin, "validate", "--config="+config)
	cmd.Dir, cmd.Env = r.root, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("%s: %s", config, lines[len(lines)-1])
	}
	return nil
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
