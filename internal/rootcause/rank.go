package rootcause

import (
	"fmt"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Method ranks a window's nodes: one score per node (higher: more likely
// the root cause) and a confidence per node (summing to 1).
type Method interface {
	Name() string
	Score(g *Graph) (scores, confidence []float64)
}

// Methods are the ranking methods, by the name the configuration and
// cmd/rcabench use.
var Methods = []string{"gnn", "pagerank", "tracerca", "latency"}

// NewMethod returns the named method; gnn uses model (nil: the embedded one).
func NewMethod(name string, model *Model) (Method, error) {
	switch name {
	case "gnn":
		if model == nil {
			var err error
			if model, err = EmbeddedModel(); err != nil {
				return nil, err
			}
		}
		return model, nil
	case "pagerank":
		return PageRank{}, nil
	case "tracerca":
		return TraceRCA{}, nil
	case "latency":
		return LatencyZ{}, nil
	case "simple":
		return Simple{}, nil
	case "baro":
		return BARO{}, nil
	}
	return nil, fmt.Errorf("unknown method %q (one of %v)", name, Methods)
}

// LatencyZ is the plain floor: a node's latency z (its p90 self time or the
// network gaps of the calls it is the slow end of).
type LatencyZ struct{}

// Name is the method's name in config and rcabench.
func (LatencyZ) Name() string { return "latency" }

// Score returns each node's latency z and their softmax.
func (LatencyZ) Score(g *Graph) ([]float64, []float64) {
	s := make([]float64, len(g.Nodes))
	for i := range g.Nodes {
		s[i] = g.Nodes[i].latency()
	}
	return s, softmax(s)
}

// TraceRCA is the anomalous-call-set baseline: it ranks by each node's
// traceRCA score.
type TraceRCA struct{}

// Name is the method's name in config and rcabench.
func (TraceRCA) Name() string { return "tracerca" }

// Score returns each node's traceRCA score and their softmax.
func (TraceRCA) Score(g *Graph) ([]float64, []float64) {
	s := make([]float64, len(g.Nodes))
	for i := range g.Nodes {
		s[i] = g.Nodes[i].traceRCA
	}
	return s, shares(s)
}

// traceRCA sets each node's TraceRCA-like score (Li et al., IWQoS'21,
// simplified to services), which the TraceRCA method ranks by: a segment
// is anomalous when it failed, its self time is beyond its service's
// baseline p90 + 3 spreads, or the network gap before it is beyond its
// edge's (p90 too, not the model's median); a trace is anomalous when any
// segment is. A service scores the Jaccard index of "traces where it is
// anomalous" and "anomalous traces or traces through it".
func traceRCA(g *Graph, b *built, index map[int32]int, thr traceThresholds) {
	traces := traceSegments(b, index, thr)
	anomTraces := 0
	anomIn := make([]int, len(g.Nodes))   // anomalous traces where the node is anomalous
	through := make([]int, len(g.Nodes))  // traces through the node
	throughA := make([]int, len(g.Nodes)) // anomalous traces through the node
	mark := make([]int, len(g.Nodes))     // per-trace dedupe stamp
	markA := make([]int, len(g.Nodes))
	stamp := 0
	for _, t := range traces {
		stamp++
		if t.anomalous {
			anomTraces++
		}
		for _, ni := range t.services {
			if mark[ni] != stamp {
				mark[ni] = stamp
				through[ni]++
				if t.anomalous {
					throughA[ni]++
				}
			}
		}
		for _, ni := range t.anomSvc {
			if markA[ni] != stamp {
				markA[ni] = stamp
				anomIn[ni]++
			}
		}
	}
	for i := range g.Nodes {
		union := anomTraces + through[i] - throughA[i]
		if union > 0 {
			g.Nodes[i].traceRCA = float64(anomIn[i]) / float64(union)
		}
	}
}

// traceAgg is one trace's nodes (node indexes, with repeats) and those
// whose segment in it is anomalous.
type traceAgg struct {
	anomalous bool
	services  []int32
	anomSvc   []int32
}

// traceSegments groups the window's segments by trace, judging each.
func traceSegments(b *built, index map[int32]int, thr traceThresholds) map[pcommon.TraceID]*traceAgg {
	traces := map[pcommon.TraceID]*traceAgg{}
	for i := range b.segs {
		s := &b.segs[i]
		ni := int32(index[s.service])
		root := &b.spans[s.root]
		t := traces[root.trace]
		if t == nil {
			t = &traceAgg{}
			traces[root.trace] = t
		}
		t.services = append(t.services, ni)
		bad := s.err || s.self > thr.self[ni]
		if !bad && s.gap >= 0 {
			if p := b.parent[s.root]; p >= 0 {
				bad = s.gap > thr.gap(b.spans[p].service, s.service)
			}
		}
		if bad {
			t.anomalous = true
			t.anomSvc = append(t.anomSvc, ni)
		}
	}
	return traces
}

// PageRank is the MicroRCA/MicroRank-family baseline: a personalised
// PageRank walk over the dependency graph that moves from callers towards
// anomalous callees (and weakly back), restarting at anomalous nodes; the
// stationary mass ranks root causes.
type PageRank struct{}

// Name is the method's name in config and rcabench.
func (PageRank) Name() string { return "pagerank" }

const (
	prDamping    = 0.85
	prBackward   = 0.2 // weight of walking back from a callee to its caller
	prIterations = 50
	prEpsilon    = 0.01
)

// Score returns each node's stationary mass and their shares.
func (PageRank) Score(g *Graph) ([]float64, []float64) {
	n := len(g.Nodes)
	anomaly := make([]float64, n)
	var total float64
	for i := range g.Nodes {
		x := &g.Nodes[i].X
		a := math.Max(0, max(g.Nodes[i].latency(), x[FeatErrorRate], x[FeatErrorLogs], x[FeatCPU]))
		anomaly[i] = a + prEpsilon
		total += anomaly[i]
	}
	personal := make([]float64, n)
	for i := range personal {
		personal[i] = anomaly[i] / total
	}
	type arc struct {
		to int
		w  float64
	}
	out := make([][]arc, n)
	outW := make([]float64, n)
	for _, e := range g.Edges {
		out[e.From] = append(out[e.From], arc{e.To, anomaly[e.To]})
		out[e.To] = append(out[e.To], arc{e.From, prBackward * anomaly[e.From]})
		outW[e.From] += anomaly[e.To]
		outW[e.To] += prBackward * anomaly[e.From]
	}
	rank := slices.Clone(personal)
	next := make([]float64, n)
	for range prIterations {
		dangling := 0.0
		clear(next)
		for u := range n {
			if outW[u] == 0 {
				dangling += rank[u]
				continue
			}
			for _, a := range out[u] {
				next[a.to] += prDamping * rank[u] * a.w / outW[u]
			}
		}
		for i := range next {
			next[i] += (1 - prDamping + prDamping*dangling) * personal[i]
		}
		rank, next = next, rank
	}
	return rank, shares(rank)
}

// softmax turns scores into probabilities.
func softmax(s []float64) []float64 {
	p := make([]float64, len(s))
	if len(s) == 0 {
		return p
	}
	m := math.Inf(-1)
	for _, v := range s {
		m = math.Max(m, v)
	}
	var sum float64
	for i, v := range s {
		p[i] = math.Exp(v - m)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// shares normalises non-negative scores to sum 1 (uniform when all are 0).
func shares(s []float64) []float64 {
	p := make([]float64, len(s))
	var sum float64
	for _, v := range s {
		sum += math.Max(v, 0)
	}
	for i, v := range s {
		if sum == 0 {
			p[i] = 1 / float64(len(s))
		} else {
			p[i] = math.Max(v, 0) / sum
		}
	}
	return p
}
