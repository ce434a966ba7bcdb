package buckettunerprocessor

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-biz/otelcol-biz/internal/histcheck"
	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadata"
	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadatatest"
)

const wrapped = 9_200_000_000_000_000_000 // a negative count read as unsigned, or a cumulative count subtracted the wrong way

// garbageReasons counts the points garbage appends by what is wrong with them.
var garbageReasons = map[histcheck.Reason]int64{
	histcheck.ReasonCountMismatch: 3, histcheck.ReasonBounds: 2, histcheck.ReasonBucketCount: 1,
	histcheck.ReasonValues: 2, histcheck.ReasonScale: 2, histcheck.ReasonZeroThreshold: 1,
}

// garbage appends to md one "duration" metric of each type with the points
// of the issue (non-monotonic, wrapped counts, a +Inf bucket of 210, ...),
// each breaking the data model in one way (garbageReasons).
func garbage(md pmetric.Metrics) {
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	h := ms.AppendEmpty()
	h.SetName("duration")
	dps := h.SetEmptyHistogram().DataPoints()
	add := func(bounds []float64, counts []uint64, count uint64) pmetric.HistogramDataPoint {
		dp := dps.AppendEmpty()
		dp.ExplicitBounds().FromRaw(bounds)
		dp.BucketCounts().FromRaw(counts)
		dp.SetCount(count)
		return dp
	}
	add([]float64{0.005, 0.01, 0.025, 0.05}, []uint64{wrapped, wrapped, 5, 3, 210}, 210) // the sum overflows
	add([]float64{0.005, 0.01, 0.025, 0.05}, []uint64{wrapped, 0, 0, 0, 210}, 210)
	add([]float64{0.1, 0.05, 1}, []uint64{wrapped, 1, 1, 210}, wrapped+212)
	add([]float64{0.1, math.NaN(), 1}, []uint64{1, 1, 1, 210}, 213)
	add([]float64{0.1, 1}, []uint64{wrapped}, wrapped)
	add(nil, []uint64{wrapped}, wrapped).SetMin(math.Inf(-1))
	add([]float64{1e6}, []uint64{0, wrapped}, wrapped).SetMax(math.NaN())

	e := ms.AppendEmpty()
	e.SetName("duration")
	eps := e.SetEmptyExponentialHistogram().DataPoints()
	for _, scale := range []int32{21, -11} {
		dp := eps.AppendEmpty()
		dp.SetScale(scale)
		dp.Positive().BucketCounts().FromRaw([]uint64{wrapped})
		dp.SetCount(wrapped)
	}
	dp := eps.AppendEmpty()
	dp.SetScale(4)
	dp.SetZeroThreshold(math.NaN())
	dp.SetZeroCount(wrapped)
	dp.SetCount(wrapped)
	dp = eps.AppendEmpty()
	dp.SetScale(4)
	dp.Positive().SetOffset(400)
	dp.Positive().BucketCounts().FromRaw([]uint64{wrapped, 210})
	dp.SetCount(210)
}

// TestLearningSkipsInvalidPoints: the regression test of the issue. Two
// tuners learn from the same valid log-normal points; one also gets, in
// every batch, garbage points of the same name (wrapped bucket counts of
// 9.2e18, a +Inf bucket of 210, non-monotonic or NaN bounds, bucket counts
// that do not fit the bounds, infinite min, exponential scales out of
// range...). Its learned boundaries are finite, strictly increasing and
// identical to those learned from the valid points alone, and every skipped
// point is counted by reason.
func TestLearningSkipsInvalidPoints(t *testing.T) {
	cfg := &Config{MaxMetrics: 10, Rules: []RuleConfig{{Match: "^duration$"}}}
	ruleDefaults(cfg)
	learned := func(withGarbage bool, tel *componenttest.Telemetry) []float64 {
		set := metadatatest.NewSettings(tel)
		clock := clockwork.NewFakeClock()
		tu, err := newTuner(set, cfg, clock)
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(13, 14))
		for range 2 {
			md := lognormalPoint(rng, 5000, 0.05)
			if withGarbage {
				garbage(md)
			}
			_, err := tu.processMetrics(context.Background(), md)
			require.NoError(t, err)
			clock.Advance(cfg.Rules[0].LearnFor)
		}
		require.NoError(t, tu.shutdown(context.Background()))
		require.NotNil(t, tu.states["duration"].bounds, "learned")
		return tu.states["duration"].bounds
	}

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	got := learned(true, tel)
	require.Equal(t, histcheck.ReasonNone, histcheck.Bounds(got), "finite, strictly increasing: %v", got)
	assert.Equal(t, learned(false, componenttest.NewTelemetry()), got, "derived from the valid points only")
	assert.Less(t, got[len(got)-1], 1.0, "nothing from the garbage's range")

	var want []metricdata.DataPoint[int64]
	for r, n := range garbageReasons {
		want = append(want, metricdata.DataPoint[int64]{Value: 2 * n, Attributes: attribute.NewSet(attribute.String("reason", string(r)))})
	}
	metadatatest.AssertEqualProcessorBucketTunerDatapointsNotLearned(t, tel, want, metricdatatest.IgnoreTimestamp())
}

