package buckettunerprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor"

import (
	"math"
	"sort"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// A source bucket is a range of values with a count. Conversion spreads each
// source bucket's count over the target buckets it overlaps, LINEARLY within
// the source bucket (the rule Prometheus' histogram_quantile itself assumes
// for classic buckets), so a target boundary inside a source bucket gets the
// share of the count proportional to the overlap. Conversion is therefore
// exact whenever a source bucket lies inside one target bucket, and off by
// at most the source bucket's width otherwise. Fractional shares are
// rounded by the largest-remainder method, so the integer target counts
// always sum to the source count.
type srcBucket struct {
	lo, hi float64 // lo == hi: a point mass (unbounded source bucket clamped to min/max)
	count  uint64
}

// spreader accumulates source buckets onto fixed target boundaries.
type spreader struct {
	bounds []float64 // finite upper bounds, ascending
	whole  []uint64  // integer part per target bucket (len(bounds)+1)
	frac   []float64 // fractional remainders per target bucket
}

func newSpreader(bounds []float64) *spreader {
	return &spreader{bounds: bounds, whole: make([]uint64, len(bounds)+1), frac: make([]float64, len(bounds)+1)}
}

func (s *spreader) reset() {
	clear(s.whole)
	clear(s.frac)
}

// target returns the target bucket of value v: bucket j holds (bounds[j-1], bounds[j]].
func (s *spreader) target(v float64) int {
	return sort.SearchFloat64s(s.bounds, v) // first bound >= v
}

func (s *spreader) add(b srcBucket) {
	if b.count == 0 {
		return
	}
	first, last := s.target(b.lo), s.target(b.hi)
	if first == last || b.hi <= b.lo {
		s.whole[last] += b.count
		return
	}
	width := b.hi - b.lo
	c := float64(b.count)
	for j := first; j <= last; j++ {
		lo, hi := b.lo, b.hi
		if j > first {
			lo = s.bounds[j-1]
		}
		if j < len(s.bounds) && j < last {
			hi = s.bounds[j]
		}
		share := c * (hi - lo) / width
		w := math.Floor(share)
		s.whole[j] += uint64(w)
		s.frac[j] += share - w
	}
}

// counts returns the integer target counts summing to total: the whole
// parts plus the remaining units, one at a time, to the largest remainders.
// Beyond 2^53 the float shares are inexact; the difference then settles on
// the largest bucket (uint64 arithmetic wraps like the total's own sum), so
// the counts still sum to the total and the loop stays bounded.
func (s *spreader) counts(total uint64, dst []uint64) []uint64 {
	dst = append(dst[:0], s.whole...)
	var assigned uint64
	for _, w := range dst {
		assigned += w
	}
	if assigned <= total && total-assigned <= uint64(len(dst)) {
		for ; assigned < total; assigned++ {
			best := 0
			for j := range s.frac {
				if s.frac[j] > s.frac[best] {
					best = j
				}
			}
			dst[best]++
			s.frac[best]-- // that remainder is used up
		}
		return dst
	}
	big := 0
	for j := range dst {
		if dst[j] > dst[big] {
			big = j
		}
	}
	dst[big] += total - assigned
	return dst
}

// expBuckets calls fn with each bucket of an exponential histogram point,
// zero bucket included, as value ranges.
func expBuckets(dp pmetric.ExponentialHistogramDataPoint, fn func(srcBucket)) {
	base := math.Exp2(math.Exp2(-float64(dp.Scale())))
	pos := dp.Positive()
	for i := 0; i < pos.BucketCounts().Len(); i++ {
		idx := float64(pos.Offset()) + float64(i)
		fn(srcBucket{lo: math.Pow(base, idx), hi: math.Pow(base, idx+1), count: pos.BucketCounts().At(i)})
	}
	if z := dp.ZeroCount(); z > 0 {
		zt := dp.ZeroThreshold()
		fn(srcBucket{lo: -zt, hi: zt, count: z})
	}
	neg := dp.Negative()
	for i := 0; i < neg.BucketCounts().Len(); i++ {
		idx := float64(neg.Offset()) + float64(i)
		fn(srcBucket{lo: -math.Pow(base, idx+1), hi: -math.Pow(base, idx), count: neg.BucketCounts().At(i)})
	}
}

// explicitBuckets calls fn with each bucket of an explicit histogram point.
// The unbounded first and last buckets are clamped to the point's min and
// max when it has them, else they are point masses at their finite bound.
func explicitBuckets(dp pmetric.HistogramDataPoint, fn func(srcBucket)) {
	bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
	n := counts.Len()
	for i := 0; i < n; i++ {
		c := counts.At(i)
		if c == 0 {
			continue
		}
		var lo, hi float64
		switch {
		case bounds.Len() == 0: // a single bucket: everything between min and max
			lo, hi = 0, 0
			if dp.HasMin() && dp.HasMax() {
				lo, hi = dp.Min(), dp.Max()
			} else if dp.Count() > 0 {
				lo = dp.Sum() / float64(dp.Count())
				hi = lo
			}
		case i == 0:
			hi = bounds.At(0)
			lo = hi
			if dp.HasMin() && dp.Min() < hi {
				lo = dp.Min()
			}
		case i >= bounds.Len():
			lo = bounds.At(bounds.Len() - 1)
			hi = lo
			if dp.HasMax() && dp.Max() > lo {
				hi = dp.Max()
			}
			if hi == lo {
				hi = math.Nextafter(lo, math.Inf(1)) // just above: the +Inf side of the bound
				lo = hi
			}
		default:
			lo, hi = bounds.At(i-1), bounds.At(i)
		}
		fn(srcBucket{lo: lo, hi: hi, count: c})
	}
}

// fillExplicit writes an explicit histogram point on bounds from a source
// point's buckets; count, sum, min, max, times, flags, attributes and
// exemplars are kept.
func fillExplicit(dst pmetric.HistogramDataPoint, bounds []float64, sp *spreader, total uint64, scratch *[]uint64) {
	dst.ExplicitBounds().FromRaw(bounds)
	*scratch = sp.counts(total, *scratch)
	dst.BucketCounts().FromRaw(*scratch)
}

// convertExponential turns an exponential histogram metric into an explicit
// one on bounds, in place.
func convertExponential(m pmetric.Metric, bounds []float64, sp *spreader, scratch *[]uint64) {
	src := m.ExponentialHistogram()
	h := pmetric.NewHistogram()
	h.SetAggregationTemporality(src.AggregationTemporality())
	h.DataPoints().EnsureCapacity(src.DataPoints().Len())
	for _, dp := range src.DataPoints().All() {
		out := h.DataPoints().AppendEmpty()
		dp.Attributes().CopyTo(out.Attributes())
		out.SetStartTimestamp(dp.StartTimestamp())
		out.SetTimestamp(dp.Timestamp())
		out.SetCount(dp.Count())
		if dp.HasSum() {
			out.SetSum(dp.Sum())
		}
		if dp.HasMin() {
			out.SetMin(dp.Min())
		}
		if dp.HasMax() {
			out.SetMax(dp.Max())
		}
		out.SetFlags(dp.Flags())
		dp.Exemplars().CopyTo(out.Exemplars())
		sp.reset()
		var total uint64
		expBuckets(dp, func(b srcBucket) { sp.add(b); total += b.count })
		fillExplicit(out, bounds, sp, total, scratch)
		if total != dp.Count() {
			out.SetCount(total) // a point whose count disagrees with its buckets: the buckets win, so the output is valid
		}
	}
	h.MoveTo(m.SetEmptyHistogram())
}

// convertExplicit re-buckets an explicit histogram metric onto bounds, in place.
func convertExplicit(m pmetric.Metric, bounds []float64, sp *spreader, scratch *[]uint64) {
	for _, dp := range m.Histogram().DataPoints().All() {
		if dp.BucketCounts().Len() == len(bounds)+1 && sameBounds(dp.ExplicitBounds().AsRaw(), bounds) {
			var sum uint64
			for _, c := range dp.BucketCounts().All() {
				sum += c
			}
			dp.SetCount(sum) // already on the bounds: only the count must agree with the buckets
			continue
		}
		sp.reset()
		var total uint64
		explicitBuckets(dp, func(b srcBucket) { sp.add(b); total += b.count })
		fillExplicit(dp, bounds, sp, total, scratch)
		dp.SetCount(total)
	}
}

func sameBounds(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
