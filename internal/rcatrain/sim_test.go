package rcatrain

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-biz/otelcol-biz/internal/rcasim"
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
