package gnnrootcause // import "github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"

import (
	"context"
	"sync"
	"time"

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
// (metrics) out.
type rca struct {
	logger    *zap.Logger
	tel       *metadata.TelemetryBuilder
	idleFlush time.Duration

	mu          sync.Mutex
	engine      *rootcause.Engine
	counted     rootcause.Stats // engine stats already added to tel
	lastSpan    time.Time       // processing time of the last traces batch
	nextLogs    consumer.Logs
	nextMetrics consumer.Metrics
	// ingesting marks the input signals whose first consumer was created.
	// The collector builds one consumer per (input, output) signal pair and
	// fans a pipeline's data out to all of them: with both a logs and a
	// metrics output every batch arrives twice, and only the first consumer
	// of each input signal feeds the engine.
	ingesting map[pipeline.Signal]bool

	stop chan struct{}
	done chan struct{}
}

var instances = sharedcomponent.NewMap[component.ID, *rca]()

// NewFactory returns the gnn_root_cause connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithTracesToLogs(createTracesToLogs, metadata.TracesToLogsStability),
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability),
		connector.WithLogsToLogs(createLogsToLogs, metadata.LogsToLogsStability),
		connector.WithLogsToMetrics(createLogsToMetrics, metadata.LogsToMetricsStability),
		connector.WithMetricsToLogs(createMetricsToLogs, metadata.MetricsToLogsStability),
		connector.WithMetricsToMetrics(createMetricsToMetrics, metadata.MetricsToMetricsStability))
}

func createDefaultConfig() component.Config { return defaultConfig() }

func shared(set connector.Settings, cfg component.Config) (*sharedcomponent.Component[*rca], error) {
	return instances.LoadOrStore(set.ID, func() (*rca, error) {
		c := cfg.(*Config)
		ecfg, err := c.engineConfig()
		if err != nil {
			return nil, err
		}
		e, err := rootcause.NewEngine(ecfg)
		if err != nil {
			return nil, err
		}
		tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
		if err != nil {
			return nil, err
		}
		return &rca{logger: set.Logger, tel: tel, engine: e, idleFlush: c.IdleFlush, ingesting: map[pipeline.Signal]bool{}}, nil
	})
}

// input is one consumer of the shared instance: its input signal's first
// consumer ingests, the others (the same data, fanned out) do not.
type input struct {
	*sharedcomponent.Component[*rca]
	ingest bool
}

// outputs wires the next consumer of a pipeline into the shared instance
// and returns the consumer for the input signal.
func outputs(set connector.Settings, cfg component.Config, in pipeline.Signal, logs consumer.Logs, metrics consumer.Metrics) (input, error) {
	c, err := shared(set, cfg)
	if err != nil {
		return input{}, err
	}
	r := c.Unwrap()
	r.mu.Lock()
	defer r.mu.Unlock()
	if logs != nil {
		r.nextLogs = logs
	}
	if metrics != nil {
		r.nextMetrics = metrics
	}
	first := !r.ingesting[in]
	r.ingesting[in] = true
	return input{Component: c, ingest: first}, nil
}

func createTracesToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Traces, error) {
	c, err := outputs(set, cfg, pipeline.SignalTraces, next, nil)
	return &tracesIn{c}, err
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	c, err := outputs(set, cfg, pipeline.SignalTraces, nil, next)
	return &tracesIn{c}, err
}

func createLogsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Logs, error) {
	c, err := outputs(set, cfg, pipeline.SignalLogs, next, nil)
	return &logsIn{c}, err
}

func createLogsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	c, err := outputs(set, cfg, pipeline.SignalLogs, nil, next)
	return &logsIn{c}, err
}

func createMetricsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Metrics, error) {
	c, err := outputs(set, cfg, pipeline.SignalMetrics, next, nil)
	return &metricsIn{c}, err
}

func createMetricsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Metrics, error) {
	c, err := outputs(set, cfg, pipeline.SignalMetrics, nil, next)
	return &metricsIn{c}, err
}

type tracesIn struct{ input }