// TestStoredGarbageIgnored: boundaries in storage that are not finite and
// strictly increasing (a corrupt or hand-edited file) are not used; the
// metric learns again on provisional boundaries.
func TestStoredGarbageIgnored(t *testing.T) {
	ext := storagetest.NewFileBackedStorageExtension("tuner", t.TempDir())
	host := storagetest.NewStorageHost().WithExtension(ext.ID, ext)
	cfg := &Config{Storage: &ext.ID, MaxMetrics: 10, Rules: []RuleConfig{{Match: "^duration$"}}}
	ruleDefaults(cfg)
	set := processortest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	tu, err := newTuner(set, cfg, clockwork.NewFakeClock())
	require.NoError(t, err)
	require.NoError(t, tu.start(context.Background(), host))
	require.NoError(t, tu.client.Set(context.Background(), storageKey("duration"), []byte(`{"version":3,"bounds":[0.1,0.05,1]}`)))

	out, err := tu.processMetrics(context.Background(), lognormalPoint(rand.New(rand.NewPCG(1, 1)), 100, 0.05))
	require.NoError(t, err)
	require.NoError(t, tu.shutdown(context.Background()))
	assert.Nil(t, tu.states["duration"].bounds, "learning again")
	requireValid(t, out)
}

func TestPowerBounds(t *testing.T) {
	t.Parallel()
	for lo := -float64(provisionalMaxExp); lo <= provisionalMaxExp; lo += 7.3 {
		for hi := lo; hi <= provisionalMaxExp; hi += 11.1 {
			for _, k := range []int{2, 3, 4, 5, 16, 17, 64, 199, 200} {
				b := powerBounds(lo, hi, k)
				require.Len(t, b, k)
				require.Equal(t, histcheck.ReasonNone, histcheck.Bounds(b), "lo %v hi %v k %d: %v", lo, hi, k, b)
				require.Positive(t, b[0])
				if k >= 3 {
					require.LessOrEqual(t, math.Log2(b[0]), lo, "lo %v hi %v k %d: covers the range", lo, hi, k)
					require.GreaterOrEqual(t, math.Log2(b[k-1]), hi, "lo %v hi %v k %d: covers the range", lo, hi, k)
				}
			}
		}
	}
	assert.Equal(t, []float64{0.5, 1, 2, 4}, powerBounds(0, 0, 4), "spare bounds split below and above")
	assert.Equal(t, []float64{1.0 / 256, 1, 256}, powerBounds(-5, 3, 3), "(2^-5, 2^3] in 3 bounds: powers of 256")
}

// TestProvisionalBounds: derived from the usable points with positive
// values of the first batch (all its series), not from broken ones; none
// usable: powers of 2 around 1, not committed to.
func TestProvisionalBounds(t *testing.T) {
	t.Parallel()
	md := expMetric(0, 0, 0, -6, []uint64{1, 0, 1}, nil, false) // (2^-6, 2^-3]
	dps := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).ExponentialHistogram().DataPoints()
	broken := dps.AppendEmpty()
	broken.SetScale(0)
	broken.Positive().SetOffset(60)
	broken.Positive().BucketCounts().FromRaw([]uint64{1})
	broken.SetCount(2) // count_mismatch: not a range to centre on
	other := dps.AppendEmpty()
	other.SetScale(1)
	other.Positive().SetOffset(2) // (2^1, 2^1.5]
	other.Positive().BucketCounts().FromRaw([]uint64{4})
	other.SetCount(4)
	h := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).ExponentialHistogram()
	// (2^-6, 2^1.5] takes 9 powers of 2: merged down to powers of 4
	assert.Equal(t, []float64{1.0 / 256, 1.0 / 64, 1.0 / 16, 0.25, 1, 4, 16, 64}, provisionalBounds(h, 8))

	empty := expMetric(4, 3, 0.001, 0, nil, nil, false).ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).ExponentialHistogram()
	assert.Nil(t, provisionalBounds(empty, 8), "zero values only")

	cfg := &Config{MaxMetrics: 10, Rules: []RuleConfig{{Match: "^duration$", MaxBuckets: 4}}}
	ruleDefaults(cfg)
	tu, err := newTuner(processortest.NewNopSettings(metadata.Type), cfg, clockwork.NewFakeClock())
	require.NoError(t, err)
	boundsOf := func(md pmetric.Metrics) []float64 {
		out, err := tu.processMetrics(context.Background(), md)
		require.NoError(t, err)
		requireValid(t, out)
		return out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0).ExplicitBounds().AsRaw()
	}
	assert.Equal(t, fallbackBounds(4), boundsOf(expMetric(4, 3, 0.001, 0, nil, nil, false)), "nothing to derive from yet")
	first := boundsOf(expMetric(0, 0, 0, 10, []uint64{5}, nil, false))
	assert.Equal(t, powerBounds(10, 11, 4), first, "derived from the first usable point")
	assert.Equal(t, first, boundsOf(expMetric(0, 0, 0, -10, []uint64{5}, nil, false)), "then kept while learning")
	require.NoError(t, tu.shutdown(context.Background()))
}
