//go:build bench

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// prepare returns the collector's environment; for the full gateway it also
// starts kafka-dev and the sinks (stopped through cleanup). A config that
// does not validate against the binary is skipped with the reason.
func (r *runner) prepare(ctx context.Context, c benchCase, p ports, dir string, cleanup *[]func()) ([]string, string, error) {
	var sk *sinks
	if c.full || c.otlpOut {
		var err error
		if sk, err = startSinks(); err != nil {
			return nil, "", err
		}
		r.sinks = sk
		*cleanup = append(*cleanup, func() { sk.stop(); r.sinks = nil })
	}
	if !c.full {
		return collectorEnv(withExtraEnv(benchVars(p, r.s, sk), r.s.collectorEnv)), "", nil
	}
	env := collectorEnv(withExtraEnv(gatewayVars(p, r.s, sk, dir), r.s.collectorEnv))
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
//
// The full gateway's config defines pprof but leaves it off (config/
// gateway.yaml): the profile needs it, so it is added to service.extensions.
func (r *runner) startCollector(c benchCase, env []string, dir string, p ports) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"--config=" + r.configPath(c)}
	if c.otlpOut {
		args = append(args, "--config="+filepath.Join(r.root, "test/bench/configs/traces-otlp-out.yaml"))
	}
	if c.full {
		on, err := pprofOn(r.configPath(c))
		if err != nil {
			_ = logf.Close()
			return nil, err
		}
		args = append(args, on...)
	}
	col, err := startProc("otelcol-biz", dir, env, logf, logf, r.bin, args...)
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

// pprofOn is the --config flag that adds a defined but unused pprof
// extension to service.extensions (lists are replaced when configs merge, so
// it repeats the config's list), or none.
func pprofOn(config string) ([]string, error) {
	b, err := os.ReadFile(config)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Extensions map[string]any `json:"extensions"`
		Service    struct {
			Extensions []string `json:"extensions"`
		} `json:"service"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", config, err)
	}
	if _, ok := cfg.Extensions["pprof"]; !ok || slices.Contains(cfg.Service.Extensions, "pprof") {
		return nil, nil
	}
	return []string{"--config=yaml:service::extensions: [" + strings.Join(append(cfg.Service.Extensions, "pprof"), ", ") + "]"}, nil
}
