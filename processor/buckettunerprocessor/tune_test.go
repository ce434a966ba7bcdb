package buckettunerprocessor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sketchOf(values ...float64) *ddsketch.DDSketch {
	s := newSketch()
	for _, v := range values {
		_ = s.Add(v)
	}
	return s
}

// lognormalSketch holds n lognormal values around median (sigma 0.6).
func lognormalSketch(rng *rand.Rand, n int, median float64) *ddsketch.DDSketch {
	const sigma = 0.6
	s := newSketch()
	for range n {
		_ = s.Add(median * math.Exp(sigma*rng.NormFloat64()))
	}
	return s
}

func requireBoundsValid(t *testing.T, bounds []float64, k int) {
	t.Helper()
	require.LessOrEqual(t, len(bounds), k)
	for i, b := range bounds {
		require.False(t, math.IsNaN(b) || math.IsInf(b, 0), "finite: %v", bounds)
		if i > 0 {
			require.Less(t, bounds[i-1], b, "strictly increasing: %v", bounds)
		}
	}
}

func TestChooseBoundsEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	q := defaultQuantiles
	assert.Nil(t, chooseBounds(nil, 16, q))
	assert.Nil(t, chooseBounds([]*ddsketch.DDSketch{newSketch()}, 16, q), "empty window")
	assert.Nil(t, chooseBounds([]*ddsketch.DDSketch{sketchOf(1)}, 0, q))

	for name, windows := range map[string][]*ddsketch.DDSketch{
		"zeros":           {sketchOf(0, 0, 0)},
		"one value":       {sketchOf(0.25, 0.25, 0.25)},
		"negative values": {sketchOf(-3, -2, -1, 0, 1)},
		"extreme range":   {sketchOf(1e-300, 1, 1e300)},
		"empty history":   {lognormalSketch(rng, 1000, 0.05), newSketch(), newSketch()},
	} {
		t.Run(name, func(t *testing.T) {
			for _, k := range []int{2, 16} {
				requireBoundsValid(t, chooseBounds(windows, k, q), k)
			}
		})
	}
	for _, k := range []int{2, 4, 16, 200} {
		b := chooseBounds([]*ddsketch.DDSketch{lognormalSketch(rng, 5000, 0.05)}, k, q)
		requireBoundsValid(t, b, k)
		assert.Len(t, b, k, "a spread distribution uses every bucket")
	}
}

// TestChooseBoundsRobustToShift: boundaries learned on one window keep the
// target quantiles accurate when the next window is up to 20% faster or
// slower, and cover both of two recent regimes.
func TestChooseBoundsRobustToShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	learned := lognormalSketch(rng, 50_000, 0.05)
	bounds := chooseBounds([]*ddsketch.DDSketch{learned}, 16, defaultQuantiles)
	for _, shift := range []float64{0.85, 1, 1.2} {
		next := lognormalSketch(rng, 50_000, 0.05*shift)
		assert.LessOrEqual(t, quantileError(next, bounds, defaultQuantiles), 0.02, "shift x%.2f", shift)
	}

	normal, degraded := lognormalSketch(rng, 50_000, 0.05), lognormalSketch(rng, 50_000, 0.2)
	bounds = chooseBounds([]*ddsketch.DDSketch{degraded, normal}, 16, defaultQuantiles)
	assert.LessOrEqual(t, quantileError(degraded, bounds, defaultQuantiles), 0.03, "the newest regime")
	assert.LessOrEqual(t, quantileError(normal, bounds, defaultQuantiles), 0.05, "the regime before it")
}

func TestNextWindowKeepsHistory(t *testing.T) {
	w, recent := sketchOf(1), []*ddsketch.DDSketch(nil)
	var ended []*ddsketch.DDSketch
	for i := range historyWindows + 2 {
		ended = append(ended, w)
		w, recent = nextWindow(w, recent)
		require.True(t, w.IsEmpty(), "a fresh window")
		require.Len(t, recent, min(i+1, historyWindows-1))
		require.Same(t, ended[i], recent[0], "newest first")
		_ = w.Add(float64(i + 2))
	}
	same, recent2 := nextWindow(newSketch(), recent)
	assert.True(t, same.IsEmpty())
	assert.Equal(t, recent, recent2, "an empty window is not history")
}
