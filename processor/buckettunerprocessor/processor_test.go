package buckettunerprocessor

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/internal/goldentest"
	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadata"
)

var ts0 = pcommon.NewTimestampFromTime(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))

// expMetric builds an exponential histogram metric with one point.
func expMetric(scale int32, zeroCount uint64, zeroThreshold float64, offset int32, counts []uint64, neg []uint64, minMax bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("duration")
	m.SetUnit("s")
	eh := m.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := eh.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("service.name", "checkout")
	dp.SetStartTimestamp(ts0)
	dp.SetTimestamp(ts0 + 15e9)
	dp.SetScale(scale)
	dp.SetZeroCount(zeroCount)
	dp.SetZeroThreshold(zeroThreshold)
	dp.Positive().SetOffset(offset)
	dp.Positive().BucketCounts().FromRaw(counts)
	dp.Negative().SetOffset(offset)
	dp.Negative().BucketCounts().FromRaw(neg)
	total := zeroCount
	for _, c := range append(append([]uint64(nil), counts...), neg...) {
		total += c
	}
	dp.SetCount(total)
	dp.SetSum(1.5)
	if minMax {
		dp.SetMin(0.0011)
		dp.SetMax(0.9)
	}
	return md
}

func explicitMetric(bounds []float64, counts []uint64, minMax bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("duration")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(ts0)
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
	var total uint64
	for _, c := range counts {
		total += c
	}
	dp.SetCount(total)
	dp.SetSum(12)
	if minMax {
		dp.SetMin(0.0005)
		dp.SetMax(20)
	}
	return md
}

var staticBounds = []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5}

// TestConvertGolden: testdata/golden/<case>/{input,expected}.yaml through a
// static rule (go test -update rewrites both).
func TestConvertGolden(t *testing.T) {
	cases := map[string]pmetric.Metrics{
		"exponential_scale3":          expMetric(3, 0, 0, -72, []uint64{1, 4, 9, 20, 9, 4, 1}, nil, true),
		"exponential_zero_bucket":     expMetric(2, 5, 0.0001, -40, []uint64{3, 0, 7, 2}, nil, false),
		"exponential_negative_scale":  expMetric(-1, 0, 0, -3, []uint64{2, 10, 30, 10, 3}, nil, true),
		"exponential_negative_values": expMetric(0, 1, 0, 0, []uint64{4}, []uint64{2, 1}, false),
		"exponential_empty_point":     expMetric(5, 0, 0, 0, nil, nil, false),
		"explicit_prometheus_default": explicitMetric([]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, []uint64{3, 5, 10, 20, 40, 15, 5, 1, 1, 0, 0, 2}, true),
		"explicit_without_min_max":    explicitMetric([]float64{.01, .1, 1}, []uint64{5, 10, 3, 1}, false),
	}
	for name, md := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "golden", name)
			if *goldentest.Update {
				require.NoError(t, goldentest.WriteMetrics(filepath.Join(dir, "input.yaml"), md))
			}
			in, err := goldentest.ReadMetrics(filepath.Join(dir, "input.yaml"))
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(md, in), "input.yaml differs from the case: run go test -update")

			cfg := &Config{MaxMetrics: 10, Rules: []RuleConfig{{Match: "^duration$", Mode: ModeTypeStatic, Boundaries: staticBounds}}}
			tu, err := newTuner(processortest.NewNopSettings(metadata.Type), cfg, clockwork.NewFakeClock())
			require.NoError(t, err)
			out, err := tu.processMetrics(context.Background(), in)
			require.NoError(t, err)
			requireValid(t, out)
			if *goldentest.Update {
				require.NoError(t, goldentest.WriteMetrics(filepath.Join(dir, "expected.yaml"), out))
			}
			want, err := goldentest.ReadMetrics(filepath.Join(dir, "expected.yaml"))
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, out))
		})
	}
}

// requireValid checks every explicit histogram point: ascending finite
// bounds, a +Inf bucket, bucket counts summing to the count.
func requireValid(t testing.TB, md pmetric.Metrics) {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeHistogram {
					continue
				}
				for _, dp := range m.Histogram().DataPoints().All() {
					b := dp.ExplicitBounds().AsRaw()
					require.Equal(t, len(b)+1, dp.BucketCounts().Len(), "one count per bound plus the +Inf bucket")
					for i := range b {
						require.False(t, math.IsNaN(b[i]) || math.IsInf(b[i], 0))
						if i > 0 {
							require.Greater(t, b[i], b[i-1])
						}
					}
					var sum uint64
					for _, c := range dp.BucketCounts().All() {
						sum += c
					}
					require.Equal(t, dp.Count(), sum, "bucket counts sum to the count")
				}
			}
		}
	}
}

