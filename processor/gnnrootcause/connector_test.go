package gnnrootcause

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadata"
	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadatatest"
)

// TestConnectorReports drives the connector through its factory (one shared
// instance behind traces->logs and traces->metrics): a payment latency fault
// after steady windows comes out as a WARN report naming payment and as
// score points, for the default (gnn) method and the baselines.
func TestConnectorReports(t *testing.T) {
	for _, method := range rootcause.Methods {
		t.Run(method, func(t *testing.T) {
			ctx := context.Background()
			cfg := createDefaultConfig().(*Config)
			cfg.Method = Method(method)
			tt := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tt.Shutdown(ctx)) })
			set := testSettings(t)
			set.TelemetrySettings = tt.NewTelemetrySettings()
			logs, metrics := &consumertest.LogsSink{}, &consumertest.MetricsSink{}
			toLogs, err := NewFactory().CreateTracesToLogs(ctx, set, cfg, logs)
			require.NoError(t, err)
			toMetrics, err := NewFactory().CreateTracesToMetrics(ctx, set, cfg, metrics)
			require.NoError(t, err)
			require.NoError(t, toLogs.Start(ctx, componenttest.NewNopHost()))
			require.NoError(t, toMetrics.Start(ctx, componenttest.NewNopHost()))

			feedShop(ctx, t, toLogs, rand.New(rand.NewPCG(9, 9)), cfg.Window, 0, 23, 150)
			require.NoError(t, toLogs.Shutdown(ctx))
			require.NoError(t, toMetrics.Shutdown(ctx))

			require.NotEmpty(t, logs.AllLogs())
			rec := logs.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			assert.Equal(t, "WARN", rec.SeverityText())
			assert.Equal(t, plog.SeverityNumberWarn, rec.SeverityNumber())
			top, _ := rec.Attributes().Get("rca.top1.service")
			assert.Equal(t, "payment", top.Str())
			pattern, _ := rec.Attributes().Get("rca.pattern")
			assert.Equal(t, "latency", pattern.Str())
			_, ok := rec.Attributes().Get("rca.confidence")
			assert.True(t, ok)
			var body rootcause.Report
			require.NoError(t, json.Unmarshal([]byte(rec.Body().Str()), &body))
			assert.Equal(t, "payment", body.Candidates[0].Service)
			assert.Equal(t, method, body.Method)
			require.NotEmpty(t, metrics.AllMetrics())
			m := metrics.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
			assert.Equal(t, "rca.root_cause.score", m.Name())
			assert.Positive(t, m.Gauge().DataPoints().Len())

			metadatatest.AssertEqualConnectorGnnRootCauseWindows(t, tt, []metricdata.DataPoint[int64]{{Value: 23}}, metricdatatest.IgnoreTimestamp())
		})
	}
}

// TestFanOutIngestsOnce: the collector builds one consumer per (input,
// output) signal pair of a connector and fans each batch out to all of
// them; with logs and metrics outputs the shared engine must still see
// every span and log record once.
func TestFanOutIngestsOnce(t *testing.T) {
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	set := testSettings(t)
	f := NewFactory()
	tracesToLogs, err := f.CreateTracesToLogs(ctx, set, cfg, &consumertest.LogsSink{})
	require.NoError(t, err)
	tracesToMetrics, err := f.CreateTracesToMetrics(ctx, set, cfg, &consumertest.MetricsSink{})
	require.NoError(t, err)
	logsToLogs, err := f.CreateLogsToLogs(ctx, set, cfg, &consumertest.LogsSink{})
	require.NoError(t, err)
	logsToMetrics, err := f.CreateLogsToMetrics(ctx, set, cfg, &consumertest.MetricsSink{})
	require.NoError(t, err)
	for _, c := range []component.Component{tracesToLogs, tracesToMetrics, logsToLogs, logsToMetrics} {
		require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	}

	td := shopTraffic(rand.New(rand.NewPCG(3, 3)), t0, 10, map[string]float64{"gateway": 5, "order": 20, "payment": 30}, false)
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetSeverityNumber(plog.SeverityNumberError)
	for _, tc := range []consumer.Traces{tracesToLogs, tracesToMetrics} { // the pipeline's fan-out
		require.NoError(t, tc.ConsumeTraces(ctx, td))
	}
	for _, lc := range []consumer.Logs{logsToLogs, logsToMetrics} {
		require.NoError(t, lc.ConsumeLogs(ctx, ld))
	}
	stats := tracesToLogs.(*tracesIn).Unwrap().engine.Stats()
	assert.Equal(t, int64(td.SpanCount()), stats.Spans)
	assert.Equal(t, int64(1), stats.Logs)
	for _, c := range []component.Component{tracesToLogs, tracesToMetrics, logsToLogs, logsToMetrics} {
		require.NoError(t, c.Shutdown(ctx))
	}
}

