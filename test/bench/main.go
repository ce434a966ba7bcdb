//go:build bench

// Command bench is the A/B benchmark harness of BENCHMARKS.md: it runs the
// same bin/otelcol-biz on pairs of pipeline configs (test/bench/configs,
// and config/gateway.yaml fed from kafka-dev), under cmd/loadgen's load,
// alternating within several rounds, and reports medians and paired ratios
// of the collector's CPU seconds per million spans (or log records), its
// peak RSS and its sustained throughput.
//
//	go run -tags bench ./test/bench -rounds 3     (make bench)
//	go run -tags bench ./test/bench -smoke        (make bench-smoke)
//
// Every process it starts listens on 127.0.0.1 only and is stopped by its
// PID, with bounded waits.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "bench: got %s: stopping, the report covers the runs done\n", s)
		cancel()
	}()
	err := run(ctx)
	signal.Stop(sig)
	cancel()
	stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options is the command line; defaults come from BENCH_* variables.
type options struct {
	rounds        int
	smoke         bool
	only          string
	gatewayConfig string
	out           string
	profile       bool
	fixedSpans    float64
	reportOnly    bool
	bin           string
	s             settings
}

func parseOptions() options {
	var o options
	flag.IntVar(&o.rounds, "rounds", envInt("BENCH_ROUNDS", 3), "rounds; every case runs once per round")
	flag.BoolVar(&o.smoke, "smoke", false, "one short round (a few seconds per case), for CI: no pass/fail on timings")
	flag.StringVar(&o.only, "only", os.Getenv("BENCH_ONLY"), "comma-separated case groups to run (traces-realistic,traces-realistic-otlp,traces-flat,traces-flat-otlp,logs,metrics,gateway-full)")
	flag.StringVar(&o.gatewayConfig, "gateway-config", envStr("BENCH_GATEWAY_CONFIG", "config/gateway.yaml"), "the full gateway's config, relative to the repository")
	flag.StringVar(&o.out, "out", ".cache/bench", "results, profiles and run logs (relative to the repository)")
	flag.StringVar(&o.bin, "bin", envStr("BENCH_BIN", "bin/otelcol-biz"), "the collector binary under test (copied once, so every run uses the same)")
	flag.BoolVar(&o.reportOnly, "report", false, "only print the report of the last run's results.jsonl")
	flag.BoolVar(&o.profile, "profile", true, "save a CPU profile of every case (first round)")
	flag.DurationVar(&o.s.warmup, "warmup", envDur("BENCH_WARMUP", 15*time.Second), "load before the window (longer than the decision wait)")
	flag.DurationVar(&o.s.window, "window", envDur("BENCH_WINDOW", 20*time.Second), "measured window")
	flag.Float64Var(&o.s.rate, "rate", envFloat("BENCH_RATE", 0), "loadgen traces/s; 0 = as fast as the collector accepts")
	flag.IntVar(&o.s.workers, "workers", envInt("BENCH_WORKERS", 2), "loadgen workers")
	flag.StringVar(&o.s.collectorEnv, "collector-env", "", "extra KEY=VALUE,... for every collector run (runtime tuning under test, e.g. GOGC=200)")
	flag.Float64Var(&o.fixedSpans, "fixed-span-rate", envFloat("BENCH_FIXED_SPAN_RATE", 20000), "spans/s of the fixed-rate trace runs (0: none)")
	flag.Float64Var(&o.s.gatewaySpans, "gateway-span-rate", envFloat("BENCH_GATEWAY_SPAN_RATE", 50000), "spans/s loadgen writes to Kafka for the full gateway")
	flag.Parse()
	o.s.decisionWait, o.s.dyeWait, o.s.groupWait = 10*time.Second, 2*time.Second, 2*time.Second
	o.s.flush, o.s.learnFor, o.s.scrapeEvery = 15*time.Second, 10*time.Second, 15*time.Second
	if o.smoke {
		o.rounds, o.s.warmup, o.s.window = 1, 3*time.Second, 4*time.Second
		o.s.decisionWait, o.s.dyeWait, o.s.groupWait = time.Second, time.Second, time.Second
		o.s.flush, o.s.learnFor, o.s.scrapeEvery = 2*time.Second, 2*time.Second, 2*time.Second
	}
	return o
}

func run(ctx context.Context) error {
	o := parseOptions()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	bin := o.bin
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(root, bin)
	}
	r := &runner{root: root, out: filepath.Join(root, o.out), bin: bin, s: o.s, hz: clockTicks()}
	if o.reportOnly {
		r.bin = filepath.Join(r.out, "bin", "otelcol-biz")
		groups := selectGroups(cases(filepath.Join(r.out, "bin", "gateway.yaml"), o.fixedSpans), o.only)
		samples, err := readSamples(filepath.Join(r.out, "results.jsonl"))
		if err != nil {
			return err
		}
		return r.report(ctx, o, groups, samples, "(not recorded)", 0)
	}
	if err := r.setup(ctx); err != nil {
		return err
	}
	gw, err := r.snapshotFiles(o.gatewayConfig)
	if err != nil {
		return err
	}
	groups := selectGroups(cases(gw, o.fixedSpans), o.only)
	loadBefore, started := loadavg(), time.Now()
	fmt.Printf("bench: %d round(s), warmup %s, window %s, load average before %s\n", o.rounds, o.s.warmup, o.s.window, loadBefore)
	samples, failed := r.rounds(ctx, o, groups)
	if err := r.report(context.Background(), o, groups, samples, loadBefore, time.Since(started)); err != nil {
		return err
	}
	if failed > 0 || ctx.Err() != nil {
		return fmt.Errorf("%d run(s) failed (see above), interrupted: %v", failed, ctx.Err() != nil)
	}
	return nil
}

