package rcatrain

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-biz/otelcol-biz/internal/rcasim"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// TestShapeExamples: every shape yields labelled windows, tagged by shape,
// the same for the same seed; TrainTicket's stream is SimExamples'.
func TestShapeExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and replays scenarios")
	}
	for _, sh := range rcasim.Shapes {
		t.Run(string(sh), func(t *testing.T) {
			a, err := ShapeExamples(sh, 3, 7, Defaults, true)
			require.NoError(t, err)
			b, err := ShapeExamples(sh, 3, 7, Defaults, true)
			require.NoError(t, err)
			require.NotEmpty(t, a)
			require.Len(t, b, len(a))
			for i := range a {
				assert.True(t, IsSim(a[i]))
				assert.Equal(t, a[i].Source, b[i].Source)
				assert.Equal(t, a[i].Target, b[i].Target)
				assert.Equal(t, fmt.Sprint(a[i].Graph.Nodes), fmt.Sprint(b[i].Graph.Nodes)) // Raw holds NaNs
				if sh == rcasim.ShapeTrainTicket {
					assert.Equal(t, "sim", a[i].Source)
				} else {
					assert.Equal(t, "sim/"+string(sh), a[i].Source)
				}
			}
		})
	}
	tt, err := SimExamples(3, 7, Defaults)
	require.NoError(t, err)
	shaped, err := ShapeExamples(rcasim.ShapeTrainTicket, 3, 7, Defaults, true)
	require.NoError(t, err)
	require.Len(t, shaped, len(tt))
	for i := range tt {
		assert.Equal(t, fmt.Sprint(tt[i].Graph.Nodes), fmt.Sprint(shaped[i].Graph.Nodes))
	}
}

// TestShapeExamplesWithout: the same scenarios as ShapeExamples without
// families dropped; without span status the shop's exceptions (its only
// error signal: it ships no logs) leave no node an error rate.
func TestShapeExamplesWithout(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and replays scenarios")
	}
	const n = 5 // the fifth fault kind in turn is the third: an exception
	tests := []struct {
		name     string
		m        Missing
		errorsOK bool // some node has an error rate (and the graphs are ShapeExamples')
	}{
		{name: "as shipped", m: Missing{}, errorsOK: true},
		{name: "no status", m: Missing{Status: true}},
	}
	shipped, err := ShapeExamples(rcasim.ShapeGRPCShop, n, 7, Defaults, false)
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ShapeExamplesWithout(rcasim.ShapeGRPCShop, n, 7, Defaults, tt.m)
			require.NoError(t, err)
			require.Len(t, got, len(shipped))
			errors := false
			for i := range got {
				assert.Equal(t, shipped[i].Fault, got[i].Fault)
				assert.Equal(t, shipped[i].Target, got[i].Target)
				for _, nd := range got[i].Graph.Nodes {
					errors = errors || nd.X[rootcause.FeatErrorRate] > 0
				}
				if tt.errorsOK {
					assert.Equal(t, fmt.Sprint(shipped[i].Graph.Nodes), fmt.Sprint(got[i].Graph.Nodes))
				}
			}
			assert.Equal(t, tt.errorsOK, errors)
		})
	}
}

// TestHiddenCulprit: with HideCulprit every scenario's culprit sends
// nothing and is labelled as the blind spot its callers' CLIENT spans
// name, in a shape with peer attributes and in TrainTicket's (generated
// with CLIENT exit spans for it); with HideBystanders the culprit stays
// and at most that many blind spots appear (a hidden service no call
// reached in the scored window has no node).
func TestHiddenCulprit(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and replays scenarios")
	}
	for _, sh := range []rcasim.Shape{rcasim.ShapeGRPCShop, rcasim.ShapeTrainTicket} {
		t.Run(string(sh), func(t *testing.T) {
			got, err := ShapeExamplesWithout(sh, 4, 7, Defaults, Missing{HideCulprit: true})
			require.NoError(t, err)
			require.NotEmpty(t, got)
			for _, l := range got {
				target := l.Graph.Nodes[l.Target]
				assert.True(t, target.BlindSpot, "%s %s", l.Fault, target.Service)
				for i, nd := range l.Graph.Nodes {
					assert.Equal(t, i == l.Target, nd.BlindSpot, "only the culprit is hidden: %s", nd.Service)
				}
			}
		})
	}
	others, err := ShapeExamplesWithout(rcasim.ShapeGRPCShop, 4, 7, Defaults, Missing{HideBystanders: 2})
	require.NoError(t, err)
	for _, l := range others {
		assert.False(t, l.Graph.Nodes[l.Target].BlindSpot, "the culprit sends its spans")
		blind := 0
		for _, nd := range l.Graph.Nodes {
			if nd.BlindSpot {
				blind++
			}
		}
		assert.LessOrEqual(t, blind, 2)
	}
}