// TestIdleFlush: when spans stop arriving, the open windows are ranked
// after idle_flush (processing time) instead of waiting for the next span.
func TestIdleFlush(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0.Add(time.Hour))
	ctx := clockwork.AddToContext(context.Background(), clock)
	cfg := createDefaultConfig().(*Config)
	set := testSettings(t)
	logs := &consumertest.LogsSink{}
	c, err := NewFactory().CreateTracesToLogs(ctx, set, cfg, logs)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	feedShop(ctx, t, c, rand.New(rand.NewPCG(1, 9)), cfg.Window, 0, 21, 200)
	require.NoError(t, Settle(ctx, c))
	require.Empty(t, logs.AllLogs(), "the fault window is still open")
	clock.Advance(cfg.IdleFlush / 2)
	require.NoError(t, Settle(ctx, c))
	require.Empty(t, logs.AllLogs(), "not idle for long enough")
	clock.Advance(cfg.IdleFlush)
	require.Eventually(t, func() bool { return logs.LogRecordCount() > 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, c.Shutdown(ctx))
}

// TestRankingOffTheIngestPath: ConsumeTraces returns while a window it
// closed is being ranked; the ranking goroutine emits the report. Windows
// close one at a time here: with more than maxDueWindows waiting, a producer
// ranks them itself and waits for a held report, by design.
func TestRankingOffTheIngestPath(t *testing.T) {
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	cfg.IdleFlush = 0
	set := testSettings(t)
	next := &blockingLogs{entered: make(chan struct{}), release: make(chan struct{})}
	c, err := NewFactory().CreateTracesToLogs(ctx, set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()
	defer close(next.release)
	engine := c.(*tracesIn).instance().engine
	rng := rand.New(rand.NewPCG(2, 9))
	// a window closes once the window after next has data (max_lateness):
	// the normal windows up to 19 close and are ranked
	feedShop(ctx, t, c, rng, cfg.Window, 0, 22, 200)
	require.Eventually(t, func() bool { return len(engine.Due(false)) == 0 }, 30*time.Second, 5*time.Millisecond)
	// window 22's data closes the fault window 20: its report is held in
	// the next consumer by the ranking goroutine
	feedShop(ctx, t, c, rng, cfg.Window, 22, 23, 200)
	select {
	case <-next.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the fault window's report never reached the next consumer")
	}
	// and the next batch still goes in: ingestion does not wait for it
	ingested := make(chan error, 1)
	go func() {
		ingested <- c.ConsumeTraces(ctx, shopTraffic(rng, t0.Add(23*cfg.Window+time.Second), 100, map[string]float64{"gateway": 5, "order": 20, "payment": 200}, false))
	}()
	select {
	case err := <-ingested:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("ConsumeTraces waited for the held report")
	}
}

// testSettings are nop settings with an id of the test's own: instances
// are shared by id.
func testSettings(t *testing.T) connector.Settings {
	set := connectortest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, strings.ReplaceAll(t.Name(), "/", "."))
	return set
}

// blockingLogs holds the first batch it gets until release is closed.
type blockingLogs struct {
	consumertest.LogsSink
	once             sync.Once
	entered, release chan struct{}
}

func (b *blockingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	b.once.Do(func() {
		close(b.entered)
		<-b.release
	})
	return b.LogsSink.ConsumeLogs(ctx, ld)
}