// rounds runs every case of every round; each sample is appended to
// results.jsonl as it comes. A failed run is retried once (a collector
// stopped by something else, a port taken meanwhile), then recorded as
// failed, and the rounds go on.
func (r *runner) rounds(ctx context.Context, o options, groups [][]benchCase) ([]sample, int) {
	jsonl, err := os.Create(filepath.Join(r.out, "results.jsonl"))
	if err != nil {
		warn(err)
	}
	defer jsonl.Close()
	var samples []sample
	failed := 0
	for round := range o.rounds {
		for _, g := range groups {
			for _, c := range rotate(g, round) {
				if ctx.Err() != nil {
					return samples, failed
				}
				s, err := r.runCase(ctx, c, round, o.profile && round == 0)
				if err != nil && ctx.Err() == nil {
					warn(fmt.Errorf("round %d, %s: %w; retrying once", round+1, c.name, err))
					s, err = r.runCase(ctx, c, round, o.profile && round == 0)
				}
				if err != nil {
					failed++
					s.Skipped = "failed: " + err.Error()
				}
				fmt.Printf("bench: round %d %-28s %8.2f CPU s/M %s, %9.0f %s/s, peak RSS %6.0f MiB %s\n",
					round+1, c.name, s.CPUPerM, c.unit, s.UnitsPerS, c.unit, s.PeakRSSMiB, s.Skipped)
				samples = append(samples, s)
				if b, err := json.Marshal(s); err == nil && jsonl != nil {
					_, _ = jsonl.Write(append(b, '\n'))
				}
			}
		}
	}
	return samples, failed
}

// readSamples loads the samples a run appended to results.jsonl.
func readSamples(path string) ([]sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []sample
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var s sample
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// setup builds loadgen and kafka-dev next to the results.
func (r *runner) setup(ctx context.Context) error {
	if _, err := os.Stat(r.bin); err != nil {
		return fmt.Errorf("%s: run `make build` first: %w", r.bin, err)
	}
	binDir := filepath.Join(r.out, "bin")
	// profiles of an earlier run must not be reported as this run's
	if err := os.RemoveAll(filepath.Join(r.out, "profiles")); err != nil {
		return err
	}
	for _, d := range []string{binDir, filepath.Join(r.out, "profiles"), filepath.Join(r.out, "runs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	r.loadgen, r.kdev = filepath.Join(binDir, "loadgen"), filepath.Join(binDir, "kafka-dev")
	for pkg, out := range map[string]string{"./cmd/loadgen": r.loadgen, "./cmd/kafka-dev": r.kdev} {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		cmd := exec.CommandContext(bctx, "go", "build", "-o", out, pkg)
		cmd.Dir = r.root
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
	}
	return nil
}

// snapshotFiles copies bin/otelcol-biz and the gateway config under out,
// so that every round runs the same binary and config even if the
// repository's copies are rebuilt or edited meanwhile.
func (r *runner) snapshotFiles(gatewayConfig string) (string, error) {
	bin := filepath.Join(r.out, "bin", "otelcol-biz")
	if err := copyFile(r.bin, bin, 0o755); err != nil {
		return "", err
	}
	r.bin = bin
	gw := filepath.Join(r.out, "bin", "gateway.yaml")
	src := gatewayConfig
	if !filepath.IsAbs(src) {
		src = filepath.Join(r.root, src)
	}
	return gw, copyFile(src, gw, 0o644)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// report prints the tables and writes results.json and results.md.
func (r *runner) report(ctx context.Context, o options, groups [][]benchCase, samples []sample, loadBefore string, took time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %s\nbinary: %s (snapshot of %s, sha256 %s); gateway config: %s (snapshot sha256 %s)\nload average before %s, after %s; %d round(s) in %s; warmup %s, window %s, loadgen workers %d, rate %s\n\n",
		machine(r.bin), r.bin, o.bin, fileSHA(r.bin), o.gatewayConfig, fileSHA(filepath.Join(r.out, "bin", "gateway.yaml")), loadBefore, loadavg(), o.rounds, took.Round(time.Second), o.s.warmup, o.s.window, o.s.workers, rateText(o.s.rate))
	b.WriteString(ratioTable(samples, ratiosFor(o.fixedSpans)) + "\n" + absoluteTable(samples, groups))
	if o.profile {
		b.WriteString("\nprofiles (" + filepath.Join(o.out, "profiles") + "), top flat entries:\n")
		b.WriteString(profileTops(ctx, filepath.Join(r.out, "profiles"), 6))
	}
	fmt.Println("\n" + b.String())
	if err := os.WriteFile(filepath.Join(r.out, "results.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(map[string]any{"machine": machine(r.bin), "samples": samples}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.out, "results.json"), js, 0o644)
}

func fileSHA(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func rateText(rate float64) string {
	if rate <= 0 {
		return "as fast as accepted"
	}
	return ftoa(rate) + " traces/s"
}

func selectGroups(all [][]benchCase, only string) [][]benchCase {
	if only == "" {
		return all
	}
	var out [][]benchCase
	for _, g := range all {
		for _, name := range strings.Split(only, ",") {
			if strings.TrimSpace(name) == g[0].group {
				out = append(out, g)
			}
		}
	}
	return out
}

// repoRoot is the module root (where go.mod is), from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	v, err := strconv.Atoi(os.Getenv(k))
	if err != nil {
		return def
	}
	return v
}

func envFloat(k string, def float64) float64 {
	v, err := strconv.ParseFloat(os.Getenv(k), 64)
	if err != nil {
		return def
	}
	return v
}

func envDur(k string, def time.Duration) time.Duration {
	v, err := time.ParseDuration(os.Getenv(k))
	if err != nil {
		return def
	}
	return v
}
