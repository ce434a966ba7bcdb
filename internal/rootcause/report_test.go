package rootcause

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEvidence(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	tests := []struct {
		name string
		x    map[int]float64
		raw  map[int]float64
		want []string
	}{
		{"beyond min_anomaly, strongest first", map[int]float64{FeatSelfTime: 4, FeatErrorLogs: 9, FeatCalls: 1}, map[int]float64{FeatSelfTime: 120, FeatErrorLogs: 7}, []string{"error_logs=7 (z=9.0)", "self_time_p90_ms=120 (z=4.0)"}},
		{"below it: the strongest reason", map[int]float64{FeatLogMissing: 1.5, FeatCalls: 0.5, FeatSelfTime: -3}, map[int]float64{FeatLogMissing: 12}, []string{"log_template_missing=12 (z=1.5)"}},
		{"nothing above the baseline", map[int]float64{FeatSelfTime: -2}, nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n Node
			for f, z := range tt.x {
				n.X[f] = z
			}
			for f, v := range tt.raw {
				n.Raw[f] = v
			}
			assert.Equal(t, tt.want, e.evidence(&Graph{Nodes: []Node{n}}, 0))
		})
	}
}