func (t *tracesIn) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (t *tracesIn) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if !t.ingest {
		return nil
	}
	r := t.Unwrap()
	r.mu.Lock()
	r.engine.AddTraces(td)
	r.lastSpan = time.Now()
	results := r.advance(ctx, false)
	r.mu.Unlock()
	return r.emit(ctx, results)
}

type logsIn struct{ input }

func (l *logsIn) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (l *logsIn) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	if !l.ingest {
		return nil
	}
	r := l.Unwrap()
	r.mu.Lock()
	r.engine.AddLogs(ld)
	r.mu.Unlock()
	return nil
}

type metricsIn struct{ input }

func (m *metricsIn) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (m *metricsIn) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	if !m.ingest {
		return nil
	}
	r := m.Unwrap()
	r.mu.Lock()
	r.engine.AddMetrics(md)
	r.mu.Unlock()
	return nil
}

// Start runs the idle flush: without it the last window before a quiet
// period would wait for the next span to be ranked.
func (r *rca) Start(context.Context, component.Host) error {
	if r.idleFlush <= 0 {
		return nil
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.flushIdle()
	return nil
}

func (r *rca) flushIdle() {
	defer close(r.done)
	tick := time.NewTicker(max(r.idleFlush/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-tick.C:
			ctx := context.Background()
			r.mu.Lock()
			var results []rootcause.Result
			if r.engine.OpenWindows() > 0 && now.Sub(r.lastSpan) >= r.idleFlush {
				results = r.advance(ctx, true)
			}
			r.mu.Unlock()
			if err := r.emit(ctx, results); err != nil {
				r.logger.Warn("emitting root-cause reports failed", zap.Error(err))
			}
		}
	}
}

// Shutdown ranks the windows still open and emits their reports.
func (r *rca) Shutdown(ctx context.Context) error {
	if r.stop != nil {
		close(r.stop)
		<-r.done
	}
	r.mu.Lock()
	results := r.advance(ctx, true)
	r.mu.Unlock()
	err := r.emit(ctx, results)
	r.tel.Shutdown()
	return err
}

// advance closes due windows and records the engine's counters; r.mu held.
func (r *rca) advance(ctx context.Context, flush bool) []rootcause.Result {
	start := time.Now()
	results := r.engine.Advance(flush)
	if len(results) > 0 {
		per := time.Since(start).Seconds() / float64(len(results))
		for range results {
			r.tel.ConnectorGnnRootCauseRankingDuration.Record(ctx, per)
		}
	}
	s := r.engine.Stats()
	for _, d := range []struct {
		reason   string
		now, was int64
	}{
		{"late", s.LateSpans, r.counted.LateSpans},
		{"window_full", s.DroppedSpans + s.DroppedLogs, r.counted.DroppedSpans + r.counted.DroppedLogs},
		{"future_timestamp", s.FutureSpans, r.counted.FutureSpans},
		{"edges_full", s.DroppedEdges, r.counted.DroppedEdges},
		{"templates_full", s.DroppedTemplates, r.counted.DroppedTemplates},
	} {
		if d.now > d.was {
			r.tel.ConnectorGnnRootCauseDropped.Add(ctx, d.now-d.was, metric.WithAttributes(attribute.String("reason", d.reason)))
		}
	}
	if s.Windows > r.counted.Windows {
		r.tel.ConnectorGnnRootCauseWindows.Add(ctx, s.Windows-r.counted.Windows)
	}
	r.counted = s
	return results
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
		rec.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		rec.SetSeverityNumber(plog.SeverityNumberWarn)
		rec.SetSeverityText("WARN")
		rec.Body().SetStr(rep.JSON())
		top := rep.Candidates[0]
		rec.Attributes().PutStr("rca.top1.service", top.Service)
		rec.Attributes().PutDouble("rca.confidence", top.Confidence)
		rec.Attributes().PutStr("rca.pattern", rep.Pattern)
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
	r.mu.Lock()
	nextLogs, nextMetrics := r.nextLogs, r.nextMetrics
	r.mu.Unlock()
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
