package rootcause

import (
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// serviceAgg gathers one service's segments of a window.
type serviceAgg struct {
	self, dur            []float64
	segs, errs, timeouts int
	pods, ops            map[int32]*partAgg
	slowest              float64
	exemplar             pcommon.TraceID
	failed               bool // exemplar is a failed trace
}

// partAgg is one pod's or operation's share of a service's segments.
type partAgg struct {
	errs int
	self []float64
}

func (a *serviceAgg) part(m map[int32]*partAgg, id int32) *partAgg {
	p := m[id]
	if p == nil {
		p = &partAgg{}
		m[id] = p
	}
	return p
}

// close turns a window into its graph (features scored against the
// baselines as they were before it), finds cascades, ranks, then folds the
// window into the baselines.
func (e *Engine) close(w *window) Result {
	b := w.build(e.cfg.MaxEdges)
	e.attribute(w, b)
	e.stats.DroppedEdges += int64(b.dropped)
	e.stats.Windows++
	g := &Graph{Start: w.start, End: w.start + e.window}

	aggs := map[int32]*serviceAgg{}
	get := func(svc int32) *serviceAgg {
		a := aggs[svc]
		if a == nil {
			a = &serviceAgg{pods: map[int32]*partAgg{}, ops: map[int32]*partAgg{}, slowest: -1}
			aggs[svc] = a
		}
		return a
	}
	for i := range b.segs {
		s := &b.segs[i]
		a := get(s.service)
		a.segs++
		a.self = append(a.self, s.self)
		a.dur = append(a.dur, s.dur)
		pod, op := a.part(a.pods, s.pod), a.part(a.ops, s.op)
		pod.self = append(pod.self, s.self)
		op.self = append(op.self, s.self)
		trace := b.spans[s.root].trace
		if s.err {
			a.errs++
			pod.errs++
			op.errs++
			if !a.failed {
				a.exemplar, a.failed = trace, true
			}
		} else if !a.failed && s.self > a.slowest {
			a.exemplar, a.slowest = trace, s.self
		}
		if s.timeout {
			a.timeouts++
		}
	}
	for svc := range b.errLogs {
		get(svc)
	}
	for k := range w.tmpl {
		get(k.service)
	}
	// samples update the carried-forward values, also of services without spans now
	for id, v := range b.cpu {
		e.node(id).cpu = v
	}
	for id, v := range b.mem {
		e.node(id).mem = v
	}
	ids := make([]int32, 0, len(aggs))
	for id := range aggs {
		ids = append(ids, id)
	}
	slices.Sort(ids) // map order must not leak into reports
	index := make(map[int32]int, len(ids))
	for _, id := range ids {
		a := aggs[id]
		st := e.node(id)
		n := Node{Service: e.services.name(id), id: id, Exemplar: a.exemplar, errorSpans: a.errs}
		nan := math.NaN()
		n.Raw = [NumNodeFeatures]float64{nan, nan, nan, float64(b.errLogs[id]), float64(a.timeouts), float64(a.segs), st.cpu, st.mem, nan, nan, 0, 0}
		if a.segs > 0 {
			n.Raw[FeatSelfTime] = quantile(a.self, 0.9)
			n.Raw[FeatDuration] = quantile(a.dur, 0.9)
			n.Raw[FeatErrorRate] = float64(a.errs) / float64(a.segs)
		}
		for f := range NumNodeFeatures {
			if !fromRing(f) || math.IsNaN(n.Raw[f]) {
				continue
			}
			if f == FeatErrorRate {
				n.X[f] = e.errorZ(st, a.errs, a.segs)
				continue
			}
			n.X[f], _ = st.rings[f].z(n.Raw[f], rawFloor[f], &e.scratch)
		}
		index[id] = len(g.Nodes)
		g.Nodes = append(g.Nodes, n)
	}

	keys := make([]edgeKey, 0, len(b.edges))
	for k := range b.edges {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y edgeKey) int {
		if x.caller != y.caller {
			return int(x.caller - y.caller)
		}
		return int(x.callee - y.callee)
	})
	edgeRaw := make([][NumEdgeFeatures]float64, len(keys))
	edgeTail := make([]float64, len(keys))
	for i, k := range keys {
		o := b.edges[k]
		ed := Edge{From: index[k.caller], To: index[k.callee], Calls: o.calls}
		raw := [NumEdgeFeatures]float64{math.NaN(), float64(o.errors) / float64(o.calls)}
		edgeTail[i] = math.NaN()
		if len(o.gaps) > 0 {
			raw[EdgeGap] = quantile(o.gaps, 0.5)
			edgeTail[i] = quantile(o.gaps, 0.9)
		}
		edgeRaw[i] = raw
		if st := e.edgeState(k, w.start); st != nil {
			for f := range NumEdgeFeatures {
				if !math.IsNaN(raw[f]) {
					ed.X[f], _ = st.rings[f].z(raw[f], edgeFloor[f], &e.scratch)
				}
			}
		}
		g.Edges = append(g.Edges, ed)
	}
	attributeGaps(g, edgeRaw)
	e.scoreTemplates(g, w, aggs, index)
	e.scoreSequences(g, w, index)
	e.traceRCA(g, b, index)
	e.pickParts(g, aggs)
	e.carryForward(g, w.start, aggs) // after the steps that need a node's spans (aggs, index)
	g.Cascades = e.cascades(b, b.parent)

	var rep *Report
	if e.anomalous(g) {
		rep = e.report(g)
		e.stats.Reports++
	}

	// fold the window into the baselines
	for _, n := range g.Nodes {
		if n.Carried {
			continue
		}
		st := e.nodes[n.id]
		st.last, st.lastStart = nil, w.start
		if n.Own() >= e.cfg.MinAnomaly {
			st.last = &n
		}
		for f := range NumNodeFeatures {
			if fromRing(f) && !math.IsNaN(n.Raw[f]) {
				st.rings[f].add(n.Raw[f])
			}
		}
	}
	for i, k := range keys {
		if st := e.edges[k]; st != nil {
			held := st.hold.keep(g.Edges[i].X[EdgeGap] >= gapHoldZ, e.baselineWindows)
			for f := range NumEdgeFeatures {
				if !math.IsNaN(edgeRaw[i][f]) && !(held && f == EdgeGap) {
					st.rings[f].add(edgeRaw[i][f])
				}
			}
			if !math.IsNaN(edgeTail[i]) {
				st.tail.add(edgeTail[i])
			}
		}
	}
	e.foldTemplates(g, w, aggs, index)
	e.foldSequences(w)
	for id, a := range aggs {
		for op, p := range a.ops {
			if st := e.opBaseline(opKey{id, op}, w.start); st != nil {
				st.self.add(quantile(p.self, 0.9))
			}
		}
	}
	e.sweep(w.start - int64(e.cfg.Baseline) - e.window)
	return Result{Graph: g, Report: rep}
}

