package metricguardprocessor

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor/internal/metadata"
	"github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor/internal/metadatatest"
)

var t0 = pcommon.NewTimestampFromTime(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))

// histogram is one delta explicit-bucket point of metric "latency".
func histogram(bounds []float64, counts []uint64, count uint64) pmetric.Metrics {
	return histogramAt(1, bounds, counts, count)
}

// histogramAt is histogram's point for the interval (t0+n-1 s, t0+n s].
func histogramAt(n int, bounds []float64, counts []uint64, count uint64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("latency")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := h.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(t0 + pcommon.Timestamp(n-1)*1e9)
	dp.SetTimestamp(t0 + pcommon.Timestamp(n)*1e9)
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
	dp.SetCount(count)
	return md
}

func exponential(scale int32, zeroThreshold float64, zero uint64, pos []uint64, count uint64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("latency")
	dp := m.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	dp.SetTimestamp(t0)
	dp.SetScale(scale)
	dp.SetZeroThreshold(zeroThreshold)
	dp.SetZeroCount(zero)
	dp.Positive().BucketCounts().FromRaw(pos)
	dp.SetCount(count)
	return md
}

func summaryPoint(q float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("latency")
	dp := m.SetEmptySummary().DataPoints().AppendEmpty()
	dp.SetTimestamp(t0)
	qv := dp.QuantileValues().AppendEmpty()
	qv.SetQuantile(q)
	qv.SetValue(0.2)
	return md
}

func TestGuard(t *testing.T) {
	tests := []struct {
		name   string
		in     pmetric.Metrics
		reason string // "" keeps the point
	}{
		{name: "valid histogram", in: histogram([]float64{1, 2, 3}, []uint64{1, 0, 2, 1}, 4)},
		{name: "histogram without buckets", in: histogram([]float64{1, 2, 3}, nil, 7), reason: "bucket_count"},
		{name: "histogram with one bucket", in: histogram(nil, []uint64{5}, 5)},
		{name: "more counts than bounds+1", in: histogram([]float64{1, 2, 3}, []uint64{1, 1, 1, 1, 1}, 5), reason: "bucket_count"},
		{name: "fewer counts than bounds+1", in: histogram([]float64{1, 2, 3}, []uint64{1}, 1), reason: "bucket_count"},
		{name: "decreasing bounds", in: histogram([]float64{1, 3, 2}, []uint64{1, 1, 1, 1}, 4), reason: "bounds"},
		{name: "repeated bound", in: histogram([]float64{1, 1}, []uint64{1, 1, 1}, 3), reason: "bounds"},
		{name: "NaN bound", in: histogram([]float64{1, math.NaN()}, []uint64{1, 1, 1}, 3), reason: "bounds"},
		{name: "infinite bound", in: histogram([]float64{1, math.Inf(1)}, []uint64{1, 1, 1}, 3), reason: "bounds"},
		{name: "count above buckets", in: histogram([]float64{1}, []uint64{1, 1}, 3), reason: "count_mismatch"},
		{name: "buckets overflow", in: histogram([]float64{1}, []uint64{math.MaxUint64, 2}, 1), reason: "count_mismatch"},
		{name: "too many bounds", in: histogram(make([]float64, 64), make([]uint64, 65), 0), reason: "too_many_buckets"},
		{name: "valid exponential", in: exponential(3, 0, 1, []uint64{1, 2}, 4)},
		{name: "exponential scale 21", in: exponential(21, 0, 0, []uint64{1}, 1), reason: "scale"},
		{name: "exponential scale -11", in: exponential(-11, 0, 0, []uint64{1}, 1), reason: "scale"},
		{name: "exponential NaN zero threshold", in: exponential(0, math.NaN(), 0, []uint64{1}, 1), reason: "zero_threshold"},
		{name: "exponential count", in: exponential(0, 0, 0, []uint64{1}, 2), reason: "count_mismatch"},
		{name: "exponential too many buckets", in: exponential(0, 0, 0, make([]uint64, 40), 0), reason: "too_many_buckets"},
		{name: "valid summary", in: summaryPoint(0.99)},
		{name: "summary quantile above 1", in: summaryPoint(1.5), reason: "quantile"},
		{name: "summary NaN quantile", in: summaryPoint(math.NaN()), reason: "quantile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			sink := new(consumertest.MetricsSink)
			p, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(tel), &Config{MaxBuckets: 32}, sink)
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
			want := pmetric.NewMetrics()
			tt.in.CopyTo(want)
			require.NoError(t, p.ConsumeMetrics(context.Background(), tt.in))
			require.NoError(t, p.Shutdown(context.Background()))

			if tt.reason == "" {
				require.Len(t, sink.AllMetrics(), 1)
				assert.Equal(t, want, sink.AllMetrics()[0])
				_, err := tel.GetMetric("otelcol_processor_metric_guard_points_dropped")
				assert.Error(t, err, "nothing dropped, nothing counted")
				return
			}
			// the only metric lost its only point: nothing is left to send
			assert.Zero(t, sink.DataPointCount())
			metadatatest.AssertEqualProcessorMetricGuardPointsDropped(t, tel, []metricdata.DataPoint[int64]{
				{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", tt.reason))},
			}, metricdatatest.IgnoreTimestamp())
		})
	}
}

