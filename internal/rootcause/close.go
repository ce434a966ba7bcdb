package rootcause

import (
	"cmp"
	"math"
	"slices"
	"strings"

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
	// blind: a blind spot's aggregate, from its callers' calls
	// (addBlindSpots), with their number per caller
	blind   bool
	callers map[int32]int
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

// close turns a window into its graph, with features scored against the
// baselines as they were before it, ranks it, then folds it into the
// baselines. Each stage hands its results to the next.
func (e *Engine) close(w *window) Result {
	b := w.build(e.cfg.MaxEdges)
	e.attribute(w, b)
	cc := countCalls(b, e.cfg.MaxEdges, &e.stats.DroppedEdges)
	e.stats.Windows++
	aggs := aggregate(w, b)
	e.learnAliases(b.aliases)
	e.addBlindSpots(b, aggs, e.cfg.MaxEdges)
	e.stats.DroppedEdges += int64(b.dropped)
	e.takeSamples(b)
	g := &Graph{Start: w.start, End: w.start + e.window}
	index := e.scoreNodes(g, aggs, b.errLogs)
	edges := e.scoreEdges(g, b.edges, index, w.start)
	attributeGaps(g, edges.raw)
	logs := e.scoreLogs(g, w, aggs, index)
	calls := e.scoreCalls(g, cc, index)
	creditBlindFailures(g, b.edges, aggs, index)
	if _, ok := e.cfg.Method.(TraceRCA); ok || e.cfg.AllMethods {
		traceRCA(g, b, index, e.traceThresholds(g)) // 8-13 % of a close
	}
	parts := e.pickParts(g, aggs)
	e.carryForward(g, w.start, aggs) // after the steps that need a node's spans (aggs, index)
	e.label(g, parts, cascades(b))
	rep := e.rank(g)
	e.foldNodes(g, w.start)
	e.foldEdges(g, edges)
	e.foldTemplates(g, w, aggs, index, logs)
	e.foldSequences(w)
	e.foldCalls(g, cc, index, calls, w.start)
	e.foldOperations(aggs, w.start)
	e.sweep(w.start - int64(e.cfg.Baseline) - e.window)
	return Result{Graph: g, Report: rep}
}

// aggregate gathers each service's segments, and adds the services that
// only logged (ERROR logs, templates) this window.
func aggregate(w *window, b *built) map[int32]*serviceAgg {
	aggs := map[int32]*serviceAgg{}
	// each service's latencies sized up front: grown by append they were
	// a sixth of a 1,000-service close's allocations
	n := map[int32]int{}
	for i := range b.segs {
		n[b.segs[i].service]++
	}
	for svc, k := range n {
		a := aggOf(aggs, svc)
		a.self, a.dur = make([]float64, 0, k), make([]float64, 0, k)
	}
	for i := range b.segs {
		s := &b.segs[i]
		aggs[s.service].add(s, b.spans[s.root].trace)
	}
	for svc := range b.errLogs {
		aggOf(aggs, svc)
	}
	for k := range w.tmpl {
		aggOf(aggs, k.service)
	}
	return aggs
}

// aggOf returns svc's aggregate, created empty on first use.
func aggOf(aggs map[int32]*serviceAgg, svc int32) *serviceAgg {
	a := aggs[svc]
	if a == nil {
		a = &serviceAgg{pods: map[int32]*partAgg{}, ops: map[int32]*partAgg{}, slowest: -1}
		aggs[svc] = a
	}
	return a
}

// add counts one segment of the service (a blind spot's has no pod:
// noPart); trace is its trace.
func (a *serviceAgg) add(s *segment, trace pcommon.TraceID) {
	a.segs++
	a.self = append(a.self, s.self)
	a.dur = append(a.dur, s.dur)
	op := a.part(a.ops, s.op)
	op.self = append(op.self, s.self)
	var pod *partAgg
	if s.pod != noPart {
		pod = a.part(a.pods, s.pod)
		pod.self = append(pod.self, s.self)
	}
	if s.err {
		a.errs++
		op.errs++
		if pod != nil {
			pod.errs++
		}
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

// takeSamples sets the carried-forward CPU and memory of the services
// sampled in the window, also of those without spans in it.
func (e *Engine) takeSamples(b *built) {
	for id, v := range b.cpu {
		e.node(id).cpu = v
	}
	for id, v := range b.mem {
		e.node(id).mem = v
	}
}

// scoreNodes adds a node per aggregated service, in id order (map order
// must not leak into reports), with its window's raw features and their z
// against its baseline; it returns each service's node index.
func (e *Engine) scoreNodes(g *Graph, aggs map[int32]*serviceAgg, errLogs map[int32]int) map[int32]int {
	ids := make([]int32, 0, len(aggs))
	for id := range aggs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	index := make(map[int32]int, len(ids))
	for _, id := range ids {
		index[id] = len(g.Nodes)
		g.Nodes = append(g.Nodes, e.scoreNode(id, aggs[id], errLogs[id]))
	}
	return index
}

// scoreNode is service id's node: its raw features and their z, against
// its blind baseline when it is a blind spot this window.
func (e *Engine) scoreNode(id int32, a *serviceAgg, errLogs int) Node {
	n := Node{id: id, Exemplar: a.exemplar, errorSpans: a.errs, BlindSpot: a.blind}
	var st *nodeState
	cpu, mem := math.NaN(), math.NaN()
	if a.blind {
		st = e.blindNode(id)
		n.callers = callerIDs(a.callers)
		if vs := e.nodes[id]; vs != nil { // samples are the service's, blind or not
			cpu, mem = vs.cpu, vs.mem
		}
	} else {
		st = e.node(id)
		cpu, mem = st.cpu, st.mem
	}
	nan := math.NaN()
	n.Raw = [NumNodeFeatures]float64{nan, nan, nan, float64(errLogs), float64(a.timeouts), float64(a.segs), cpu, mem, nan, nan, 0, 0, 0, 0, 0}
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
	return n
}

// edgeScores are a window's edges, in graph order, with the raw features
// and the p90 gap their baselines learn.
type edgeScores struct {
	keys []edgeKey
	raw  [][NumEdgeFeatures]float64
	tail []float64 // NaN: no gap observed
}

// scoreEdges adds the window's edges to g in (caller, callee) order, with
// their features' z against their baselines (none beyond max_edges).
func (e *Engine) scoreEdges(g *Graph, obs map[edgeKey]*edgeObs, index map[int32]int, start int64) edgeScores {
	keys := make([]edgeKey, 0, len(obs))
	for k := range obs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y edgeKey) int {
		if x.caller != y.caller {
			return int(x.caller - y.caller)
		}
		return int(x.callee - y.callee)
	})
	es := edgeScores{keys: keys, raw: make([][NumEdgeFeatures]float64, len(keys)), tail: make([]float64, len(keys))}
	for i, k := range keys {
		o := obs[k]
		ed := Edge{From: index[k.caller], To: index[k.callee], Calls: o.calls}
		raw := [NumEdgeFeatures]float64{math.NaN(), float64(o.errors) / float64(o.calls)}
		es.tail[i] = math.NaN()
		if len(o.gaps) > 0 {
			raw[EdgeGap] = quantile(o.gaps, 0.5)
			es.tail[i] = quantile(o.gaps, 0.9)
		}
		es.raw[i] = raw
		if st := e.edgeState(k, start); st != nil {
			for f := range NumEdgeFeatures {
				if !math.IsNaN(raw[f]) {
					ed.X[f], _ = st.rings[f].z(raw[f], edgeFloor[f], &e.scratch)
				}
			}
		}
		g.Edges = append(g.Edges, ed)
	}
	return es
}

// label names the window's nodes (their service, and the pod and
// operation picked for each) and the cascades from their ids, all in one
// hold of the intake's lock, and orders the cascades, most frequent first.
// Carried nodes (after the window's) keep the names of their own window.
func (e *Engine) label(g *Graph, parts []nodeParts, cs []Cascade) {
	e.in.mu.Lock()
	for i, p := range parts {
		n := &g.Nodes[i]
		n.Service = e.in.services.name(n.id)
		if len(n.callers) > 0 && len(n.Callers) == 0 { // carried nodes have theirs
			n.Callers = make([]string, len(n.callers))
			for k, id := range n.callers {
				n.Callers[k] = e.in.services.name(id)
			}
		}
		if p.pod != noPart {
			n.Pod = e.in.pods.name(p.pod)
		}
		if p.op != noPart {
			n.Operation = e.in.ops.name(p.op)
		}
	}
	for i := range cs {
		c := &cs[i]
		c.OriginService, c.OriginOperation = e.in.services.name(c.origin), e.in.ops.name(c.originOp)
		for j := range c.Layers {
			l := &c.Layers[j]
			l.Service, l.Operation = e.in.services.name(l.service), e.in.ops.name(l.op)
		}
	}
	e.in.mu.Unlock()
	slices.SortFunc(cs, func(a, b Cascade) int {
		if a.Traces != b.Traces {
			return b.Traces - a.Traces
		}
		return strings.Compare(a.OriginService+a.OriginOperation, b.OriginService+b.OriginOperation)
	})
	g.Cascades = cs
}

// rank reports g when it is anomalous (nil otherwise).
func (e *Engine) rank(g *Graph) *Report {
	if !e.anomalous(g) {
		return nil
	}
	e.stats.Reports++
	return e.report(g)
}

// foldNodes adds the window's own nodes (not the carried ones) to their
// baselines, and keeps each one that stood out for carryForward.
func (e *Engine) foldNodes(g *Graph, start int64) {
	for _, n := range g.Nodes {
		if n.Carried {
			continue
		}
		st := e.stateOf(&n)
		st.last, st.lastStart = nil, start
		if n.Own() >= e.cfg.MinAnomaly {
			st.last = &n
		}
		held := n.BlindSpot && e.blindLatencyHeld(st, &n)
		for f := range NumNodeFeatures {
			if fromRing(f) && !math.IsNaN(n.Raw[f]) && (!held || f != FeatSelfTime && f != FeatDuration) {
				st.rings[f].add(n.Raw[f])
			}
		}
	}
}

// foldEdges adds the window's edges to their baselines; a gap that stands
// out (gapHoldZ) is held out of its ring.
func (e *Engine) foldEdges(g *Graph, es edgeScores) {
	for i, k := range es.keys {
		st := e.edges[k]
		if st == nil {
			continue
		}
		held := st.hold.keep(g.Edges[i].X[EdgeGap] >= gapHoldZ, e.baselineWindows)
		for f := range NumEdgeFeatures {
			if !math.IsNaN(es.raw[i][f]) && (!held || f != EdgeGap) {
				st.rings[f].add(es.raw[i][f])
			}
		}
		if !math.IsNaN(es.tail[i]) {
			st.tail.add(es.tail[i])
		}
	}
}

// foldOperations adds each operation's p90 self time to its baseline.
func (e *Engine) foldOperations(aggs map[int32]*serviceAgg, start int64) {
	for id, a := range aggs {
		for op, p := range a.ops {
			if st := e.opBaseline(opKey{id, op}, start); st != nil {
				st.self.add(quantile(p.self, 0.9))
			}
		}
	}
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
// into it.
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

func (e *Engine) node(id int32) *nodeState { return e.stateIn(e.nodes, id) }

// stateIn returns id's baseline in states, created on first use.
func (e *Engine) stateIn(states map[int32]*nodeState, id int32) *nodeState {
	st := states[id]
	if st == nil {
		st = e.newNodeState()
		states[id] = st
	}
	return st
}

func (e *Engine) newNodeState() *nodeState {
	st := &nodeState{cpu: math.NaN(), mem: math.NaN()}
	for f := range st.rings {
		if fromRing(f) {
			st.rings[f] = newRing(e.baselineWindows)
		}
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
	gone, goneOps := map[int32]bool{}, map[int32]bool{}
	e.in.mu.Lock()
	e.in.services.sweep(cutoff, func(id int32) { gone[id] = true })
	e.in.pods.sweep(cutoff, func(int32) {})
	e.in.ops.sweep(cutoff, func(id int32) { goneOps[id] = true })
	e.in.mu.Unlock()
	for id := range gone {
		delete(e.nodes, id)
		delete(e.blind, id)
	}
	for peer, svc := range e.alias {
		if gone[peer] || gone[svc] {
			delete(e.alias, peer)
		}
	}
	e.sweepTemplates(cutoff)
	e.sweepCalls(cutoff, gone, goneOps)
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
	var carried []*nodeState
	for _, states := range []map[int32]*nodeState{e.nodes, e.blind} {
		for id, st := range states {
			if st.last != nil && st.lastStart == start-e.window && aggs[id] == nil {
				carried = append(carried, st)
			}
		}
	}
	slices.SortFunc(carried, func(a, b *nodeState) int { return cmp.Compare(a.last.id, b.last.id) }) // map order must not leak into reports
	for _, st := range carried {
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

// nodeParts are a node's picked pod and operation ids.
type nodeParts struct{ pod, op int32 }

// noPart: no pod or operation picked.
const noPart int32 = -2

// pickParts picks each node's pod and operation with the most evidence:
// the most failures when errors stand out, else the highest p90 self time
// (operations: the highest z against their own baseline when they have one).
func (e *Engine) pickParts(g *Graph, aggs map[int32]*serviceAgg) []nodeParts {
	parts := make([]nodeParts, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		parts[i] = nodeParts{noPart, noPart}
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
			parts[i].pod = best(a.pods, func(_ int32, p *partAgg) float64 { return partScore(p) })
		}
		if len(a.ops) > 0 {
			parts[i].op = best(a.ops, func(op int32, p *partAgg) float64 {
				if !errorsLead {
					if st := e.opBase[opKey{n.id, op}]; st != nil {
						if z, ok := st.self.z(quantile(p.self, 0.9), 1, &e.scratch); ok {
							return z
						}
					}
				}
				return partScore(p)
			})
		}
	}
	return parts
}

// traceThresholds are traceRCA's thresholds from the baselines: per node,
// its self time's median + 3 spreads; per edge, its windows' p90 gap's
// (+Inf without a baseline).
type traceThresholds struct {
	self []float64
	gap  func(caller, callee int32) float64
}

func (e *Engine) traceThresholds(g *Graph) traceThresholds {
	self := make([]float64, len(g.Nodes))
	for i := range g.Nodes {
		self[i] = math.Inf(1)
		if med, spread, ok := e.stateOf(&g.Nodes[i]).rings[FeatSelfTime].stats(rawFloor[FeatSelfTime], &e.scratch); ok {
			self[i] = med + 3*spread
		}
	}
	// Per edge once: a window has tens of segments per edge, and each
	// threshold sorts the edge's ring twice (13 % of a 1,000-service close).
	gaps := map[edgeKey]float64{}
	gap := func(caller, callee int32) float64 {
		k := edgeKey{caller, callee}
		if t, ok := gaps[k]; ok {
			return t
		}
		t := math.Inf(1)
		if st := e.edges[k]; st != nil {
			if med, spread, ok := st.tail.stats(edgeFloor[EdgeGap], &e.scratch); ok {
				t = med + 3*spread
			}
		}
		gaps[k] = t
		return t
	}
	return traceThresholds{self: self, gap: gap}
}