// errorZ is a window's error-rate z counting its requests: failed requests
// beyond the baseline rate over their spread, binomial at that rate or the
// baseline windows' own spread of the rate, whichever is wider (plus one
// request's doubt). One failed request of one is no 100-spread event, as
// a plain robust z of the rate (floored at 1 %) would make it, while 20 of
// 30 still stand out by about 20.
func (e *Engine) errorZ(st *nodeState, errs, segs int) float64 {
	med, spread, ok := st.rings[FeatErrorRate].stats(rawFloor[FeatErrorRate], &e.scratch)
	if !ok {
		return 0
	}
	p, n := min(max(med, 0), 1), float64(segs)
	return (float64(errs) - n*p) / math.Sqrt(max(n*p*(1-p), n*spread*n*spread)+1)
}

// attributeGaps sets the nodes' gap features from their edges' gaps. The
// time between a caller's exit span and its callee's entry span is the
// callee's (gap in) unless the caller is the common end of the slow calls:
// a call stands out, the caller has other calls, in or out, that stand out
// (slowEdgeZ) and the callee has none. Then it is the caller's (gap out): a
// throttled CPU or a delayed network interface slows every call of the
// service, both ways, while a delay into one callee slows only the calls
// into it. In a Nezha CPU fault the calls from the throttled service to its
// three callees rose by 44 to 175 z, far above its own self time (43), and
// in a network delay the callee of the delayed service's one slow call out
// (220 z) had outranked the delayed service, whose calls in rose by 125 z.
func attributeGaps(g *Graph, edgeRaw [][NumEdgeFeatures]float64) {
	slow := make([]int, len(g.Nodes)) // calls in and out that stand out
	for _, ed := range g.Edges {
		if ed.X[EdgeGap] >= slowEdgeZ {
			slow[ed.From]++
			slow[ed.To]++
		}
	}
	for i, ed := range g.Edges {
		f, n := FeatGapIn, &g.Nodes[ed.To]
		if ed.X[EdgeGap] >= slowEdgeZ && slow[ed.From] > 1 && slow[ed.To] == 1 {
			f, n = FeatGapOut, &g.Nodes[ed.From]
		}
		n.X[f] = math.Max(n.X[f], ed.X[EdgeGap])
		if raw := edgeRaw[i][EdgeGap]; !math.IsNaN(raw) {
			n.Raw[f] = maxKnown(n.Raw[f], raw)
		}
	}
}

