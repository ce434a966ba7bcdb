package rootcause

import "math"

// BenchMethods are ranking methods the engine has but the connector's
// configuration does not offer: cmd/rcabench's extra baselines.
var BenchMethods = []string{"simple", "baro"}

// simpleThreshold is the z a stage's signal must exceed somewhere in the
// window for Simple to rank by it (the usual 3-sigma, not fitted).
const simpleThreshold = 3

// Simple is the rule-based floor: rank by the error-rate z when some
// service's exceeds simpleThreshold, else by the latency z when some
// service's does, else by the size of the call-count change. Each z is the
// engine's, against the service's own baseline windows.
type Simple struct{}

// Name is the method's name in cmd/rcabench.
func (Simple) Name() string { return "simple" }

// simpleStages are Simple's signals in the order it tries them; a drop in
// calls counts as much as a rise.
var simpleStages = []func(n *Node) float64{
	func(n *Node) float64 { return n.X[FeatErrorRate] },
	func(n *Node) float64 { return n.latency() },
	func(n *Node) float64 { return math.Abs(n.X[FeatCalls]) },
}

// Score returns each node's z of the first stage that fires, and their softmax.
func (Simple) Score(g *Graph) ([]float64, []float64) {
	s := make([]float64, len(g.Nodes))
	for k, stage := range simpleStages {
		top := math.Inf(-1)
		for i := range g.Nodes {
			s[i] = stage(&g.Nodes[i])
			top = math.Max(top, s[i])
		}
		if top > simpleThreshold || k == len(simpleStages)-1 {
			break
		}
	}
	return s, softmax(s)
}
