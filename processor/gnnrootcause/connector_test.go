package gnnrootcause

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadata"
)

// TestConnectorReports drives the connector through its factory (one shared
// instance behind traces->logs and traces->metrics): a payment latency fault
// after steady windows comes out as a WARN report naming payment and as
// score points.
func TestConnectorReports(t *testing.T) {
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	set := connectortest.NewNopSettings(metadata.Type)
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
	top, _ := rec.Attributes().Get("rca.top1.service")
	assert.Equal(t, "payment", top.Str())
	var body report
	require.NoError(t, json.Unmarshal([]byte(rec.Body().Str()), &body))
	assert.Equal(t, "payment", body.Candidates[0].Service)
	require.NotEmpty(t, metrics.AllMetrics())
	m := metrics.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	assert.Equal(t, "rca.root_cause.score", m.Name())
	assert.Positive(t, m.Gauge().DataPoints().Len())
}
