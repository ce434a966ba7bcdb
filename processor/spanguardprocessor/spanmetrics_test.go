package spanguardprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor/internal/metadata"
)

// TestSpanMetricsBehindGuard runs contrib's span_metrics connector on a
// batch of one sound 1.5 s span and four broken ones (end before start,
// zero start, zero end, zero trace id), with and without span_guard in
// front. Without it the zero-start span lasts since 1970 and the duration
// sum is 1.8e9 s; behind the guard it is the 1.5 s of the sound span, and
// the repaired spans count as calls of zero duration.
func TestSpanMetricsBehindGuard(t *testing.T) {
	for _, tt := range []struct {
		name      string
		guarded   bool
		wantCount uint64
		sumCheck  func(t *testing.T, sum float64)
	}{
		{name: "without span_guard", wantCount: 5, sumCheck: func(t *testing.T, sum float64) {
			assert.Greater(t, sum, 1e9, "the zero-start span poisons the sum")
		}},
		{name: "behind span_guard", guarded: true, wantCount: 4, sumCheck: func(t *testing.T, sum float64) {
			assert.InDelta(t, 1.5, sum, 1e-9)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := clockwork.NewFakeClockAt(now)
			ctx := clockwork.AddToContext(context.Background(), clock)
			sink := new(consumertest.MetricsSink)
			next := startSpanMetrics(t, ctx, sink)
			if tt.guarded {
				next = newProcessor(t, processortest.NewNopSettings(metadata.Type), createDefaultConfig().(*Config), next)
			}
			require.NoError(t, next.ConsumeTraces(ctx, brokenBatch()))
			clock.Advance(time.Minute) // span_metrics' flush
			require.Eventually(t, func() bool { return len(sink.AllMetrics()) > 0 }, 10*time.Second, 5*time.Millisecond)

			dp := durationPoint(t, sink.AllMetrics()[0])
			assert.Equal(t, tt.wantCount, dp.Count())
			tt.sumCheck(t, dp.Sum())
		})
	}
}

// startSpanMetrics starts span_metrics (durations in seconds, one flush a
// minute of ctx's clock) into sink; it is shut down when t ends.
func startSpanMetrics(t *testing.T, ctx context.Context, sink consumer.Metrics) consumer.Traces {
	f := spanmetricsconnector.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"histogram":              map[string]any{"unit": "s"},
		"metrics_flush_interval": "1m",
	}).Unmarshal(cfg))
	c, err := f.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	return c
}

// brokenBatch is one service's sound 1.5 s span and four broken ones.
func brokenBatch() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	sid := func(i byte) pcommon.SpanID { return pcommon.SpanID{i, 1, 1, 1, 1, 1, 1, 1} }
	appendSpan(spans, traceID, sid(1), at(-2500*time.Millisecond), at(-time.Second))
	appendSpan(spans, traceID, sid(2), at(-time.Second), at(-3*time.Second))
	appendSpan(spans, traceID, sid(3), 0, at(-time.Second))
	appendSpan(spans, traceID, sid(4), at(-time.Second), 0)
	appendSpan(spans, pcommon.NewTraceIDEmpty(), sid(5), at(-2*time.Second), at(-time.Second))
	return td
}

// durationPoint is span_metrics' one duration histogram point in md.
func durationPoint(t *testing.T, md pmetric.Metrics) pmetric.HistogramDataPoint {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == "traces.span.metrics.duration" {
					require.Equal(t, 1, m.Histogram().DataPoints().Len())
					return m.Histogram().DataPoints().At(0)
				}
			}
		}
	}
	require.FailNow(t, "no duration histogram")
	return pmetric.HistogramDataPoint{}
}
