package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// meanRealisticSpans is the average realistic flow size (5-40 uniform, plus
// the split flows' extra spans); it only spaces flows in simulated time.
const meanRealisticSpans = 22.6

// stats are shared by the workers.
type stats struct {
	flows, generated      atomic.Int64
	spansOK, spansRefused atomic.Int64
	logsOK, logsRefused   atomic.Int64
	lastErr               atomic.Pointer[string]
}

func (s *stats) add(b *batch, o outcome) {
	s.flows.Add(int64(b.flows))
	s.generated.Add(int64(b.generated))
	s.spansOK.Add(o.spansOK)
	s.spansRefused.Add(o.spansRefused)
	s.logsOK.Add(o.logsOK)
	s.logsRefused.Add(o.logsRefused)
	if o.err != nil {
		msg := o.err.Error()
		s.lastErr.Store(&msg)
	}
}

// run sends until ctx ends or cfg.duration passed.
func run(ctx context.Context, cfg config) (summary, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	topo := newFlatTopology()
	if !cfg.flat {
		topo = newTopology(rand.New(rand.NewPCG(cfg.seed, 0)), cfg.services)
	}
	senders := make([]sender, cfg.workers)
	for w := range senders {
		s, err := newSender(cfg)
		if err != nil {
			closeAll(senders)
			return summary{}, err
		}
		senders[w] = s
	}
	defer closeAll(senders)
	st := &stats{}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runWorker(ctx, cfg, w, topo, senders[w], st)
		}()
	}
	wg.Wait()
	return st.summary(cfg, time.Since(start)), nil
}

func newSender(cfg config) (sender, error) {
	if cfg.kafka != "" {
		return newKafkaSender(cfg.brokers(), cfg.topicPfx)
	}
	return newOTLPSender(cfg.endpoint)
}

func closeAll(ss []sender) {
	for _, s := range ss {
		if s != nil {
			_ = s.close()
		}
	}
}

func newFlatTopology() *topology {
	return &topology{services: []service{{name: "telemetrygen"}}}
}

// runWorker generates, sends and paces one stream of flows. A refusal is
// counted, not retried; the worker backs off (10 ms doubling to 1 s).
func runWorker(ctx context.Context, cfg config, w int, topo *topology, snd sender, st *stats) {
	gen := newGenerator(cfg.seed, w, topo, genOptions{
		flat: cfg.flat, logs: cfg.logs, splitShare: cfg.split, errorRate: cfg.errors, keyedShare: 0.8,
	})
	em := newEmitter(gen, cfg.gap())
	em.setLogIDs, em.noSpans, em.noLogs = cfg.setLogIDs, cfg.noTraces, cfg.logs == 0
	p := pacer{rate: cfg.unitRate() / float64(cfg.workers), start: time.Now()}
	var backoff time.Duration
	for ctx.Err() == nil {
		b := em.next(cfg.batch, time.Now())
		o := snd.send(ctx, b)
		st.add(b, o)
		if o.err != nil {
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
			sleepUntil(ctx, time.Now().Add(backoff))
		} else {
			backoff = 0
		}
		units := float64(b.flows)
		if cfg.spanRate > 0 {
			units = float64(b.generated)
		}
		p.wait(ctx, units)
	}
}

// unitRate is flows/s, or spans/s with -span-rate; 0 is unthrottled.
func (c config) unitRate() float64 {
	if c.spanRate > 0 {
		return c.spanRate
	}
	return c.rate
}

// gap is the simulated time between two flows of one worker: the real
// spacing when a rate is set, else 2 ms (about 100 flows in flight).
func (c config) gap() time.Duration {
	perWorker := c.rate / float64(c.workers)
	if c.spanRate > 0 {
		mean := meanRealisticSpans
		if c.flat {
			mean = flatSpans
		}
		perWorker = c.spanRate / float64(c.workers) / mean
	}
	if perWorker <= 0 {
		return 2 * time.Millisecond
	}
	return time.Duration(float64(time.Second) / perWorker)
}

// pacer spaces work so that units/elapsed stays at rate.
type pacer struct {
	rate  float64
	start time.Time
	units float64
}

func (p *pacer) wait(ctx context.Context, units float64) {
	if p.rate <= 0 {
		return
	}
	p.units += units
	sleepUntil(ctx, p.start.Add(time.Duration(p.units/p.rate*float64(time.Second))))
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// summary is what loadgen prints when it stops.
type summary struct {
	Mode          string  `json:"mode"`
	Sink          string  `json:"sink"`
	Seconds       float64 `json:"seconds"`
	Traces        int64   `json:"traces"`
	SpansPerTrace float64 `json:"spans_per_trace"`
	SpansAccepted int64   `json:"spans_accepted"`
	SpansRefused  int64   `json:"spans_refused"`
	LogsAccepted  int64   `json:"logs_accepted"`
	LogsRefused   int64   `json:"logs_refused"`
	SpansPerSec   float64 `json:"spans_per_sec"`
	LogsPerSec    float64 `json:"logs_per_sec"`
	LastError     string  `json:"last_error,omitempty"`
}

func (s *stats) summary(cfg config, elapsed time.Duration) summary {
	sum := summary{Mode: "realistic", Sink: "otlp " + cfg.endpoint, Seconds: elapsed.Seconds(), Traces: s.flows.Load(),
		SpansAccepted: s.spansOK.Load(), SpansRefused: s.spansRefused.Load(),
		LogsAccepted: s.logsOK.Load(), LogsRefused: s.logsRefused.Load()}
	if cfg.flat {
		sum.Mode = "flat"
	}
	if cfg.kafka != "" {
		sum.Sink = "kafka " + cfg.kafka
	}
	if sum.Traces > 0 {
		sum.SpansPerTrace = float64(s.generated.Load()) / float64(sum.Traces)
	}
	if sum.Seconds > 0 {
		sum.SpansPerSec = float64(sum.SpansAccepted) / sum.Seconds
		sum.LogsPerSec = float64(sum.LogsAccepted) / sum.Seconds
	}
	if e := s.lastErr.Load(); e != nil {
		sum.LastError = *e
	}
	return sum
}

func (s summary) format(asJSON bool) string {
	if asJSON {
		b, _ := json.Marshal(s)
		return string(b)
	}
	line := fmt.Sprintf("loadgen: %.1fs %s %s: %d traces (%.1f spans/trace), spans accepted %d refused %d, logs accepted %d refused %d, %.0f spans/s",
		s.Seconds, s.Mode, s.Sink, s.Traces, s.SpansPerTrace, s.SpansAccepted, s.SpansRefused, s.LogsAccepted, s.LogsRefused, s.SpansPerSec)
	if s.LastError != "" {
		line += ", last error: " + s.LastError
	}
	return line
}
