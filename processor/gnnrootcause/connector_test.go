package gnnrootcause

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"
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

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		want    func(*Config)
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: func(*Config) {}},
		{id: component.NewIDWithName(metadata.Type, "custom"), want: func(c *Config) {
			c.Window, c.Baseline, c.TopK, c.MaxServices, c.MaxEdges = 10*time.Second, 2*time.Minute, 3, 100, 500
			c.MinAnomaly, c.Method, c.IdleFlush = 4, "pagerank", 0
		}},
		{id: component.NewIDWithName(metadata.Type, "short_baseline"), wantErr: "'baseline' must be at least 3 windows"},
		{id: component.NewIDWithName(metadata.Type, "bad_method"), wantErr: `'method' must be one of [gnn pagerank tracerca latency], got "bayes"`},
		{id: component.NewIDWithName(metadata.Type, "missing_model"), wantErr: "'model': open testdata/missing.json"},
		{id: component.NewIDWithName(metadata.Type, "zero_bounds"), wantErr: "'max_edges' must be greater than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = xconfmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			want := createDefaultConfig().(*Config)
			tt.want(want)
			assert.Equal(t, want, cfg)
		})
	}
}

// TestConnectorReports drives the connector through its factory (one shared
// instance behind traces->logs and traces->metrics): a payment latency fault
// after steady windows comes out as a WARN report naming payment and as
// score points, for the default (gnn) method and the baselines.
func TestConnectorReports(t *testing.T) {
	for _, method := range rootcause.Methods {
		t.Run(method, func(t *testing.T) {
			ctx := context.Background()
			cfg := createDefaultConfig().(*Config)
			cfg.Method = method
			tt := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tt.Shutdown(ctx)) })
			set := connectortest.NewNopSettings(metadata.Type)
			set.TelemetrySettings = tt.NewTelemetrySettings()
			logs, metrics := &consumertest.LogsSink{}, &consumertest.MetricsSink{}
			toLogs, err := NewFactory().CreateTracesToLogs(ctx, set, cfg, logs)
			require.NoError(t, err)
			toMetrics, err := NewFactory().CreateTracesToMetrics(ctx, set, cfg, metrics)
			require.NoError(t, err)
			require.NoError(t, toLogs.Start(ctx, componenttest.NewNopHost()))
			require.NoError(t, toMetrics.Start(ctx, componenttest.NewNopHost()))

			rng := rand.New(rand.NewPCG(9, 9))
			for w := range 23 {
				self := map[string]float64{"gateway": 5, "order": 20, "payment": 30}
				if w >= 20 {
					self["payment"] = 150
				}
				require.NoError(t, toLogs.ConsumeTraces(ctx, shopTraffic(rng, t0.Add(time.Duration(w)*cfg.Window+time.Second), 100, self, false)))
			}
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
	set := connectortest.NewNopSettings(metadata.Type)
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
	r := tracesToLogs.(*tracesIn).Unwrap()
	r.mu.Lock()
	stats := r.engine.Stats()
	r.mu.Unlock()
	assert.Equal(t, int64(td.SpanCount()), stats.Spans)
	assert.Equal(t, int64(1), stats.Logs)
	for _, c := range []component.Component{tracesToLogs, tracesToMetrics, logsToLogs, logsToMetrics} {
		require.NoError(t, c.Shutdown(ctx))
	}
}

// TestIdleFlush: when spans stop arriving, the open windows are ranked
// after idle_flush (processing time) instead of waiting for the next span.
func TestIdleFlush(t *testing.T) {
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	cfg.IdleFlush = 50 * time.Millisecond
	set := connectortest.NewNopSettings(metadata.Type)
	logs := &consumertest.LogsSink{}
	c, err := NewFactory().CreateTracesToLogs(ctx, set, cfg, logs)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	rng := rand.New(rand.NewPCG(1, 9))
	for w := range 21 {
		self := map[string]float64{"gateway": 5, "order": 20, "payment": 30}
		if w == 20 {
			self["payment"] = 200
		}
		require.NoError(t, c.ConsumeTraces(ctx, shopTraffic(rng, t0.Add(time.Duration(w)*cfg.Window+time.Second), 100, self, false)))
	}
	require.Empty(t, logs.AllLogs(), "the fault window is still open")
	require.Eventually(t, func() bool { return logs.LogRecordCount() > 0 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, c.Shutdown(ctx))
}
