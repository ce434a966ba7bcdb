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
		{"latency weighed a tenth", map[int]float64{FeatSelfTime: 30, FeatErrorRate: 6}, map[int]float64{FeatSelfTime: 250, FeatErrorRate: 0.5}, []string{"error_rate=0.5 (z=6.0)", "self_time_p90_ms=250 (z=30.0)"}},
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

// TestReportPattern: a report's pattern is its first candidate's strongest
// weighed feature.
func TestReportPattern(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	tests := []struct {
		name string
		x    map[int]float64
		want string
	}{
		{"latency", map[int]float64{FeatSelfTime: 30, FeatErrorRate: 2}, PatternLatency},
		{"errors beat a latency z five times theirs", map[int]float64{FeatSelfTime: 30, FeatErrorRate: 6}, PatternError},
		{"network", map[int]float64{FeatGapIn: 200, FeatLogMissing: 3}, PatternNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Node{Service: "svc"}
			for f, z := range tt.x {
				n.X[f] = z
			}
			assert.Equal(t, tt.want, e.report(&Graph{Nodes: []Node{n}}).Pattern)
		})
	}
}
