package rootcause

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zGraph is a window of services a, b, c with the given node z's.
func zGraph(zs map[string]map[int]float64) *Graph {
	g := &Graph{}
	for _, svc := range []string{"a", "b", "c"} {
		n := Node{Service: svc}
		for f, z := range zs[svc] {
			n.X[f] = z
		}
		g.Nodes = append(g.Nodes, n)
	}
	return g
}

// top is the service with the highest score.
func top(g *Graph, scores []float64) string {
	return g.Nodes[argmax(scores)].Service
}

// TestSimple: errors decide when some service's error-rate z exceeds the
// threshold, then latency, then the size of the call-count change.
func TestSimple(t *testing.T) {
	tests := []struct {
		name string
		zs   map[string]map[int]float64
		want string
	}{
		{"errors lead even against a larger latency z", map[string]map[int]float64{
			"a": {FeatErrorRate: 8}, "b": {FeatSelfTime: 40}, "c": {FeatCalls: 30},
		}, "a"},
		{"errors under the threshold: latency", map[string]map[int]float64{
			"a": {FeatErrorRate: 2.5}, "b": {FeatSelfTime: 12}, "c": {FeatCalls: 30},
		}, "b"},
		{"latency counts the gaps of the calls into it", map[string]map[int]float64{
			"a": {FeatSelfTime: 4}, "b": {FeatGapIn: 15},
		}, "b"},
		{"neither: the largest call-count change, a drop too", map[string]map[int]float64{
			"a": {FeatErrorRate: 1, FeatCalls: 2}, "b": {FeatSelfTime: 2}, "c": {FeatCalls: -9},
		}, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := zGraph(tt.zs)
			scores, conf := Simple{}.Score(g)
			assert.Equal(t, tt.want, top(g, scores), "%v", scores)
			assert.InDelta(t, 1, conf[0]+conf[1]+conf[2], 1e-9)
		})
	}
}

// TestBenchMethodsFindFaults: through the engine, after 12 steady windows
// of the shop, the first report names the faulty service first. Not BARO
// on a slow payment: its callers' response times rise by as many z.
func TestBenchMethodsFindFaults(t *testing.T) {
	tests := []struct {
		name    string
		method  Method
		service string
		inject  func(chain []hop)
	}{
		{"cpu: payment self time x5", Simple{}, "payment", func(c []hop) { c[3].selfMs *= 5 }},
		{"delay: 80ms before inventory", Simple{}, "inventory", func(c []hop) { c[2].gapMs = 80 }},
		{"errors: half of order's requests fail", Simple{}, "order", func(c []hop) { c[1].errRate = 0.5 }},
		{"errors: half of order's requests fail", BARO{}, "order", func(c []hop) { c[1].errRate = 0.5 }},
	}
	for _, tt := range tests {
		t.Run(tt.method.Name()+"/"+tt.name, func(t *testing.T) {
			e := newTestEngine(t, tt.method)
			rep := firstReport(replay(e, 15, func(w int, c []hop) {
				if w >= 12 {
					tt.inject(c)
				}
			}))
			require.NotNil(t, rep)
			assert.Equal(t, tt.service, rep.Candidates[0].Service, "%+v", rep.Candidates)
			assert.Equal(t, tt.method.Name(), rep.Method)
		})
	}
}

// TestNewBenchMethods: the names resolve to their methods.
func TestNewBenchMethods(t *testing.T) {
	for _, name := range BenchMethods {
		m, err := NewMethod(name, nil)
		require.NoError(t, err)
		assert.Equal(t, name, m.Name())
	}
}