// slowEdgeZ: a call gap this far above its baseline is a slow call (a
// network delay, not jitter, as gapHoldZ) when finding its common end.
const slowEdgeZ = gapHoldZ

// gapHoldZ: an edge gap this far above its baseline (a network delay, not
// jitter) stays out of the edge's ring, for up to a baseline of windows, so
// that a fault that began before its recorded start still stands out.
const gapHoldZ = 10

func maxKnown(a, b float64) float64 {
	if math.IsNaN(a) {
		return b
	}
	return math.Max(a, b)
}

func (e *Engine) node(id int32) *nodeState {
	st := e.nodes[id]
	if st == nil {
		st = &nodeState{cpu: math.NaN(), mem: math.NaN()}
		for f := range st.rings {
			st.rings[f] = newRing(e.baselineWindows)
		}
		e.nodes[id] = st
	}
	return st
}

// edgeState returns k's baseline, creating it while under max_edges (nil beyond).
func (e *Engine) edgeState(k edgeKey, now int64) *edgeState {
	st := e.edges[k]
	if st == nil {
		if len(e.edges) >= e.cfg.MaxEdges {
			return nil
		}
		st = &edgeState{tail: newRing(e.baselineWindows)}
		for f := range st.rings {
			st.rings[f] = newRing(e.baselineWindows)
		}
		e.edges[k] = st
	}
	st.lastSeen = now
	return st
}

// opBaseline returns operation k's baseline; nil when max_operations are
// tracked already (the operation is then judged by its p90 alone).
func (e *Engine) opBaseline(k opKey, now int64) *opState {
	st := e.opBase[k]
	if st == nil {
		if len(e.opBase) >= e.cfg.MaxOperations {
			return nil
		}
		st = &opState{self: newRing(e.baselineWindows)}
		e.opBase[k] = st
	}
	st.lastSeen = now
	return st
}

// sweep forgets services, pods, operations and edges not seen since cutoff
// (a baseline ago): their history is stale and their slots are reused.
func (e *Engine) sweep(cutoff int64) {
	e.services.sweep(cutoff, func(id int32) { delete(e.nodes, id) })
	e.sweepTemplates(cutoff)
	e.pods.sweep(cutoff, func(int32) {})
	e.ops.sweep(cutoff, func(int32) {})
	for k, st := range e.edges {
		if st.lastSeen < cutoff {
			delete(e.edges, k)
		}
	}
	for k, st := range e.opBase {
		if st.lastSeen < cutoff {
			delete(e.opBase, k)
		}
	}
}

// anomalous: some node reaches min_anomaly, or a cascade was found.
func (e *Engine) anomalous(g *Graph) bool {
	if len(g.Cascades) > 0 {
		return true
	}
	for i := range g.Nodes {
		// a carried node was reported with its own window already
		if !g.Nodes[i].Carried && g.Nodes[i].Anomaly() >= e.cfg.MinAnomaly {
			return true
		}
	}
	return false
}

// carryDecay weighs a carried node's features (see carryForward).
const carryDecay = 0.5