func TestConversionIsExactForAlignedBuckets(t *testing.T) {
	// explicit (0.01, 0.1] bucket lies inside the target (0.01, 0.02]..(0.05,0.1]? no: it spans
	// several targets and is split linearly; (0.1, 1] likewise. Aligned source bounds move whole.
	md := explicitMetric([]float64{0.01, 0.1, 1}, []uint64{5, 10, 3, 1}, false)
	cfg := &Config{MaxMetrics: 10, Rules: []RuleConfig{{Match: "^duration$", Mode: ModeTypeStatic, Boundaries: []float64{0.01, 0.1, 1, 10}}}}
	tu, err := newTuner(processortest.NewNopSettings(metadata.Type), cfg, clockwork.NewFakeClock())
	require.NoError(t, err)
	out, err := tu.processMetrics(context.Background(), md)
	require.NoError(t, err)
	dp := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0)
	assert.Equal(t, []uint64{5, 10, 3, 1, 0}, dp.BucketCounts().AsRaw(), "without max, the +Inf bucket stays just above 1: in (1, 10]")
}

// lognormalPoint aggregates n log-normal samples (median 50 ms) into a
// cumulative exponential histogram point at scale 4, as span_metrics would.
func lognormalPoint(rng *rand.Rand, n int, median float64) pmetric.Metrics {
	const scale = 4
	counts := map[int32]uint64{}
	lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
	for range n {
		v := median * math.Exp(0.6*rng.NormFloat64())
		idx := int32(math.Ceil(math.Log2(v)*math.Exp2(scale))) - 1
		counts[idx]++
		lo, hi = min(lo, idx), max(hi, idx)
	}
	buckets := make([]uint64, hi-lo+1)
	for i, c := range counts {
		buckets[i-lo] = c
	}
	return expMetric(scale, 0, 0, lo, buckets, nil, false)
}

// TestAutoLearnsRetunesAndSurvivesRestart: points are written on powers of
// 2 while learning, on chosen boundaries after learn_for, a shifted
// distribution triggers a retune (version 2, marked on the points), and a
// new instance on the same storage starts with the same boundaries at once.
func TestAutoLearnsRetunesAndSurvivesRestart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	storageDir := t.TempDir()
	ext := storagetest.NewFileBackedStorageExtension("tuner", storageDir)
	host := storagetest.NewStorageHost().WithExtension(ext.ID, ext)
	cfg := &Config{Storage: &ext.ID, MaxMetrics: 10, Rules: []RuleConfig{{Match: "^duration$"}}}
	ruleDefaults(cfg)
	require.NoError(t, cfg.Validate())

	newInstance := func(clock clockwork.Clock) *tuner {
		set := processortest.NewNopSettings(metadata.Type)
		set.ID = component.NewID(metadata.Type)
		tu, err := newTuner(set, cfg, clock)
		require.NoError(t, err)
		require.NoError(t, tu.start(context.Background(), host))
		return tu
	}
	clock := clockwork.NewFakeClock()
	tu := newInstance(clock)
	ctx := context.Background()
	kind := func(md pmetric.Metrics) pmetric.MetricType {
		return md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Type()
	}

	out, err := tu.processMetrics(ctx, lognormalPoint(rng, 5000, 0.05))
	require.NoError(t, err)
	require.Equal(t, pmetric.MetricTypeHistogram, kind(out), "learning: explicit from the first point on")
	requireValid(t, out)
	for _, b := range out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0).ExplicitBounds().All() {
		assert.Equal(t, math.Round(math.Log2(b)), math.Log2(b), "provisional: powers of 2")
	}
	clock.Advance(5 * time.Minute)
	out, err = tu.processMetrics(ctx, lognormalPoint(rng, 5000, 0.05))
	require.NoError(t, err)
	require.Equal(t, pmetric.MetricTypeHistogram, kind(out), "learned: converted")
	requireValid(t, out)
	first := append([]float64(nil), tu.states["duration"].bounds...)
	assert.Len(t, first, 16)
	assert.Equal(t, 1, tu.states["duration"].version)
	assert.LessOrEqual(t, tu.states["duration"].lastError, 0.02)

	// the same distribution: no retune
	clock.Advance(5 * time.Minute)
	_, err = tu.processMetrics(ctx, lognormalPoint(rng, 5000, 0.05))
	require.NoError(t, err)
	assert.Equal(t, 1, tu.states["duration"].version)

	// a 4x slower service: the error exceeds 5%, new boundaries, version 2
	for range 2 {
		clock.Advance(5 * time.Minute)
		out, err = tu.processMetrics(ctx, lognormalPoint(rng, 20000, 0.2))
		require.NoError(t, err)
	}
	assert.Equal(t, 2, tu.states["duration"].version)
	v, ok := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0).Attributes().Get(versionAttribute)
	require.True(t, ok, "retuned points carry bucket_tuner.version")
	assert.Equal(t, int64(2), v.Int())
	second := append([]float64(nil), tu.states["duration"].bounds...)
	require.NoError(t, tu.shutdown(ctx))

	// restart: identical boundaries from storage, no learning period
	tu2 := newInstance(clockwork.NewFakeClock())
	out, err = tu2.processMetrics(ctx, lognormalPoint(rng, 100, 0.2))
	require.NoError(t, err)
	require.Equal(t, pmetric.MetricTypeHistogram, kind(out))
	assert.Equal(t, second, out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0).ExplicitBounds().AsRaw())
	require.NoError(t, tu2.shutdown(ctx))
	assert.NotEqual(t, first, second)
}