// TestGuardKeepsTheRest drops one bad point of a metric and keeps its
// other points and the other metrics of the batch.
func TestGuardKeepsTheRest(t *testing.T) {
	md := histogram([]float64{1, 2}, []uint64{1, 1, 1}, 3)
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	bad := ms.At(0).Histogram().DataPoints().AppendEmpty()
	bad.ExplicitBounds().FromRaw([]float64{1, 2})
	bad.BucketCounts().FromRaw([]uint64{1})
	bad.SetCount(1)
	g := ms.AppendEmpty()
	g.SetName("queue_depth")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(math.NaN()) // Prometheus takes NaN

	sink := new(consumertest.MetricsSink)
	p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.Len(t, sink.AllMetrics(), 1)
	got := sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 2, got.Len())
	assert.Equal(t, 1, got.At(0).Histogram().DataPoints().Len())
	assert.Equal(t, uint64(3), got.At(0).Histogram().DataPoints().At(0).Count())
	assert.Equal(t, "queue_depth", got.At(1).Name())
}

// startPrometheus starts a real Prometheus exporter on a free loopback port,
// shut down when tb ends.
func startPrometheus(tb testing.TB) (exporter.Metrics, string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	endpoint := l.Addr().String()
	require.NoError(tb, l.Close())

	pf := prometheusexporter.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*prometheusexporter.Config)
	pcfg.NetAddr.Endpoint = endpoint
	exp, err := pf.CreateMetrics(context.Background(), exportertest.NewNopSettings(pf.Type()), pcfg)
	require.NoError(tb, err)
	require.NoError(tb, exp.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, exp.Shutdown(context.Background())) })
	return exp, endpoint
}

// TestPrometheusExporterSurvives sends the two delta points that made the
// Prometheus exporter panic (bounds [1,2,3], counts [1], then [1,1,1,1])
// through metric_guard into a real Prometheus exporter, and scrapes it: the
// scrape answers and still serves the valid series.
func TestPrometheusExporterSurvives(t *testing.T) {
	exp, endpoint := startPrometheus(t)
	p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), exp)
	require.NoError(t, err)
	for _, md := range []pmetric.Metrics{
		histogramAt(1, []float64{1, 2, 3}, []uint64{0, 1, 0, 0}, 1),
		histogramAt(2, []float64{1, 2, 3}, []uint64{1}, 1),
		histogramAt(3, []float64{1, 2, 3}, []uint64{1, 1, 1, 1}, 4),
	} {
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	}

	resp, err := http.Get(fmt.Sprintf("http://%s/metrics", endpoint))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	// the dropped point leaves a gap in the delta series: the exporter
	// restarts it from the third point
	assert.Contains(t, string(body), `latency_count{otel_scope_name="",otel_scope_schema_url="",otel_scope_version=""} 4`)
}
