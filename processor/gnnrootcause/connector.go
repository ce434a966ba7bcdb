package gnnrootcause // import "github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
	"github.com/otelcol-biz/otelcol-biz/internal/sharedcomponent"
	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadata"
)

// rca is one gnn_root_cause instance, shared by every pipeline using the
// same component id: traces, logs and metrics in; reports (logs) and scores
// (metrics) out. The consumers only add data to the engine; the windows
// that data closes are ranked off the ingest path, by the ranking goroutine
// (started in Start) or by Settle.
type rca struct {
	logger    *zap.Logger
	tel       *metadata.TelemetryBuilder
	clock     clockwork.Clock
	idleFlush time.Duration
	engine    *rootcause.Engine
	lastSpan  atomic.Int64 // clock time (ns) of the last traces batch

	// wake tells the ranking goroutine that windows are due: one pending
	// signal covers any number of them, so a send never waits.
	wake       chan struct{}
	stop, done chan struct{}

	// rankMu lets one ranking round run at a time, so that reports are
	// emitted in window order.
	rankMu  sync.Mutex
	counted rootcause.Stats // engine counters already added to tel; rankMu

	wireMu      sync.Mutex
	nextLogs    consumer.Logs
	nextMetrics consumer.Metrics
	// ingesting marks the input signals whose first consumer was created.
	// The collector builds one consumer per (input, output) signal pair and
	// fans a pipeline's data out to all of them: with both a logs and a
	// metrics output every batch arrives twice, and only the first consumer
	// of each input signal feeds the engine.
	ingesting map[pipeline.Signal]bool
}

func newRCA(set connector.Settings, cfg *Config, clock clockwork.Clock) (*rca, error) {
	ecfg, err := cfg.engineConfig()
	if err != nil {
		return nil, err
	}
	e, err := rootcause.NewEngine(ecfg)
	if err != nil {
		return nil, err
	}
	e.SetClock(clock.Now)
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &rca{
		logger: set.Logger, tel: tel, clock: clock, idleFlush: cfg.IdleFlush, engine: e,
		wake: make(chan struct{}, 1), ingesting: map[pipeline.Signal]bool{},
	}, nil
}

// wire records a pipeline's next consumers and reports whether the
// consumer for its input signal ingests (the first one does).
func (r *rca) wire(in pipeline.Signal, logs consumer.Logs, metrics consumer.Metrics) bool {
	r.wireMu.Lock()
	defer r.wireMu.Unlock()
	if logs != nil {
		r.nextLogs = logs
	}
	if metrics != nil {
		r.nextMetrics = metrics
	}
	first := !r.ingesting[in]
	r.ingesting[in] = true
	return first
}

// input is one consumer of the shared instance: its input signal's first
// consumer ingests, the others (the same data, fanned out) do not.
type input struct {
	*sharedcomponent.Component[*rca]
	ingest bool
}

func (in input) instance() *rca { return in.Unwrap() }

type tracesIn struct{ input }

func (t *tracesIn) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// maxDueWindows is how many closed windows may wait for the ranking
// goroutine. Beyond, a producer ranks them itself: when ranking cannot keep
// up (a replay, a burst after a pause), producers slow to its pace instead
// of piling up windows of spans.
const maxDueWindows = 2

// ConsumeTraces adds the spans and wakes the ranking goroutine when they
// closed a window; it waits for a ranking only when more than
// maxDueWindows windows are waiting.
func (t *tracesIn) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if !t.ingest {
		return nil
	}
	r := t.Unwrap()
	r.engine.AddTraces(td)
	r.lastSpan.Store(r.clock.Now().UnixNano())
	switch due := len(r.engine.Due(false)); {
	case due > maxDueWindows:
		return r.rank(ctx, false)
	case due > 0:
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

type logsIn struct{ input }

func (l *logsIn) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (l *logsIn) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	if l.ingest {
		l.Unwrap().engine.AddLogs(ld)
	}
	return nil
}

type metricsIn struct{ input }

func (m *metricsIn) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (m *metricsIn) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	if m.ingest {
		m.Unwrap().engine.AddMetrics(md)
	}
	return nil
}

// Settle ranks the windows that the data consumed so far has closed and
// emits their reports before it returns (the ranking goroutine would do it
// soon after). A replay calls it after each traces batch, so that every
// window is ranked before the next batch is ingested, exactly where the
// data closed it (cmd/rcabench); a collector never needs it. c is a
// consumer this factory created.
func Settle(ctx context.Context, c component.Component) error {
	in, ok := c.(interface{ instance() *rca })
	if !ok {
		return fmt.Errorf("gnnrootcause: %T is not a gnn_root_cause consumer", c)
	}
	return in.instance().rank(ctx, false)
}

// Start runs the ranking goroutine: it ranks the windows the spans close,
// and with idle_flush the open ones when no span has arrived for that long
// (without it the last window before a quiet period would wait for the
// next span to be ranked).
func (r *rca) Start(context.Context, component.Host) error {
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	var tick clockwork.Ticker
	if r.idleFlush > 0 {
		tick = r.clock.NewTicker(max(r.idleFlush/4, 10*time.Millisecond))
	}
	go r.run(tick)
	return nil
}

