package histcheck

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func explicit(bounds []float64, counts []uint64, count uint64) pmetric.HistogramDataPoint {
	dp := pmetric.NewHistogramDataPoint()
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
	dp.SetCount(count)
	return dp
}

func exponential(scale int32, zeroThreshold float64, zero uint64, pos []uint64, count uint64) pmetric.ExponentialHistogramDataPoint {
	dp := pmetric.NewExponentialHistogramDataPoint()
	dp.SetScale(scale)
	dp.SetZeroThreshold(zeroThreshold)
	dp.SetZeroCount(zero)
	dp.Positive().BucketCounts().FromRaw(pos)
	dp.SetCount(count)
	return dp
}

func TestExplicit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dp   pmetric.HistogramDataPoint
		want Reason
	}{
		{name: "valid", dp: explicit([]float64{1, 2, 3}, []uint64{1, 0, 2, 1}, 4)},
		{name: "one bucket", dp: explicit(nil, []uint64{5}, 5)},
		{name: "no buckets", dp: explicit([]float64{1, 2, 3}, nil, 7), want: ReasonBucketCount},
		{name: "more counts than bounds+1", dp: explicit([]float64{1, 2, 3}, []uint64{1, 1, 1, 1, 1}, 5), want: ReasonBucketCount},
		{name: "decreasing bounds", dp: explicit([]float64{1, 3, 2}, []uint64{1, 1, 1, 1}, 4), want: ReasonBounds},
		{name: "repeated bound", dp: explicit([]float64{1, 1}, []uint64{1, 1, 1}, 3), want: ReasonBounds},
		{name: "NaN bound", dp: explicit([]float64{1, math.NaN()}, []uint64{1, 1, 1}, 3), want: ReasonBounds},
		{name: "infinite bound", dp: explicit([]float64{math.Inf(-1), 1}, []uint64{1, 1, 1}, 3), want: ReasonBounds},
		{name: "count above buckets", dp: explicit([]float64{1}, []uint64{1, 1}, 3), want: ReasonCountMismatch},
		{name: "buckets overflow", dp: explicit([]float64{1}, []uint64{math.MaxUint64, 2}, 1), want: ReasonCountMismatch},
		{name: "too many bounds", dp: explicit(make([]float64, 64), make([]uint64, 65), 0), want: ReasonTooManyBuckets},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Explicit(tt.dp, 32), tt.name)
	}
}

func TestExponential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dp   pmetric.ExponentialHistogramDataPoint
		want Reason
	}{
		{name: "valid", dp: exponential(3, 0, 1, []uint64{1, 2}, 4)},
		{name: "scale 21", dp: exponential(21, 0, 0, []uint64{1}, 1), want: ReasonScale},
		{name: "scale -11", dp: exponential(-11, 0, 0, []uint64{1}, 1), want: ReasonScale},
		{name: "NaN zero threshold", dp: exponential(0, math.NaN(), 0, []uint64{1}, 1), want: ReasonZeroThreshold},
		{name: "negative zero threshold", dp: exponential(0, -1, 0, []uint64{1}, 1), want: ReasonZeroThreshold},
		{name: "count", dp: exponential(0, 0, 0, []uint64{1}, 2), want: ReasonCountMismatch},
		{name: "zero count overflows", dp: exponential(0, 0, math.MaxUint64, []uint64{1}, 0), want: ReasonCountMismatch},
		{name: "too many buckets", dp: exponential(0, 0, 0, make([]uint64, 40), 0), want: ReasonTooManyBuckets},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Exponential(tt.dp, 32), tt.name)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	for q, want := range map[float64]Reason{0: ReasonNone, 0.99: ReasonNone, 1: ReasonNone, 1.5: ReasonQuantile, -0.1: ReasonQuantile, math.NaN(): ReasonQuantile} {
		dp := pmetric.NewSummaryDataPoint()
		dp.QuantileValues().AppendEmpty().SetQuantile(q)
		assert.Equal(t, want, Summary(dp), "quantile %v", q)
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	set := func(sum, lo, hi float64) pmetric.HistogramDataPoint {
		dp := explicit(nil, []uint64{1}, 1)
		dp.SetSum(sum)
		dp.SetMin(lo)
		dp.SetMax(hi)
		return dp
	}
	assert.Equal(t, ReasonNone, Values(explicit(nil, []uint64{1}, 1)), "no sum, min or max")
	assert.Equal(t, ReasonNone, Values(set(3, -1, 2)))
	assert.Equal(t, ReasonValues, Values(set(math.NaN(), 1, 2)))
	assert.Equal(t, ReasonValues, Values(set(3, math.Inf(-1), 2)))
	assert.Equal(t, ReasonValues, Values(set(3, 1, math.Inf(1))))
	assert.Equal(t, ReasonValues, Values(set(3, 2, 1)), "min above max")
	exp := exponential(0, 0, 0, []uint64{1}, 1)
	exp.SetMax(math.NaN())
	assert.Equal(t, ReasonValues, Values(exp))
}

func TestBounds(t *testing.T) {
	t.Parallel()
	assert.Equal(t, ReasonNone, Bounds(nil))
	assert.Equal(t, ReasonNone, Bounds([]float64{-1, 0, 0.5}))
	assert.Equal(t, ReasonBounds, Bounds([]float64{1, 1}))
	assert.Equal(t, ReasonBounds, Bounds([]float64{1, math.NaN()}))
	assert.Equal(t, ReasonBounds, Bounds([]float64{1, math.Inf(1)}))
}

func TestCounts(t *testing.T) {
	t.Parallel()
	var c Counts
	assert.False(t, c.Add(ReasonNone))
	assert.True(t, c.Add(ReasonScale))
	assert.True(t, c.Add(ReasonScale))
	assert.True(t, c.Add(ReasonValues))
	assert.Equal(t, int64(3), c.Total())
	var sum Counts
	sum.Merge(c)
	sum.Merge(c)
	assert.Equal(t, int64(6), sum.Total())
	for i, r := range Reasons {
		switch r {
		case ReasonScale:
			assert.Equal(t, int64(2), c[i])
		case ReasonValues:
			assert.Equal(t, int64(1), c[i])
		default:
			assert.Zero(t, c[i], r)
		}
	}
}

// BenchmarkExplicit: the check of a valid 16-bound point, on every point
// metric_guard and bucket_tuner see.
func BenchmarkExplicit(b *testing.B) {
	bounds := make([]float64, 16)
	for i := range bounds {
		bounds[i] = float64(i + 1)
	}
	dp := explicit(bounds, make([]uint64, 17), 0)
	b.ReportAllocs()
	for b.Loop() {
		if Explicit(dp, 4096) != ReasonNone {
			b.Fatal("valid point")
		}
	}
}
