package buckettunerprocessor

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadata"
)

// benchPoints: 100 data points (series) of a span_metrics-like exponential
// histogram at scale 4, ~40 populated buckets each.
func benchPoints() pmetric.Metrics {
	rng := rand.New(rand.NewPCG(7, 8))
	md := lognormalPoint(rng, 2000, 0.05)
	m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	dps := m.ExponentialHistogram().DataPoints()
	for i := 1; i < 100; i++ {
		dps.At(0).CopyTo(dps.AppendEmpty())
	}
	return md
}

func benchConvert(b *testing.B, rule RuleConfig) {
	cfg := &Config{MaxMetrics: 10, Rules: []RuleConfig{rule}}
	tu, err := newTuner(processortest.NewNopSettings(metadata.Type), cfg, clockwork.NewFakeClock())
	require.NoError(b, err)
	src := benchPoints()
	const pool = 64
	batches := make([]pmetric.Metrics, pool)
	refill := func() {
		for i := range batches {
			batches[i] = pmetric.NewMetrics()
			src.CopyTo(batches[i])
		}
	}
	refill()
	b.ReportAllocs()
	points, i := 0, 0
	for b.Loop() {
		if i == pool {
			b.StopTimer()
			refill()
			i = 0
			b.StartTimer()
		}
		_, _ = tu.processMetrics(context.Background(), batches[i])
		i++
		points += 100
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(points), "ns/datapoint")
}

// BenchmarkStatic: exponential -> explicit on 11 static boundaries.
func BenchmarkStatic(b *testing.B) {
	benchConvert(b, RuleConfig{Match: ".", Mode: ModeTypeStatic, Boundaries: staticBounds})
}

// BenchmarkAutoLearning: auto mode during learning (sketch updates, then the
// conversion onto provisional powers of 2).
func BenchmarkAutoLearning(b *testing.B) {
	benchConvert(b, RuleConfig{Match: ".", Mode: ModeTypeAuto, MaxBuckets: 16, Quantiles: defaultQuantiles, LearnFor: defaultLearnFor, RetuneWhenErrorAbove: 0.05})
}

// BenchmarkChooseBounds: one boundary choice (the end of the learning
// period or a retune, at most once per learn_for and metric name) from four
// windows of a log-normal distribution drifting by 10% per window.
func BenchmarkChooseBounds(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	var windows []*ddsketch.DDSketch
	for w := range historyWindows {
		sk := newSketch()
		md := lognormalPoint(rng, 5000, 0.05*math.Pow(1.1, float64(w)))
		learn(sk, md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0))
		windows = append(windows, sk)
	}
	for _, k := range []int{16, 64} {
		b.Run(fmt.Sprintf("max_buckets=%d", k), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				chooseBounds(windows, k, defaultQuantiles)
			}
		})
	}
}
