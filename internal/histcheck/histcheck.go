// Package histcheck tells why a histogram or summary data point breaks the
// OTLP data model in a way its consumers cannot take: metric_guard drops
// such points before they reach an exporter (the Prometheus exporter panics
// on some), bucket_tuner does not learn boundaries from them. Every check
// returns a Reason, ReasonNone for a usable point.
package histcheck // import "github.com/otelcol-biz/otelcol-biz/internal/histcheck"

import (
	"math"
	"math/bits"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Reason is why a data point is unusable, as its telemetry's `reason`
// attribute names it.
type Reason string

const (
	// ReasonNone is a usable point.
	ReasonNone Reason = ""
	// ReasonBucketCount is an explicit histogram whose bucket counts are not one
	// more than its bounds. OTLP allows a point without buckets too, but the
	// Prometheus exporter adds a delta point's buckets to the previous
	// point's index by index and panics on the shorter of the two.
	ReasonBucketCount Reason = "bucket_count"
	// ReasonBounds is explicit bounds not finite and strictly increasing.
	ReasonBounds Reason = "bounds"
	// ReasonCountMismatch is a point whose count is not the sum of its buckets
	// (or the sum overflows).
	ReasonCountMismatch Reason = "count_mismatch"
	// ReasonTooManyBuckets is more buckets than the caller's limit.
	ReasonTooManyBuckets Reason = "too_many_buckets"
	// ReasonScale is an exponential scale outside OTLP's [-10, 20].
	ReasonScale Reason = "scale"
	// ReasonZeroThreshold is a NaN or negative zero threshold.
	ReasonZeroThreshold Reason = "zero_threshold"
	// ReasonQuantile is a summary quantile outside [0, 1].
	ReasonQuantile Reason = "quantile"
	// ReasonValues is a NaN or infinite sum, min or max, or min above max.
	// Prometheus takes them, so metric_guard keeps such points; a learner
	// must not, as min and max place the unbounded buckets' values.
	ReasonValues Reason = "values"
)

// Reasons lists every reason but ReasonNone; Counts is indexed like it.
var Reasons = [...]Reason{ReasonBucketCount, ReasonBounds, ReasonCountMismatch, ReasonTooManyBuckets,
	ReasonScale, ReasonZeroThreshold, ReasonQuantile, ReasonValues}

// OTLP's exponential histogram scale range.
const minScale, maxScale = -10, 20

// Explicit checks an explicit histogram point with at most maxBuckets
// buckets (bounds + 1).
func Explicit(dp pmetric.HistogramDataPoint, maxBuckets int) Reason {
	bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
	if bounds.Len()+1 > maxBuckets {
		return ReasonTooManyBuckets
	}
	if counts.Len() != bounds.Len()+1 {
		return ReasonBucketCount
	}
	if !increasing(bounds) {
		return ReasonBounds
	}
	if total, ok := sum(counts, 0); !ok || total != dp.Count() {
		return ReasonCountMismatch
	}
	return ReasonNone
}

// Exponential checks an exponential histogram point with at most
// maxBuckets buckets (positive + negative).
func Exponential(dp pmetric.ExponentialHistogramDataPoint, maxBuckets int) Reason {
	if dp.Scale() < minScale || dp.Scale() > maxScale {
		return ReasonScale
	}
	if z := dp.ZeroThreshold(); math.IsNaN(z) || z < 0 {
		return ReasonZeroThreshold
	}
	pos, neg := dp.Positive().BucketCounts(), dp.Negative().BucketCounts()
	if pos.Len()+neg.Len() > maxBuckets {
		return ReasonTooManyBuckets
	}
	total, ok := sum(pos, dp.ZeroCount())
	if ok {
		total, ok = sum(neg, total)
	}
	if !ok || total != dp.Count() {
		return ReasonCountMismatch
	}
	return ReasonNone
}

// Summary checks a summary point.
func Summary(dp pmetric.SummaryDataPoint) Reason {
	for _, qv := range dp.QuantileValues().All() {
		if q := qv.Quantile(); !(q >= 0 && q <= 1) { // NaN fails both
			return ReasonQuantile
		}
	}
	return ReasonNone
}

// stats are the optional values of both histogram point types.
type stats interface {
	Sum() float64
	HasMin() bool
	Min() float64
	HasMax() bool
	Max() float64
}

// Values checks a histogram point's sum, min and max (an absent sum reads 0).
func Values[P stats](dp P) Reason {
	if !finite(dp.Sum()) || dp.HasMin() && !finite(dp.Min()) || dp.HasMax() && !finite(dp.Max()) {
		return ReasonValues
	}
	if dp.HasMin() && dp.HasMax() && dp.Min() > dp.Max() {
		return ReasonValues
	}
	return ReasonNone
}

// float64s gives a []float64 pcommon.Float64Slice's Len and At.
type float64s []float64

func (f float64s) Len() int         { return len(f) }
func (f float64s) At(i int) float64 { return f[i] }

// Bounds checks histogram boundaries outside a data point (configured,
// learned or stored ones): ReasonBounds unless finite and strictly increasing.
func Bounds(b []float64) Reason {
	if !increasing(float64s(b)) {
		return ReasonBounds
	}
	return ReasonNone
}

func increasing[S interface {
	Len() int
	At(int) float64
}](s S) bool {
	prev := math.Inf(-1)
	for i := range s.Len() {
		b := s.At(i)
		if !finite(b) || b <= prev {
			return false
		}
		prev = b
	}
	return true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// sum adds counts to start; ok is false when the sum overflows.
func sum(counts pcommon.UInt64Slice, start uint64) (total uint64, ok bool) {
	total = start
	for _, c := range counts.All() {
		var carry uint64
		total, carry = bits.Add64(total, c, 0)
		if carry != 0 {
			return 0, false
		}
	}
	return total, true
}

// Counts counts points by reason, indexed like Reasons.
type Counts [len(Reasons)]int64

// Add counts r and reports whether the point is unusable (r is not ReasonNone).
func (c *Counts) Add(r Reason) bool {
	if r == ReasonNone {
		return false
	}
	for i, known := range Reasons {
		if known == r {
			c[i]++
			break
		}
	}
	return true
}

// Merge adds o's counts to c.
func (c *Counts) Merge(o Counts) {
	for i, v := range o {
		c[i] += v
	}
}

// Total is the number of points counted.
func (c *Counts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}