// carryForward adds, as Carried nodes, the services that stood out (own
// anomaly at min_anomaly or more) in the window just before and sent no
// spans or logs in this one, with that window's features at carryDecay:
// with a few requests a second a faulty service can be silent for a window
// (a 2 s delay on every response of a service that gets a request every
// 10 s), and a silent window is no evidence it recovered. Carried once: a
// carried node does not carry again. A carried node ranks but does not
// make a report on its own (its window had one).
func (e *Engine) carryForward(g *Graph, start int64, aggs map[int32]*serviceAgg) {
	ids := make([]int32, 0)
	for id, st := range e.nodes {
		if st.last != nil && st.lastStart == start-e.window && aggs[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids) // map order must not leak into reports
	for _, id := range ids {
		st := e.nodes[id]
		n := *st.last
		st.last = nil // once, even if this window start closes again
		n.Carried = true
		for f := range n.X {
			n.X[f] *= carryDecay
		}
		n.traceRCA = 0
		g.Nodes = append(g.Nodes, n)
	}
}

// pickParts names each node's pod and operation with the most evidence:
// the most failures when errors stand out, else the highest p90 self time
// (operations: the highest z against their own baseline when they have one).
func (e *Engine) pickParts(g *Graph, aggs map[int32]*serviceAgg) {
	for i := range g.Nodes {
		n := &g.Nodes[i]
		a := aggs[n.id]
		if a == nil { // carried: the parts of its own window
			continue
		}
		errorsLead := n.errorSpans > 0 && math.Max(n.X[FeatErrorRate], n.X[FeatErrorLogs]) >= weighed(FeatSelfTime, n.X[FeatSelfTime])
		best := func(m map[int32]*partAgg, score func(id int32, p *partAgg) float64) int32 {
			bestID, bestScore := int32(overflowID), math.Inf(-1)
			for id, p := range m {
				s := score(id, p)
				if s > bestScore || (s == bestScore && id < bestID) {
					bestID, bestScore = id, s
				}
			}
			return bestID
		}
		partScore := func(p *partAgg) float64 {
			if errorsLead {
				return float64(p.errs)
			}
			return quantile(p.self, 0.9)
		}
		if len(a.pods) > 0 {
			n.Pod = e.pods.name(best(a.pods, func(_ int32, p *partAgg) float64 { return partScore(p) }))
		}
		if len(a.ops) > 0 {
			n.Operation = e.ops.name(best(a.ops, func(op int32, p *partAgg) float64 {
				if !errorsLead {
					if st := e.opBase[opKey{n.id, op}]; st != nil {
						if z, ok := st.self.z(quantile(p.self, 0.9), 1, &e.scratch); ok {
							return z
						}
					}
				}
				return partScore(p)
			}))
		}
	}
}

// traceRCA computes each node's TraceRCA-like score (Li et al., IWQoS'21,
// simplified to services): a segment is anomalous when it failed, its self
// time is beyond its service's baseline p90 + 3 spreads, or the network gap
// before it is beyond its edge's (p90 too, not the model's median); a trace
// is anomalous when any segment is. A service scores the Jaccard index of
// "traces where it is anomalous" and "anomalous traces or traces through
// it".
func (e *Engine) traceRCA(g *Graph, b *built, index map[int32]int) {
	selfThr := make([]float64, len(g.Nodes))
	for i := range g.Nodes {
		selfThr[i] = math.Inf(1)
		if med, spread, ok := e.nodes[g.Nodes[i].id].rings[FeatSelfTime].stats(rawFloor[FeatSelfTime], &e.scratch); ok {
			selfThr[i] = med + 3*spread
		}
	}
	gapThr := func(caller, callee int32) float64 {
		if st := e.edges[edgeKey{caller, callee}]; st != nil {
			if med, spread, ok := st.tail.stats(edgeFloor[EdgeGap], &e.scratch); ok {
				return med + 3*spread
			}
		}
		return math.Inf(1)
	}
	type traceAgg struct {
		anomalous bool
		services  []int32 // node indexes, with repeats
		anomSvc   []int32
	}
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
		bad := s.err || s.self > selfThr[ni]
		if !bad && s.gap >= 0 {
			if p := b.parent[s.root]; p >= 0 {
				bad = s.gap > gapThr(b.spans[p].service, s.service)
			}
		}
		if bad {
			t.anomalous = true
			t.anomSvc = append(t.anomSvc, ni)
		}
	}
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
