package promquantile

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClassic(t *testing.T) {
	bounds := []float64{1, 2, 4}
	tests := []struct {
		name   string
		q      float64
		counts []uint64
		want   float64
	}{
		{name: "rank at a bucket's top is its upper bound", q: 0.5, counts: []uint64{0, 10, 10, 0}, want: 2},
		{name: "linear inside the bucket", q: 0.75, counts: []uint64{0, 10, 10, 0}, want: 3},
		{name: "first bucket starts at 0", q: 0.25, counts: []uint64{10, 10, 0, 0}, want: 0.5},
		{name: "+Inf bucket yields the highest finite bound", q: 0.99, counts: []uint64{0, 10, 10, 5}, want: 4},
		{name: "q > 1", q: 1.5, counts: []uint64{1, 1, 1, 1}, want: math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, Classic(tt.q, bounds, tt.counts), 1e-12)
		})
	}
	assert.True(t, math.IsNaN(Classic(0.5, bounds, []uint64{0, 0, 0, 0})), "no observations")
	assert.True(t, math.IsNaN(Classic(0.5, bounds, []uint64{1, 2})), "counts do not match bounds")
}

func TestNative(t *testing.T) {
	// scale 0: base 2; bucket 0 is (1, 2]. Half-way in rank is sqrt(2) with
	// Prometheus' exponential interpolation (linear would give 1.5).
	assert.InDelta(t, math.Sqrt2, Native(0.5, 0, 0, 0, 0, []uint64{4}), 1e-12)
	// zero bucket: linear in [0, threshold]
	assert.InDelta(t, 0.0005, Native(0.25, 3, 0.001, 2, 0, []uint64{0, 2}), 1e-12)
	// scale 1, offset -2: buckets (2^-1, 2^-0.5], (2^-0.5, 1]; the top of the second is 1
	assert.InDelta(t, 1.0, Native(1, 1, 0, 0, -2, []uint64{1, 1}), 1e-12)
	assert.True(t, math.IsNaN(Native(0.5, 0, 0, 0, 0, nil)))
}

func TestExact(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sorted  []float64
		q, want float64
	}{
		{"one sample", []float64{3}, 0.99, 3},
		{"median of two", []float64{1, 3}, 0.5, 2},
		{"p90 of 11", []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"between order statistics", []float64{0, 10, 20, 30, 40}, 0.99, 39.6},
		{"maximum", []float64{1, 2, 5}, 1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.InDelta(t, tc.want, Exact(tc.sorted, tc.q), 1e-9)
		})
	}
	assert.True(t, math.IsNaN(Exact(nil, 0.5)), "no samples")
}
