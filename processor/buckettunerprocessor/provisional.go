package buckettunerprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor"

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-biz/otelcol-biz/internal/histcheck"
)

// Provisional boundaries. A series must keep one type from its first point:
// an exporter that sees a name switch from exponential to explicit (the
// Prometheus exporter keys series by type) holds both and fails every scrape
// until the old one expires. So while auto mode learns without configured
// `boundaries`, exponential input is written on explicit boundaries derived
// from the input itself: its bucket bounds merged down to powers of 2
// (scale 0), or of 4, 16, ... when the data spans more than max_buckets
// powers of 2. Powers of 2 are bucket bounds at every scale >= 0, so the
// conversion of span_metrics' or an SDK's buckets onto them is exact. They
// are centred on the populated range of the metric's first usable batch
// (all its series), with the spare bounds split below and above, so that
// faster and slower series of the same name still land in finite buckets.

// provisionalMaxExp clamps the exponents of the data's range: values beyond
// 2^±256 are no latency or size, and every bound stays finite and positive.
const provisionalMaxExp = 256

// provisionalBounds returns k boundaries for the usable points of h, or nil
// when none has a positive value.
func provisionalBounds(h pmetric.ExponentialHistogram, k int) []float64 {
	lo, hi, ok := populatedRange(h)
	if !ok {
		return nil
	}
	return powerBounds(lo, hi, k)
}

// fallbackBounds are k powers of 2 around 1, for points before any usable
// one (empty, zero or negative values only).
func fallbackBounds(k int) []float64 {
	return powerBounds(0, 0, k)
}

// populatedRange is the range (2^lo, 2^hi] covered by the populated positive
// buckets of h's usable points, as base-2 exponents.
func populatedRange(h pmetric.ExponentialHistogram) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, dp := range h.DataPoints().All() {
		if checkExponential(dp) != histcheck.ReasonNone {
			continue
		}
		first, last := -1, -1
		for i, c := range dp.Positive().BucketCounts().All() {
			if c > 0 {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first < 0 {
			continue
		}
		width := math.Exp2(-float64(dp.Scale())) // exponents per bucket; exact, as is every product below
		offset := float64(dp.Positive().Offset())
		lo = min(lo, (offset+float64(first))*width)
		hi = max(hi, (offset+float64(last)+1)*width)
	}
	if lo > hi {
		return 0, 0, false
	}
	clamp := func(e float64) float64 { return max(-provisionalMaxExp, min(provisionalMaxExp, e)) }
	return clamp(lo), clamp(hi), true
}

// powerBounds returns k bounds 2^(j*g) for consecutive integers j, where g =
// 1, 2, 4, ... is the smallest step whose bounds cover (2^lo, 2^hi], centred
// on them. Only k = 2 may not cover a range across 2^0 (that takes 3
// bounds): then g stops at the range's width.
func powerBounds(lo, hi float64, k int) []float64 {
	g := 1.0
	a, b := math.Floor(lo), math.Ceil(hi)
	for b-a+1 > float64(k) && g < hi-lo {
		g *= 2
		a, b = math.Floor(lo/g), math.Ceil(hi/g)
	}
	first := a - math.Floor((float64(k)-(b-a+1))/2)
	bounds := make([]float64, k)
	for j := range bounds {
		bounds[j] = math.Exp2((first + float64(j)) * g)
	}
	return bounds
}
