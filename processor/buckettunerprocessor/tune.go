package buckettunerprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor"

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"github.com/DataDog/sketches-go/ddsketch"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-biz/otelcol-biz/internal/histcheck"
	"github.com/otelcol-biz/otelcol-biz/internal/promquantile"
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

// maxLearnBuckets: points with more buckets are not learned from. It is
// metric_guard's default, far above what SDKs or span_metrics produce (160).
const maxLearnBuckets = 4096

// learn adds a histogram metric's usable points to the sketch: each
// bucket's count spread evenly over the bucket (log-uniformly for
// exponential buckets, as Prometheus interpolates native buckets; uniformly
// for explicit ones). Points that break the data model are skipped and
// counted by reason: one wrapped count (9.2e18) or a cumulative bucket
// layout would outweigh every valid point learned in the window.
func learn(s *ddsketch.DDSketch, m pmetric.Metric) (skipped histcheck.Counts) {
	add := func(b srcBucket, geometric bool) {
		if b.count == 0 {
			return
		}
		w := float64(b.count) / learnSpread
		if geometric && b.lo > 0 {
			ratio := math.Pow(b.hi/b.lo, 1.0/learnSpread)
			v := b.lo * math.Sqrt(ratio)
			for range learnSpread {
				_ = s.AddWithCount(v, w) // fails only on NaN or out-of-range values, which are left out
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
			if !skipped.Add(checkExponential(dp)) {
				expBuckets(dp, func(b srcBucket) { add(b, true) })
			}
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			if !skipped.Add(checkExplicit(dp)) {
				explicitBuckets(dp, func(b srcBucket) { add(b, false) })
			}
		}
	}
	return skipped
}

// checkExplicit is why an explicit point cannot be learned from, or ReasonNone.
func checkExplicit(dp pmetric.HistogramDataPoint) histcheck.Reason {
	if r := histcheck.Explicit(dp, maxLearnBuckets); r != histcheck.ReasonNone {
		return r
	}
	return histcheck.Values(dp)
}

// checkExponential is why an exponential point cannot be learned from, or ReasonNone.
func checkExponential(dp pmetric.ExponentialHistogramDataPoint) histcheck.Reason {
	if r := histcheck.Exponential(dp, maxLearnBuckets); r != histcheck.ReasonNone {
		return r
	}
	return histcheck.Values(dp)
}

// Boundary choice. histogram_quantile is exact at a boundary and
// interpolates linearly inside a bucket, so the boundaries that are best
// for the window they were learned on can be poor for the next one: a
// quantile that moves by a few percent leaves its point and lands in a
// wide neighbouring bucket. Auto mode therefore does not optimise for the
// learned window alone but for the EXPECTED error over plausible next
// windows:
//   - each of the last historyWindows windows (the newest weighted 1, each
//     older one historyDecay times the next): services move between a few
//     regimes (normal, degraded, recovering), and a regime seen recently is
//     likely to recur;
//   - each scaled by shiftSteps factors spread log-uniformly over
//     [1/shiftRange, shiftRange]: latency shifts are multiplicative (a
//     slower dependency, a GC pause, a hotter cache), so the neighbourhood
//     of each quantile gets dense boundaries rather than one point.
//
// The objective is the weighted sum, over these scenarios and the target
// quantiles, of histogram_quantile's relative error (capped at 1: a
// quantile beyond the bounds is wrong either way), computed with the
// scenario's own distribution inside each bucket. It is minimised exactly
// (among boundary sets whose buckets around a target quantile span at most
// maxSpan) by dynamic programming over a log grid of candidate boundaries
// (a quantile's error depends only on the two boundaries around it, so the
// total splits over adjacent pairs). Nothing here is fitted to a data set:
// the scenarios come from the metric's own recent windows and from a fixed
// +-25% shift, and the result is what the issue asks for, the boundaries
// that minimise the interpolation error at the configured quantiles, made
// robust to the drift that separates learning from use. On the accuracy
// benchmark (real, fault-injected services) it raises the share of windows
// with p99 error <= 2% from 28% to 49% over placing boundaries at the
// learned quantiles; see the README.
const (
	historyWindows = 4    // windows whose distributions are scenarios: the newest and 3 before it
	historyDecay   = 0.7  // weight of a window relative to the next newer one
	shiftRange     = 1.25 // scenarios scale each window by factors in [1/shiftRange, shiftRange]
	shiftSteps     = 7
	gridRatio      = 1.01 // candidate boundaries: a log grid of 1% steps ...
	maxCandidates  = 400  // ... or coarser, to bound the search
	maxSpan        = 4    // widest bucket around a target quantile
	errorCap       = 1.0
)

// chooseBounds picks at most k finite boundaries for the distributions in
// windows (newest first; windows[0] is the one just ended) minimising the
// expected relative error of histogram_quantile at the target quantiles
// (see above). Slots the target quantiles do not need (rare: few
// quantiles, many buckets) are filled from windows[0] with the 99.9th
// percentile and equi-depth bounds so the whole shape stays readable.
// Values are rounded to 4 significant digits (readable `le` labels).
func chooseBounds(windows []*ddsketch.DDSketch, k int, quantiles []float64) []float64 {
	if len(windows) == 0 || windows[0].IsEmpty() || k <= 0 {
		return nil
	}
	var scens []scenario
	weight := 1.0
	for i, w := range windows {
		if i == historyWindows {
			break
		}
		if d := newLearnedDist(w); d != nil {
			for j := range shiftSteps {
				scale := math.Pow(shiftRange, 2*float64(j)/float64(shiftSteps-1)-1)
				scens = append(scens, scenario{d: d, scale: scale, weight: weight})
			}
		}
		weight *= historyDecay
	}
	bounds := optimalBounds(scens, k, quantiles)
	return fillBounds(windows[0], bounds, k)
}

// nextWindow starts a new window: the ended one (unless empty) becomes the
// newest of recent, which keeps historyWindows-1 windows; the sketch of a
// window that falls out is reused.
func nextWindow(ended *ddsketch.DDSketch, recent []*ddsketch.DDSketch) (*ddsketch.DDSketch, []*ddsketch.DDSketch) {
	if ended.IsEmpty() {
		return ended, recent
	}
	var fresh *ddsketch.DDSketch
	if len(recent) == historyWindows-1 {
		fresh, recent = recent[len(recent)-1], recent[:len(recent)-1]
		fresh.Clear()
	} else {
		fresh = newSketch()
	}
	return fresh, append([]*ddsketch.DDSketch{ended}, recent...)
}

// fillBounds adds boundaries at the 99.9th percentile and equi-depth ranks
// of s until there are k, and sorts them.
func fillBounds(s *ddsketch.DDSketch, bounds []float64, k int) []float64 {
	ranks := []float64{0.999}
	for j := 1; j <= k; j++ {
		ranks = append(ranks, float64(j)/float64(k+1))
	}
	for _, r := range ranks {
		if len(bounds) >= k {
			break
		}
		v, err := s.GetValueAtQuantile(r)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		v = round4(v)
		if !math.IsNaN(v) && !math.IsInf(v, 0) && !containsClose(bounds, v) {
			bounds = append(bounds, v)
		}
	}
	sort.Float64s(bounds)
	return bounds
}

// learnedDist is a learned window as a piecewise-linear CDF: each sketch
// bin's count spread uniformly over the bin.
type learnedDist struct {
	lo, hi, cum []float64 // bins ascending: range and cumulative fraction through the bin
}

func newLearnedDist(s *ddsketch.DDSketch) *learnedDist {
	type bin struct{ v, c float64 }
	var bins []bin
	total := 0.0
	s.ForEach(func(v, c float64) bool {
		if c > 0 {
			bins = append(bins, bin{v, c})
			total += c
		}
		return false
	})
	if len(bins) == 0 || !(total > 0) || math.IsInf(total, 0) {
		return nil
	}
	slices.SortFunc(bins, func(a, b bin) int { return cmp.Compare(a.v, b.v) })
	d := &learnedDist{lo: make([]float64, len(bins)), hi: make([]float64, len(bins)), cum: make([]float64, len(bins))}
	cum := 0.0
	for i, b := range bins {
		cum += b.c
		d.cum[i] = cum / total
		d.lo[i], d.hi[i] = b.v, b.v
		if b.v > 0 { // a bin holds values within sketchAccuracy of its value
			d.lo[i], d.hi[i] = b.v/(1+sketchAccuracy), b.v/(1-sketchAccuracy)
		}
	}
	return d
}

func (d *learnedDist) below(i int) float64 {
	if i == 0 {
		return 0
	}
	return d.cum[i-1]
}

// cdf is the fraction of the distribution at or below x.
func (d *learnedDist) cdf(x float64) float64 {
	i := sort.Search(len(d.hi), func(i int) bool { return d.hi[i] > x })
	if i == len(d.hi) {
		return 1
	}
	if x <= d.lo[i] {
		return d.below(i)
	}
	return d.below(i) + (d.cum[i]-d.below(i))*(x-d.lo[i])/(d.hi[i]-d.lo[i])
}

// quantile is the inverse of cdf.
func (d *learnedDist) quantile(q float64) float64 {
	i := min(sort.Search(len(d.cum), func(i int) bool { return d.cum[i] >= q }), len(d.cum)-1)
	mass := d.cum[i] - d.below(i)
	if mass <= 0 {
		return d.hi[i]
	}
	return d.lo[i] + (d.hi[i]-d.lo[i])*math.Max(0, q-d.below(i))/mass
}

// scenario is a plausible next window: d with every value multiplied by scale.
type scenario struct {
	d      *learnedDist
	scale  float64
	weight float64
}

// optimalBounds returns at most k boundaries from a log grid that minimise
// the weighted sum, over scenarios and quantiles, of histogram_quantile's
// relative error. A quantile in bucket (a, b] is estimated as
// a + (b-a)*(q-C(a))/(C(b)-C(a)), in the first bucket as b*q/C(b), above
// the last bound as that bound; its error therefore depends only on the
// pair of adjacent boundaries around it, and the best set is found by
// dynamic programming over (number of bounds, last bound): O(k*M^2) for M
// candidates.
func optimalBounds(scens []scenario, k int, quantiles []float64) []float64 {
	pts, lo, hi := quantilePoints(scens, quantiles)
	if len(pts) == 0 {
		return nil
	}
	cands, ratio := candidateGrid(lo, hi)
	if len(cands) == 0 {
		return nil
	}
	// A bucket holding a target quantile spans at most maxSpan (L grid
	// steps): wider ones are never worth it with a useful number of bounds,
	// and the limit keeps the search at O(points*L^2 + k*M*L).
	steps := max(1, int(math.Ceil(math.Log(maxSpan)/math.Log(ratio))))
	c := bucketCosts(scens, pts, cands, steps)
	return c.bestBounds(cands, min(k, len(cands)))
}

// quantilePoint is one target quantile of one scenario, with its true value.
type quantilePoint struct {
	s      int // scenario
	q, v   float64
	weight float64
}

// quantilePoints lists the scenarios' target quantiles with a positive,
// finite value (relative error needs a positive truth) and their range.
func quantilePoints(scens []scenario, quantiles []float64) (pts []quantilePoint, lo, hi float64) {
	lo, hi = math.Inf(1), 0.0
	for i, sc := range scens {
		for _, q := range quantiles {
			v := sc.scale * sc.d.quantile(q)
			if v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
				pts = append(pts, quantilePoint{s: i, q: q, v: v, weight: sc.weight})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	return pts, lo, hi
}

// candidateGrid is a log grid from 1/1.5 of lo to 1.5 times hi, rounded to
// 4 significant digits, of at most maxCandidates+2 bounds, and its ratio.
func candidateGrid(lo, hi float64) (cands []float64, ratio float64) {
	lo, hi = lo/1.5, hi*1.5
	ratio = gridRatio
	if math.Log(hi/lo) > maxCandidates*math.Log(ratio) {
		ratio = math.Pow(hi/lo, 1.0/maxCandidates)
	}
	for i, x := 0, lo; i <= maxCandidates+1 && x <= hi*ratio; i, x = i+1, x*ratio { // bounded: extreme inputs overflow
		v := round4(x)
		if v > 0 && !math.IsInf(v, 0) && (len(cands) == 0 || v > cands[len(cands)-1]) {
			cands = append(cands, v)
		}
	}
	return cands, ratio
}

// boundCosts are the weighted errors of the quantile points per bucket
// choice over M candidates, buckets spanning at most L grid steps.
type boundCosts struct {
	// first[m]: the quantiles in the first bucket (0, cands[m]];
	// last[m]: the quantiles above cands[m];
	// pair[l*L+d-1]: the quantiles inside (cands[l], cands[l+d]].
	first, last, pair []float64
	// inside[m]: number of points at or below cands[m], so (l, m] holds
	// inside[m]-inside[l] of them.
	inside []int
	steps  int
}

func bucketCosts(scens []scenario, pts []quantilePoint, cands []float64, steps int) boundCosts {
	M, S, L := len(cands), len(scens), steps
	cdf := make([]float64, M*S) // cdf[m*S+s]: scenario s's fraction at or below cands[m]
	for m, x := range cands {
		for s, sc := range scens {
			cdf[m*S+s] = sc.d.cdf(x / sc.scale)
		}
	}
	cost := func(est, truth float64) float64 { return math.Min(math.Abs(est-truth)/truth, errorCap) }
	c := boundCosts{first: make([]float64, M), last: make([]float64, M), pair: make([]float64, M*L), inside: make([]int, M), steps: L}
	for _, p := range pts {
		at := func(m int) float64 { return cdf[m*S+p.s] }
		idx := sort.Search(M, func(m int) bool { return at(m) >= p.q }) // the quantile is in the bucket ending at the first such bound
		for m := range M {
			if m < idx {
				c.last[m] += p.weight * cost(cands[m], p.v)
			} else {
				c.first[m] += p.weight * cost(cands[m]*p.q/at(m), p.v)
				c.inside[m]++
			}
		}
		for l := max(0, idx-L); l < idx; l++ {
			a, ca := cands[l], at(l)
			band := c.pair[l*L : (l+1)*L]
			for m := idx; m < M && m-l <= L; m++ {
				band[m-l-1] += p.weight * cost(a+(cands[m]-a)*(p.q-ca)/(at(m)-ca), p.v)
			}
		}
	}
	return c
}

// bestBounds runs the dynamic programme: best[j][m] is the least cost of the
// quantiles up to cands[m] with j+1 bounds, the last at cands[m]; from[j][m]
// the bound before it, at most L steps below or with no quantile in between
// (lowest[m] on). It returns the cheapest set of at most k bounds.
func (c boundCosts) bestBounds(cands []float64, k int) []float64 {
	M, L := len(cands), c.steps
	lowest := make([]int, M)
	for m := range M {
		lowest[m] = m
		if m > 0 && c.inside[m-1] == c.inside[m] {
			lowest[m] = lowest[m-1]
		}
	}
	best, from := make([][]float64, k), make([][]int32, k)
	best[0], from[0] = c.first, make([]int32, M)
	for j := 1; j < k; j++ {
		best[j], from[j] = make([]float64, M), make([]int32, M)
		for m := range M {
			b, arg := math.Inf(1), int32(-1)
			for l := min(lowest[m], max(0, m-L)); l < m; l++ {
				cost := best[j-1][l]
				if m-l <= L {
					cost += c.pair[l*L+m-l-1]
				}
				if cost < b {
					b, arg = cost, int32(l)
				}
			}
			best[j][m], from[j][m] = b, arg
		}
	}
	total, bj, bm := math.Inf(1), -1, -1
	for j := range k {
		for m := range M {
			if cost := best[j][m] + c.last[m]; cost < total {
				total, bj, bm = cost, j, m
			}
		}
	}
	var bounds []float64
	for j, m := bj, bm; j >= 0 && m >= 0; j-- {
		bounds = append(bounds, cands[m])
		m = int(from[j][m])
	}
	slices.Reverse(bounds)
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
