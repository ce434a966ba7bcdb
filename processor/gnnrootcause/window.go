package gnnrootcause // import "github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"

import (
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// spanRec is what one window keeps of a span: enough to rebuild parent/child
// relations, self time and caller/callee edges when the window closes.
type spanRec struct {
	trace          pcommon.TraceID
	span, parent   pcommon.SpanID
	service        int32
	operation      int32
	startNs, endNs int64
	kind           ptrace.SpanKind
	err, timeout   bool
}

// window collects one event-time window: [start, start+length) by span end time.
type window struct {
	start   int64
	spans   []spanRec
	dropped int64         // spans beyond maxSpansPerWindow (counted, not kept)
	errLogs map[int32]int // ERROR-level logs per service
}

// names interns strings (services, operations) into bounded ids; beyond the
// bound names map to the overflow id (counted by the caller).
type names struct {
	ids   map[string]int32
	list  []string
	limit int
}

func newNames(limit int) *names { return &names{ids: map[string]int32{}, limit: limit} }

const overflowID = -1

func (n *names) id(s string) int32 {
	if id, ok := n.ids[s]; ok {
		return id
	}
	if len(n.list) >= n.limit {
		return overflowID
	}
	s = strings.Clone(s)
	n.ids[s] = int32(len(n.list))
	n.list = append(n.list, s)
	return int32(len(n.list) - 1)
}

func (n *names) name(id int32) string {
	if id < 0 || int(id) >= len(n.list) {
		return "_other"
	}
	return n.list[id]
}

// nodeStats are one service's features in one window.
type nodeStats struct {
	calls, errors, timeouts, errLogs int
	durations, selfTimes             []float64 // milliseconds, server-side spans
	p90Duration, p90Self             float64
}

// edgeKey is a caller -> callee service pair.
type edgeKey struct{ caller, callee int32 }

// edgeStats are one edge's features: calls and the caller-observed minus
// callee-observed time (network and queueing between them).
type edgeStats struct {
	calls int
	gaps  []float64
	p90   float64
}

// graph is a closed window: the service dependency graph with features.
type graph struct {
	start, end int64
	nodes      map[int32]*nodeStats
	edges      map[edgeKey]*edgeStats
	exemplars  map[int32]pcommon.TraceID // a slow or failed trace per service
}

// build turns a window's spans into the graph: self time = duration minus
// the union-free sum of direct children's durations; an edge wherever a
// child's service differs from its parent's.
func (w *window) build(length int64, maxEdges int) (*graph, int) {
	g := &graph{start: w.start, end: w.start + length, nodes: map[int32]*nodeStats{}, edges: map[edgeKey]*edgeStats{}, exemplars: map[int32]pcommon.TraceID{}}
	type key struct {
		trace pcommon.TraceID
		span  pcommon.SpanID
	}
	bySpan := make(map[key]int, len(w.spans))
	for i := range w.spans {
		bySpan[key{w.spans[i].trace, w.spans[i].span}] = i
	}
	childNs := make([]int64, len(w.spans))
	edgesDropped := 0
	for i := range w.spans {
		s := &w.spans[i]
		if s.parent.IsEmpty() {
			continue
		}
		pi, ok := bySpan[key{s.trace, s.parent}]
		if !ok {
			continue
		}
		p := &w.spans[pi]
		childNs[pi] += s.endNs - s.startNs
		if p.service != s.service {
			k := edgeKey{caller: p.service, callee: s.service}
			e := g.edges[k]
			if e == nil {
				if len(g.edges) >= maxEdges {
					edgesDropped++
					continue
				}
				e = &edgeStats{}
				g.edges[k] = e
			}
			e.calls++
			e.gaps = append(e.gaps, float64((p.endNs-p.startNs)-(s.endNs-s.startNs))/1e6)
		}
	}
	for i := range w.spans {
		s := &w.spans[i]
		n := g.nodes[s.service]
		if n == nil {
			n = &nodeStats{}
			g.nodes[s.service] = n
		}
		n.calls++
		dur := float64(s.endNs-s.startNs) / 1e6
		self := dur - float64(childNs[i])/1e6
		if self < 0 { // concurrent children
			self = 0
		}
		n.durations = append(n.durations, dur)
		n.selfTimes = append(n.selfTimes, self)
		if s.err {
			n.errors++
			if _, ok := g.exemplars[s.service]; !ok {
				g.exemplars[s.service] = s.trace
			}
		}
		if s.timeout {
			n.timeouts++
		}
	}
	for svc, c := range w.errLogs {
		n := g.nodes[svc]
		if n == nil {
			n = &nodeStats{}
			g.nodes[svc] = n
		}
		n.errLogs += c
	}
	for _, n := range g.nodes {
		n.p90Duration, n.p90Self = quantile(n.durations, 0.9), quantile(n.selfTimes, 0.9)
		n.durations, n.selfTimes = nil, nil
	}
	for _, e := range g.edges {
		e.p90 = quantile(e.gaps, 0.9)
		e.gaps = nil
	}
	return g, edgesDropped
}

// quantile sorts v in place and returns its q-quantile (nearest rank), 0 for none.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(q * float64(len(v)-1))
	return v[i]
}
