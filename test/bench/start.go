//go:build bench

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// prepare returns the collector's environment; for the full gateway it also
// starts kafka-dev and the sinks (stopped through cleanup). A config that
// does not validate against the binary is skipped with the reason.
func (r *runner) prepare(ctx context.Context, c benchCase, p ports, dir string, cleanup *[]func()) ([]string, string, error) {
	if !c.full {
		return collectorEnv(benchVars(p, r.s)), "", nil
	}
	sk, err := startSinks()
	if err != nil {
		return nil, "", err
	}
	r.sinks = sk
	*cleanup = append(*cleanup, func() { sk.stop(); r.sinks = nil })
	env := collectorEnv(gatewayVars(p, r.s, sk, dir))
	if err := r.validate(ctx, r.configPath(c), env); err != nil {
		return nil, "config does not validate with " + r.bin + ": " + err.Error(), nil
	}
	logf, err := os.Create(filepath.Join(dir, "kafka-dev.log"))
	if err != nil {
		return nil, "", err
	}
	*cleanup = append(*cleanup, func() { _ = logf.Close() })
	kd, err := startProc("kafka-dev", dir, collectorEnv(nil), logf, logf, r.kdev,
		"-port", portOf(p.kafka), "-partitions", "6")
	if err != nil {
		return nil, "", err
	}
	*cleanup = append(*cleanup, func() { warn(kd.stop(10 * time.Second)) })
	if err := waitTCP(p.kafka, kd, 30*time.Second); err != nil {
		return nil, "", err
	}
	return env, "", nil
}

// startCollector starts bin/otelcol-biz on the case's config and waits for
// its telemetry endpoint (bounded: 60 s).
func (r *runner) startCollector(c benchCase, env []string, dir string, p ports) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		return nil, err
	}
	col, err := startProc("otelcol-biz", dir, env, logf, logf, r.bin, "--config="+r.configPath(c))
	_ = logf.Close() // the child has its own descriptor
	if err != nil {
		return nil, err
	}
	if err := waitTCP(p.telemetry, col, 60*time.Second); err != nil {
		warn(col.stop(10 * time.Second))
		return nil, fmt.Errorf("%s: %w; see %s", c.name, err, filepath.Join(dir, "collector.log"))
	}
	return col, nil
}

// startLoadgen starts cmd/loadgen for the case; it runs longer than the
// window and is stopped (SIGTERM: it prints its JSON summary) after it.
func (r *runner) startLoadgen(c benchCase, round int, p ports, dir string, stdout io.Writer) (*proc, error) {
	d := r.s.warmup + r.s.window + time.Minute
	args := []string{
		"-endpoint", p.otlp, "-duration", d.String(), "-json",
		"-workers", strconv.Itoa(r.s.workers), "-seed", strconv.Itoa(round + 1),
	}
	switch {
	case c.full:
	case c.spanRate > 0:
		args = append(args, "-span-rate", ftoa(c.spanRate))
	case r.s.rate > 0:
		args = append(args, "-rate", ftoa(r.s.rate))
	}
	if c.flat {
		args = append(args, "-flat")
	}
	if c.logs > 0 {
		args = append(args, "-logs", strconv.Itoa(c.logs))
	}
	if c.noSpan {
		args = append(args, "-no-traces")
	}
	if c.full {
		args = append(args, "-kafka", p.kafka, "-span-rate", ftoa(r.s.gatewaySpans))
	}
	errf, err := os.Create(filepath.Join(dir, "loadgen.err"))
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	return startProc("loadgen", dir, collectorEnv(nil), stdout, errf, r.loadgen, args...)
}

// configPath is the case's config file: absolute, or under the repository.
func (r *runner) configPath(c benchCase) string {
	if filepath.IsAbs(c.config) {
		return c.config
	}
	return filepath.Join(r.root, c.config)
}
