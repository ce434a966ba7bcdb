package buckettunerprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor"

import (
	"math"
	"slices"
	"sort"

	"github.com/DataDog/sketches-go/ddsketch"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/promquantile"
)

// Learned distributions are DDSketches with 0.5% relative accuracy, at most
// 2048 bins (older low bins collapse first): a few KiB per metric name.
const (
	sketchAccuracy = 0.005
	sketchMaxBins  = 2048
)

func newSketch() *ddsketch.DDSketch {
	s, _ := ddsketch.LogCollapsingLowestDenseDDSketch(sketchAccuracy, sketchMaxBins) // constant, valid arguments
	return s
}

// learnSpread is how many points each source bucket's count is spread over
// when learning, so that the learned distribution is smooth within buckets
// instead of point masses at bucket midpoints.
const learnSpread = 8

// learn adds a histogram metric's points to the sketch: each bucket's count
// spread evenly over the bucket (log-uniformly for exponential buckets, as
// Prometheus interpolates native buckets; uniformly for explicit ones).
func learn(s *ddsketch.DDSketch, m pmetric.Metric) {
	add := func(b srcBucket, geometric bool) {
		if b.count == 0 {
			return
		}
		w := float64(b.count) / learnSpread
		if geometric && b.lo > 0 {
			ratio := math.Pow(b.hi/b.lo, 1.0/learnSpread)
			v := b.lo * math.Sqrt(ratio)
			for range learnSpread {
				_ = s.AddWithCount(v, w) // only fails on NaN/negative counts, which pdata cannot hold
				v *= ratio
			}
			return
		}
		step := (b.hi - b.lo) / learnSpread
		for j := range learnSpread {
			_ = s.AddWithCount(b.lo+step*(float64(j)+0.5), w)
		}
	}
	switch m.Type() {
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			expBuckets(dp, func(b srcBucket) { add(b, true) })
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			explicitBuckets(dp, func(b srcBucket) { add(b, false) })
		}
	}
}

// chooseBounds picks at most k finite boundaries for the distribution in s
// that minimise the interpolation error of histogram_quantile at the target
// quantiles:
//   - a boundary AT each target quantile's value: histogram_quantile is
//     exact at a bucket boundary;
//   - guard boundaries just below and above each target in rank space
//     ((1-q)/2 away), so that when the distribution drifts the quantile
//     still falls in a narrow bucket;
//   - the rest equi-depth (equal counts per bucket), plus the 99.9th
//     percentile, so the whole shape stays readable.
//
// Values are rounded to 4 significant digits (readable `le` labels).
func chooseBounds(s *ddsketch.DDSketch, k int, quantiles []float64) []float64 {
	if s.IsEmpty() || k <= 0 {
		return nil
	}
	var ranks []float64
	ranks = append(ranks, quantiles...)
	for _, q := range quantiles {
		g := math.Min(q, 1-q) / 2
		ranks = append(ranks, q-g, q+g)
	}
	ranks = append(ranks, 0.999)
	for j := 1; j <= k; j++ {
		ranks = append(ranks, float64(j)/float64(k+1))
	}
	var bounds []float64
	for _, r := range ranks {
		if len(bounds) >= k {
			break
		}
		v, err := s.GetValueAtQuantile(math.Min(math.Max(r, 0), 1))
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		v = round4(v)
		if !containsClose(bounds, v) {
			bounds = append(bounds, v)
		}
	}
	sort.Float64s(bounds)
	return bounds
}

func round4(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

func containsClose(bounds []float64, v float64) bool {
	return slices.ContainsFunc(bounds, func(b float64) bool {
		return b == v || math.Abs(b-v) <= 1e-3*math.Max(math.Abs(b), math.Abs(v))
	})
}

// quantileError is the largest relative error, over the target quantiles,
// of histogram_quantile on bounds against the sketch's own quantiles (0.5%
// accurate) for the distribution in s.
func quantileError(s *ddsketch.DDSketch, bounds []float64, quantiles []float64) float64 {
	if s.IsEmpty() || len(bounds) == 0 {
		return 0
	}
	counts := make([]float64, len(bounds)+1)
	s.ForEach(func(v, c float64) bool {
		counts[sort.SearchFloat64s(bounds, v)] += c
		return false
	})
	worst := 0.0
	for _, q := range quantiles {
		truth, err := s.GetValueAtQuantile(q)
		if err != nil || truth == 0 {
			continue
		}
		est := promquantile.Classic(q, bounds, counts)
		if e := math.Abs(est-truth) / math.Abs(truth); e > worst {
			worst = e
		}
	}
	return worst
}
