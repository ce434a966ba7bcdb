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
	"go.uber.org/zap"

	"github.com/otelcol-biz/otelcol-biz/internal/sharedcomponent"
	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadata"
)

// rca is one gnn_root_cause instance, shared by every pipeline using the
// same component id: traces and logs in, reports (logs) and scores
// (metrics) out.
type rca struct {
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder

	mu          sync.Mutex
	engine      *engine
	nextLogs    consumer.Logs
	nextMetrics consumer.Metrics
}

var instances = sharedcomponent.NewMap[component.ID, *rca]()

// NewFactory returns the gnn_root_cause connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithTracesToLogs(createTracesToLogs, metadata.TracesToLogsStability),
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability),
		connector.WithLogsToLogs(createLogsToLogs, metadata.LogsToLogsStability),
		connector.WithLogsToMetrics(createLogsToMetrics, metadata.LogsToMetricsStability))
}

func createDefaultConfig() component.Config { return defaultConfig() }

func shared(set connector.Settings, cfg component.Config) (*sharedcomponent.Component[*rca], error) {
	return instances.LoadOrStore(set.ID, func() (*rca, error) {
		tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
		if err != nil {
			return nil, err
		}
		return &rca{logger: set.Logger, tel: tel, engine: newEngine(cfg.(*Config))}, nil
	})
}

func createTracesToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Traces, error) {
	c, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().nextLogs = next
	return &tracesIn{c}, nil
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	c, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().nextMetrics = next
	return &tracesIn{c}, nil
}

func createLogsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Logs, error) {
	c, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().nextLogs = next
	return &logsIn{c}, nil
}

func createLogsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	c, err := shared(set, cfg)
	if err != nil {
		return nil, err
	}
	c.Unwrap().nextMetrics = next
	return &logsIn{c}, nil
}

type tracesIn struct {
	*sharedcomponent.Component[*rca]
}

func (t *tracesIn) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (t *tracesIn) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	r := t.Unwrap()
	r.mu.Lock()
	late := r.engine.lateSpans
	r.engine.addTraces(td)
	late = r.engine.lateSpans - late
	reports := r.engine.advance(false)
	r.mu.Unlock()
	if late > 0 {
		r.tel.ConnectorGnnRootCauseLateSpans.Add(ctx, late)
	}
	return r.emit(ctx, reports)
}

type logsIn struct {
	*sharedcomponent.Component[*rca]
}

func (l *logsIn) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (l *logsIn) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	r := l.Unwrap()
	r.mu.Lock()
	r.engine.addLogs(ld)
	r.mu.Unlock()
	return nil
}

func (r *rca) Start(context.Context, component.Host) error { return nil }

// Shutdown ranks the windows still open and emits their reports.
func (r *rca) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	reports := r.engine.advance(true)
	r.mu.Unlock()
	err := r.emit(ctx, reports)
	r.tel.Shutdown()
	return err
}

// emit sends each report as a WARN log record (JSON body, rca.* attributes)
// and its candidates' scores as gauge points.
func (r *rca) emit(ctx context.Context, reports []*report) error {
	if len(reports) == 0 {
		return nil
	}
	r.tel.ConnectorGnnRootCauseWindows.Add(ctx, int64(len(reports)))
	ld, md := plog.NewLogs(), pmetric.NewMetrics()
	sl := ld.ResourceLogs().AppendEmpty()
	sl.Resource().Attributes().PutStr("service.name", "otelcol-biz")
	recs := sl.ScopeLogs().AppendEmpty()
	recs.Scope().SetName("gnn_root_cause")
	gauge := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	gauge.SetName("rca.root_cause.score")
	gauge.SetDescription("Root-cause score of the top candidates of the last window.")
	gauge.SetUnit("1")
	points := gauge.SetEmptyGauge().DataPoints()
	n := 0
	for _, rep := range reports {
		if rep == nil {
			continue
		}
		n++
		end, _ := time.Parse(time.RFC3339, rep.WindowEnd)
		rec := recs.LogRecords().AppendEmpty()
		rec.SetTimestamp(pcommon.NewTimestampFromTime(end))
		rec.SetSeverityNumber(plog.SeverityNumberWarn)
		rec.SetSeverityText("WARN")
		rec.Body().SetStr(rep.json())
		rec.Attributes().PutStr("rca.top1.service", rep.Candidates[0].Service)
		rec.Attributes().PutDouble("rca.confidence", rep.Candidates[0].Confidence)
		rec.Attributes().PutStr("rca.pattern", rep.Pattern)
		for _, c := range rep.Candidates {
			p := points.AppendEmpty()
			p.SetTimestamp(pcommon.NewTimestampFromTime(end))
			p.SetDoubleValue(c.Score)
			p.Attributes().PutStr("service", c.Service)
			p.Attributes().PutInt("rank", int64(c.Rank))
		}
	}
	if n == 0 {
		return nil
	}
	r.tel.ConnectorGnnRootCauseReports.Add(ctx, int64(n))
	var err error
	if r.nextLogs != nil {
		err = r.nextLogs.ConsumeLogs(ctx, ld)
	}
	if r.nextMetrics != nil {
		if merr := r.nextMetrics.ConsumeMetrics(ctx, md); merr != nil && err == nil {
			err = merr
		}
	}
	return err
}
