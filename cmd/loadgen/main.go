// Command loadgen sends realistic OTLP load to a collector (or to Kafka, as
// the agent would): call trees of 5-40 spans over 5-30 services, exported
// children first as SDKs do, business keys on inner spans, async flows that
// lost their context, logs with trace ids in their bodies, lognormal
// latencies per route with a slow tail, and a small error rate. -flat sends
// telemetrygen-like 10-span traces instead, for comparison.
//
//	loadgen -endpoint 127.0.0.1:4317 -rate 500 -duration 30s -logs 2
//	loadgen -kafka 127.0.0.1:9092 -span-rate 50000 -duration 60s -json
//
// It counts the spans and log records the receiving end accepted and refused
// and prints a one-line summary (-json: one JSON object) when it stops:
// after -duration, or on SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	sum, err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	fmt.Println(sum.format(cfg.json))
}

// config is the command line.
type config struct {
	endpoint  string
	kafka     string
	topicPfx  string
	rate      float64 // flows (traces) per second, 0 = as fast as accepted
	spanRate  float64 // spans per second; overrides rate
	duration  time.Duration
	workers   int
	logs      int
	seed      uint64
	flat      bool
	json      bool
	batch     int
	services  int
	split     float64
	errors    float64
	noTraces  bool
	setLogIDs bool
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&c.endpoint, "endpoint", "127.0.0.1:4317", "collector OTLP gRPC endpoint (insecure)")
	fs.StringVar(&c.kafka, "kafka", "", "comma-separated Kafka brokers: write OTLP protobuf records there instead of OTLP")
	fs.StringVar(&c.topicPfx, "topic-prefix", "otelcol_biz", "Kafka topics <prefix>_spans and <prefix>_logs")
	fs.Float64Var(&c.rate, "rate", 0, "traces per second over all workers; 0 = as fast as accepted")
	fs.Float64Var(&c.spanRate, "span-rate", 0, "spans per second over all workers; overrides -rate")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send")
	fs.IntVar(&c.workers, "workers", 2, "concurrent senders, each with its own connection and flows")
	fs.IntVar(&c.logs, "logs", 0, "log records per trace, ids in their bodies")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the same seed sends the same traces")
	fs.BoolVar(&c.flat, "flat", false, "telemetrygen-like flat 10-span traces of one service")
	fs.BoolVar(&c.json, "json", false, "print the summary as one JSON object")
	fs.IntVar(&c.batch, "batch", 512, "spans per export request (the SDK's max export batch)")
	fs.IntVar(&c.services, "services", 20, "services in the simulated system (5-30)")
	fs.Float64Var(&c.split, "split", 0.05, "share of flows split into two traces by a lost async context")
	fs.Float64Var(&c.errors, "errors", 0.01, "share of flows with a failing call")
	fs.BoolVar(&c.noTraces, "no-traces", false, "send only the logs of the generated flows")
	fs.BoolVar(&c.setLogIDs, "log-ids", false, "also set the log records' own trace/span ids (default with -kafka: the agent's log_correlation did)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.kafka != "" && !isSet(fs, "log-ids") {
		c.setLogIDs = true
	}
	return c, c.validate()
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func (c config) validate() error {
	var errs []error
	check := func(bad bool, msg string) {
		if bad {
			errs = append(errs, errors.New(msg))
		}
	}
	check(c.rate < 0 || c.spanRate < 0, "-rate and -span-rate must be >= 0")
	check(c.duration <= 0, "-duration must be > 0")
	check(c.workers < 1, "-workers must be >= 1")
	check(c.logs < 0, "-logs must be >= 0")
	check(c.batch < 1, "-batch must be >= 1")
	check(c.services < minServices || c.services > maxServices, "-services must be 5..30")
	check(c.split < 0 || c.split > 1 || c.errors < 0 || c.errors > 1, "-split and -errors must be in [0, 1]")
	check(c.noTraces && c.logs == 0, "-no-traces needs -logs > 0")
	return errors.Join(errs...)
}

// brokers splits -kafka.
func (c config) brokers() []string { return strings.Split(c.kafka, ",") }
