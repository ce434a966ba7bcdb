package rootcause

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBARO: a service scores its largest series z, metric, latency or
// error alike; the edge-derived gaps, call counts and log templates are
// not its series, and a drop is no anomaly.
func TestBARO(t *testing.T) {
	tests := []struct {
		name string
		zs   map[string]map[int]float64
		want string
	}{
		{"cpu", map[string]map[int]float64{
			"a": {FeatSelfTime: 3}, "b": {FeatCPU: 9, FeatSelfTime: 1}, "c": {FeatDuration: 4},
		}, "b"},
		{"memory", map[string]map[int]float64{
			"a": {FeatMemory: 12}, "b": {FeatCPU: 2}, "c": {FeatErrorRate: 1},
		}, "a"},
		{"response time", map[string]map[int]float64{
			"a": {FeatDuration: 6}, "b": {FeatDuration: 15}, "c": {FeatCPU: 3},
		}, "b"},
		{"errors", map[string]map[int]float64{
			"a": {FeatErrorRate: 20}, "b": {FeatDuration: 8}, "c": {FeatErrorLogs: 5},
		}, "a"},
		{"a gap is no series of its own", map[string]map[int]float64{
			"a": {FeatGapIn: 50, FeatCalls: 40}, "b": {FeatSelfTime: 2}, "c": {FeatLogNew: 30},
		}, "b"},
		{"a drop is no anomaly", map[string]map[int]float64{
			"a": {FeatCPU: -15}, "b": {FeatDuration: 4}, "c": {FeatMemory: 1},
		}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := zGraph(tt.zs)
			scores, conf := BARO{}.Score(g)
			assert.Equal(t, tt.want, top(g, scores), "%v", scores)
			assert.InDelta(t, 1, conf[0]+conf[1]+conf[2], 1e-9)
		})
	}
}