func (r *rca) run(tick clockwork.Ticker) {
	defer close(r.done)
	var ticks <-chan time.Time
	if tick != nil {
		defer tick.Stop()
		ticks = tick.Chan()
	}
	ctx := context.Background()
	for {
		var err error
		select {
		case <-r.stop:
			return
		case <-r.wake:
			err = r.rank(ctx, false)
		case <-ticks:
			idle := r.clock.Since(time.Unix(0, r.lastSpan.Load())) >= r.idleFlush
			err = r.rank(ctx, idle && r.engine.OpenWindows() > 0)
		}
		if err != nil {
			r.logger.Warn("emitting root-cause reports failed", zap.Error(err))
		}
	}
}

// Shutdown stops the ranking goroutine, ranks the windows still open and
// emits their reports.
func (r *rca) Shutdown(ctx context.Context) error {
	if r.stop != nil {
		close(r.stop)
		<-r.done
	}
	err := r.rank(ctx, true)
	r.tel.Shutdown()
	return err
}

// rank closes the due windows (every open one when flush) in time order,
// records the engine's counters, and emits the reports.
func (r *rca) rank(ctx context.Context, flush bool) error {
	r.rankMu.Lock()
	defer r.rankMu.Unlock()
	var results []rootcause.Result
	for _, start := range r.engine.Due(flush) {
		began := r.clock.Now()
		res, ok := r.engine.Close(start)
		if !ok {
			continue
		}
		r.tel.ConnectorGnnRootCauseRankingDuration.Record(ctx, r.clock.Since(began).Seconds())
		results = append(results, res)
	}
	r.count(ctx)
	return r.emit(ctx, results)
}

// count adds the engine's counters since the last call to the telemetry;
// r.rankMu held.
func (r *rca) count(ctx context.Context) {
	s := r.engine.Stats()
	for _, d := range []struct {
		reason   string
		now, was int64
	}{
		{"late", s.LateSpans, r.counted.LateSpans},
		{"window_full", s.DroppedSpans + s.DroppedLogs, r.counted.DroppedSpans + r.counted.DroppedLogs},
		{"future_timestamp", s.FutureSpans + s.FutureLogs + s.FutureSamples, r.counted.FutureSpans + r.counted.FutureLogs + r.counted.FutureSamples},
		{"edges_full", s.DroppedEdges, r.counted.DroppedEdges},
		{"templates_full", s.DroppedTemplates, r.counted.DroppedTemplates},
		{"metrics_full", s.DroppedMetrics, r.counted.DroppedMetrics},
	} {
		if d.now > d.was {
			r.tel.ConnectorGnnRootCauseDropped.Add(ctx, d.now-d.was, metric.WithAttributes(attribute.String("reason", d.reason)))
		}
	}
	if s.Windows > r.counted.Windows {
		r.tel.ConnectorGnnRootCauseWindows.Add(ctx, s.Windows-r.counted.Windows)
	}
	r.counted = s
}

// emit sends each report as a WARN log record (JSON body, rca.* attributes)
// and its candidates' scores as gauge points.
func (r *rca) emit(ctx context.Context, results []rootcause.Result) error {
	ld, md := plog.NewLogs(), pmetric.NewMetrics()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "otelcol-biz")
	recs := rl.ScopeLogs().AppendEmpty()
	recs.Scope().SetName("gnn_root_cause")
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "otelcol-biz")
	gauge := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	gauge.SetName("rca.root_cause.score")
	gauge.SetDescription("Root-cause score of the top candidates of the last window.")
	gauge.SetUnit("{score}") // not "1": the Prometheus exporter would add a _ratio suffix
	points := gauge.SetEmptyGauge().DataPoints()
	n := 0
	for _, res := range results {
		rep := res.Report
		if rep == nil || len(rep.Candidates) == 0 {
			continue
		}
		n++
		ts := pcommon.NewTimestampFromTime(rep.End)
		rec := recs.LogRecords().AppendEmpty()
		rec.SetTimestamp(ts)
		rec.SetObservedTimestamp(pcommon.NewTimestampFromTime(r.clock.Now()))
		rec.SetSeverityNumber(plog.SeverityNumberWarn)
		rec.SetSeverityText("WARN")
		rec.Body().SetStr(rep.JSON())
		top := rep.Candidates[0]
		rec.Attributes().PutStr("rca.top1.service", top.Service)
		rec.Attributes().PutDouble("rca.confidence", top.Confidence)
		rec.Attributes().PutStr("rca.pattern", rep.Pattern)
		if i := slices.IndexFunc(rep.Candidates, func(c rootcause.Candidate) bool { return c.BlindSpot }); i >= 0 {
			rec.Attributes().PutBool("rca.blind_spot", true)
			rec.Attributes().PutStr("rca.blind_spot.peer", rep.Candidates[i].Service)
			rec.Attributes().PutInt("rca.blind_spot.rank", int64(rep.Candidates[i].Rank))
		}
		for _, c := range rep.Candidates {
			p := points.AppendEmpty()
			p.SetTimestamp(ts)
			p.SetDoubleValue(c.Score)
			p.Attributes().PutStr("service", c.Service)
			p.Attributes().PutInt("rank", int64(c.Rank))
			p.Attributes().PutStr("pattern", rep.Pattern)
		}
	}
	if n == 0 {
		return nil
	}
	r.tel.ConnectorGnnRootCauseReports.Add(ctx, int64(n))
	r.wireMu.Lock()
	nextLogs, nextMetrics := r.nextLogs, r.nextMetrics
	r.wireMu.Unlock()
	var err error
	if nextLogs != nil {
		err = nextLogs.ConsumeLogs(ctx, ld)
	}
	if nextMetrics != nil {
		if merr := nextMetrics.ConsumeMetrics(ctx, md); merr != nil && err == nil {
			err = merr
		}
	}
	return err
}
