package buckettunerprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/internal/histcheck"
	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadata"
)

// learnedAll: every auto metric state has boundaries (so nothing is passed through).
func learnedAll(tu *tuner) bool {
	for _, st := range tu.states {
		if st.bounds == nil {
			return false
		}
	}
	return len(tu.states) > 0
}

// FuzzConvert: any OTLP input yields valid explicit histograms (ascending
// finite bounds, a +Inf bucket, counts summing to the count), through both
// a static rule and auto mode (while learning too, but for explicit input,
// which passes through), learned boundaries are finite and strictly
// increasing, and nothing panics.
func FuzzConvert(f *testing.F) {
	seeds := []pmetric.Metrics{
		expMetric(3, 0, 0, -72, []uint64{1, 4, 9, 20, 9, 4, 1}, nil, true),
		expMetric(2, 5, 0.0001, -40, []uint64{3, 0, 7, 2}, nil, false),
		expMetric(-1, 0, 0, -3, []uint64{2, 10, 30, 10, 3}, nil, true),
		expMetric(0, 1, 0, 0, []uint64{4}, []uint64{2, 1}, false),
		explicitMetric([]float64{.005, .01, .025}, []uint64{3, 5, 10, 20}, true),
		explicitMetric(nil, []uint64{7}, true),
	}
	for _, md := range seeds {
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
		if err != nil {
			t.Skip()
		}
		hasExplicit := false
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					hasExplicit = hasExplicit || m.Type() == pmetric.MetricTypeHistogram
				}
			}
		}
		for _, rule := range []RuleConfig{
			{Match: ".*", Mode: ModeTypeStatic, Boundaries: staticBounds},
			{Match: ".*", Mode: ModeTypeAuto, MaxBuckets: 8, Quantiles: []float64{0.5, 0.99}, LearnFor: time.Second, RetuneWhenErrorAbove: 0.05},
		} {
			c := pmetric.NewMetrics()
			md.CopyTo(c)
			cfg := &Config{MaxMetrics: 4, Rules: []RuleConfig{rule}}
			clock := clockwork.NewFakeClock()
			tu, err := newTuner(processortest.NewNopSettings(metadata.Type), cfg, clock)
			require.NoError(t, err)
			for pass := range 2 {
				out, err := tu.processMetrics(context.Background(), c)
				require.NoError(t, err)
				if rule.Mode == ModeTypeStatic || !hasExplicit || pass == 1 && learnedAll(tu) {
					requireValid(t, out)
				}
				for name, st := range tu.states {
					require.Equal(t, histcheck.ReasonNone, histcheck.Bounds(st.bounds), "%s: %v", name, st.bounds)
				}
				clock.Advance(time.Second)
			}
			require.NoError(t, tu.shutdown(context.Background()))
		}
	})
}
