package rootcause

import "math"

// baroSeries are the per-service series BARO scores: pod CPU and memory,
// the latency series (p90 self time and p90 response time) and the error
// series (failed share of requests, ERROR log records).
var baroSeries = []int{FeatCPU, FeatMemory, FeatSelfTime, FeatDuration, FeatErrorRate, FeatErrorLogs}

// BARO is the BARO baseline (Pham et al., FSE 2024), at window grain:
// BARO splits each series at the change point its Bayesian online
// detector finds and scores a metric by the largest robust z of the
// points after it against those before; here the closing window is the
// "after" and the service's baseline windows the "before", so its score is
// the largest of its series' robust z (signed: a drop is no anomaly). A
// service without a series (no samples) scores 0 on it.
type BARO struct{}

// Name is the method's name in cmd/rcabench.
func (BARO) Name() string { return "baro" }

// Score returns each node's largest series z and their softmax.
func (BARO) Score(g *Graph) ([]float64, []float64) {
	s := make([]float64, len(g.Nodes))
	for i := range g.Nodes {
		s[i] = math.Inf(-1)
		for _, f := range baroSeries {
			s[i] = math.Max(s[i], g.Nodes[i].X[f])
		}
	}
	return s, softmax(s)
}