func TestMaxMetricsOverflowPassesThrough(t *testing.T) {
	cfg := &Config{MaxMetrics: 1, Rules: []RuleConfig{{Match: "."}}}
	ruleDefaults(cfg)
	tu, err := newTuner(processortest.NewNopSettings(metadata.Type), cfg, clockwork.NewFakeClock())
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 4))
	_, err = tu.processMetrics(context.Background(), lognormalPoint(rng, 10, 0.05))
	require.NoError(t, err)
	md := lognormalPoint(rng, 10, 0.05)
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName("other")
	_, err = tu.processMetrics(context.Background(), md)
	require.NoError(t, err)
	assert.Len(t, tu.states, 1, "state is bounded by max_metrics")
}

func TestStartFailsOnMissingStorage(t *testing.T) {
	id := component.MustNewID("file_storage")
	cfg := &Config{Storage: &id, MaxMetrics: 1, Rules: []RuleConfig{{Match: "."}}}
	ruleDefaults(cfg)
	p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, nil)
	require.NoError(t, err)
	require.ErrorContains(t, p.Start(context.Background(), componenttest.NewNopHost()), `'storage' extension "file_storage" is not configured`)
	require.NoError(t, p.Shutdown(context.Background()))
}

// TestAutoProvisionalBoundaries: with boundaries in auto mode, points are
// converted onto them while learning instead of passing through, so the
// series never changes type.
func TestAutoProvisionalBoundaries(t *testing.T) {
	cfg := &Config{MaxMetrics: 10, Rules: []RuleConfig{{Match: "^duration$", Boundaries: staticBounds}}}
	ruleDefaults(cfg)
	require.NoError(t, cfg.Validate())
	clock := clockwork.NewFakeClock()
	tu, err := newTuner(processortest.NewNopSettings(metadata.Type), cfg, clock)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 6))
	out, err := tu.processMetrics(context.Background(), lognormalPoint(rng, 1000, 0.05))
	require.NoError(t, err)
	m := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	require.Equal(t, pmetric.MetricTypeHistogram, m.Type())
	assert.Equal(t, staticBounds, m.Histogram().DataPoints().At(0).ExplicitBounds().AsRaw())
	clock.Advance(5 * time.Minute)
	out, err = tu.processMetrics(context.Background(), lognormalPoint(rng, 1000, 0.05))
	require.NoError(t, err)
	m = out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	require.Equal(t, pmetric.MetricTypeHistogram, m.Type())
	assert.NotEqual(t, staticBounds, m.Histogram().DataPoints().At(0).ExplicitBounds().AsRaw(), "learned boundaries replace the provisional ones")
}
