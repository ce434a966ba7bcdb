// Package promquantile computes quantiles from histograms exactly as
// Prometheus' histogram_quantile does (prometheus/prometheus promql/quantile.go,
// v3), so that accuracy is measured with the rule users' dashboards use.
package promquantile // import "github.com/otelcol-biz/otelcol-biz/internal/promquantile"

import "math"

// Classic is histogram_quantile over classic buckets: bounds are the finite
// upper bounds (ascending), counts the per-bucket (not cumulative) counts
// with len(bounds)+1 entries, the last for +Inf. Within a bucket the value
// is interpolated linearly; the first bucket's lower bound is 0 when its
// upper bound is positive; a rank in the +Inf bucket yields the highest
// finite bound.
func Classic[C uint64 | float64](q float64, bounds []float64, counts []C) float64 {
	if len(counts) != len(bounds)+1 || len(bounds) == 0 {
		return math.NaN()
	}
	var total float64
	for _, c := range counts {
		total += float64(c)
	}
	if total == 0 {
		return math.NaN()
	}
	switch {
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	rank := q * total
	var cum float64
	b := 0
	for ; b < len(bounds); b++ { // sort.Search over the finite buckets
		if cum+float64(counts[b]) >= rank {
			break
		}
		cum += float64(counts[b])
	}
	if b == len(bounds) {
		return bounds[len(bounds)-1]
	}
	if b == 0 && bounds[0] <= 0 {
		return bounds[0]
	}
	start, end := 0.0, bounds[b]
	if b > 0 {
		start = bounds[b-1]
	}
	count := float64(counts[b])
	return start + (end-start)*((rank-cum)/count)
}

// Native is histogram_quantile over a native (exponential) histogram of
// positive observations: bucket i (offset+index) covers (base^i, base^(i+1)]
// with base = 2^(2^-scale); zeroCount observations are in [0, zeroThreshold].
// Within a bucket Prometheus interpolates exponentially ("as if the
// observations uniformly populated a histogram of higher resolution"); the
// zero bucket linearly.
func Native(q float64, scale int32, zeroThreshold float64, zeroCount uint64, offset int32, counts []uint64) float64 {
	total := zeroCount
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return math.NaN()
	}
	switch {
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	rank := q * float64(total)
	if float64(zeroCount) >= rank && zeroCount > 0 {
		return zeroThreshold * rank / float64(zeroCount)
	}
	cum := float64(zeroCount)
	base := math.Exp2(math.Exp2(-float64(scale)))
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			lower := math.Pow(base, float64(offset)+float64(i))
			upper := lower * base
			fraction := (rank - cum) / float64(c)
			return math.Exp2(math.Log2(lower) + (math.Log2(upper)-math.Log2(lower))*fraction)
		}
		cum += float64(c)
	}
	// rounding: the rank is in the last populated bucket
	for i := len(counts) - 1; i >= 0; i-- {
		if counts[i] > 0 {
			return math.Pow(base, float64(offset)+float64(i)+1)
		}
	}
	return zeroThreshold
}

// Exact is the linearly interpolated (type 7) quantile of ascending samples:
// the truth histogram estimates are scored against.
func Exact(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	h := q * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}
