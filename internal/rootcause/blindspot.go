package rootcause

import (
	"cmp"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Blind spots: a service whose spans never arrive (not instrumented, its
// exporter down, a database or an external API) still shows in its
// callers' CLIENT spans, which name it in their peer attributes. A call
// that names a peer and has no child span in the window is a call into a
// blind spot when the peer it resolves to sent no spans of its own that
// window. The peer gets a node from those calls - the caller-observed
// duration less the time of the peer's own visible callees inside the call
// (the fragments of the trace whose parent span is missing), the calls'
// failures and timeouts, their number - scored against its own blind
// baseline (the nodeState in Engine.blind, apart from the one its spans
// would feed), with caller -> peer edges and peer -> callee edges for the
// fragments. The caller's exit span is an exit span (its time is not the
// caller's self time), so the caller is not blamed for the peer's
// slowness.

// peerKeys are the span attributes that name a call's peer, in order of
// preference: the logical service name, then the host (semantic
// conventions 1.21+, then older ones).
var peerKeys = [...]string{"peer.service", "server.address", "net.peer.name"}

// noPeer: the span names no peer (or its name is beyond max_services).
const noPeer int32 = overflowID

// peerOf is the peer a span's attributes name (peerKeys), as hostPart
// reduces host names; "" when none does. One pass over the attributes.
func peerOf(attrs pcommon.Map) string {
	if attrs.Len() == 0 {
		return ""
	}
	best, name := len(peerKeys), ""
	for k, v := range attrs.All() {
		for i := range best {
			if k == peerKeys[i] {
				if s := v.Str(); s != "" {
					best, name = i, s
				}
				break
			}
		}
	}
	if best == 0 {
		return strings.TrimSpace(name)
	}
	return hostPart(name)
}

// hostPart reduces a host to the name a service would call itself: without
// a port (host:8080, [::1]:8080) and, for a Kubernetes service name
// (orders.shop.svc.cluster.local, orders.shop.svc), only its first label.
// Anything else (an IP address, an external host) stays as it is.
func hostPart(h string) string {
	h = strings.TrimSpace(h)
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i > 0 && strings.IndexByte(h, ':') == i && allDigits(h[i+1:]) {
		h = h[:i]
	}
	if i := strings.Index(h, ".svc"); i > 0 && (len(h) == i+4 || h[i+4] == '.') {
		if j := strings.IndexByte(h, '.'); j > 0 {
			h = h[:j]
		}
	}
	return h
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// blindCalls are a window's candidate calls into blind spots: exit spans
// that name a peer and have no child span, and the fragments (segments
// whose entry span's parent is missing) that ran inside each.
type blindCalls struct {
	calls []int32           // span indexes
	inner map[int32]float64 // per call: ms of the fragments inside it
	frags map[int32][]int32 // per call: the fragments' segments
}

// findBlindCalls collects the window's candidate calls into blind spots
// and puts each fragment under the candidate call of its trace it overlaps
// most (a hidden service's visible callees are fragments: their parent
// span is the hidden service's).
func (b *built) findBlindCalls(t tree) blindCalls {
	var bc blindCalls
	var byTrace map[pcommon.TraceID][]int32
	for i := range b.spans {
		if s := &b.spans[i]; s.exit && s.peer != noPeer && t.kids[i] == 0 {
			bc.calls = append(bc.calls, int32(i))
			if byTrace == nil {
				byTrace = map[pcommon.TraceID][]int32{}
			}
			byTrace[s.trace] = append(byTrace[s.trace], int32(i))
		}
	}
	if len(bc.calls) == 0 {
		return bc
	}
	for si := range b.segs {
		seg := &b.segs[si]
		r := &b.spans[seg.root]
		if b.parent[seg.root] >= 0 || r.parent.IsEmpty() {
			continue
		}
		best, most := int32(-1), int64(0)
		for _, c := range byTrace[r.trace] {
			cs := &b.spans[c]
			if o := min(cs.endNs, r.endNs) - max(cs.startNs, r.startNs); o > most && cs.service != seg.service {
				best, most = c, o
			}
		}
		if best < 0 {
			continue
		}
		if bc.inner == nil {
			bc.inner, bc.frags = map[int32]float64{}, map[int32][]int32{}
		}
		bc.inner[best] += r.durMs()
		bc.frags[best] = append(bc.frags[best], int32(si))
	}
	return bc
}

// maxCallers is how many callers a blind spot's node names.
const maxCallers = 3

// addBlindSpots resolves the window's candidate calls (aliases learned
// from calls that had a child: the peer name is another name of that
// service) and adds those whose peer sent no spans this window to the
// peer's aggregate as blind segments, with their caller -> peer and
// peer -> fragment edges (beyond maxEdges: dropped, counted).
func (e *Engine) addBlindSpots(b *built, aggs map[int32]*serviceAgg, maxEdges int) {
	bc := &b.blind
	for _, i := range bc.calls {
		s := &b.spans[i]
		peer := s.peer
		if a, ok := e.alias[peer]; ok {
			peer = a
		}
		if a := aggs[peer]; peer == s.service || a != nil && a.segs > 0 && !a.blind {
			continue // its spans arrive: the callee's span is in another window, or lost
		}
		a := aggOf(aggs, peer)
		a.blind = true
		if a.callers == nil {
			a.callers = map[int32]int{}
		}
		a.callers[s.service]++
		dur := s.durMs()
		a.add(&segment{root: i, service: peer, pod: noPart, op: s.op, self: max(dur-bc.inner[i], 0), dur: dur, err: s.err, timeout: s.timeout, gap: -1}, s.trace)
		if ed := b.edge(edgeKey{s.service, peer}, maxEdges); ed != nil {
			ed.calls++
			if s.err {
				ed.errors++
			}
		}
		for _, si := range bc.frags[i] {
			seg := &b.segs[si]
			if ed := b.edge(edgeKey{peer, seg.service}, maxEdges); ed != nil {
				ed.calls++
				if seg.err {
					ed.errors++
				}
			}
		}
	}
}

// learnAliases records the peer names that calls with a child in another
// service used for that service (a host name that is not its service.name),
// at most one per peer id (ids are bounded by max_services).
func (e *Engine) learnAliases(aliases map[int32]int32) {
	for peer, svc := range aliases {
		e.alias[peer] = svc
	}
}

// callerIDs are a blind spot's callers, most calls first (ties: lower id),
// at most maxCallers.
func callerIDs(callers map[int32]int) []int32 {
	ids := make([]int32, 0, len(callers))
	for id := range callers {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b int32) int { return cmp.Or(cmp.Compare(callers[b], callers[a]), cmp.Compare(a, b)) })
	return ids[:min(len(ids), maxCallers)]
}

// blindLatencyHeld reports whether a blind spot's window stays out of its
// latency rings: its latency is its calls' caller-observed time, and like
// an edge's gap (gapHoldZ) a window that stands out is held for up to a
// baseline of windows, so that a delay that began before anyone noticed
// still stands out when its window is scored.
func (e *Engine) blindLatencyHeld(st *nodeState, n *Node) bool {
	return st.hold.keep(max(n.X[FeatSelfTime], n.X[FeatDuration]) >= gapHoldZ, e.baselineWindows)
}

// blindNode returns service id's blind baseline, created on first use.
func (e *Engine) blindNode(id int32) *nodeState { return e.stateIn(e.blind, id) }

// stateOf is the baseline n is scored against and folded into.
func (e *Engine) stateOf(n *Node) *nodeState {
	if n.BlindSpot {
		return e.blind[n.id]
	}
	return e.nodes[n.id]
}

// blindFailureFeatures are a caller's signs of failure that its failed
// calls into a blind spot explain (creditBlindFailures).
var blindFailureFeatures = [...]int{FeatErrorRate, FeatErrorLogs, FeatLogNew}

// creditBlindFailures moves the failures a caller's failed calls into a
// blind spot explain from the caller to the blind spot. A service whose
// callee sends no spans logs that callee's failures itself (an ERROR and a
// template new to it: z 20-200 in the simulated chain), while the blind
// spot shows only the error rate of the calls into it; unmoved, the caller
// outranks the service that failed. The share a caller's failed calls into
// a blind spot take of its failed segments (at most all) scales its error
// rate, ERROR logs and new templates down and, as z's of the blind spot's
// own, up to that share of the caller's. Edges in key order: the sums do
// not depend on map order.
func creditBlindFailures(g *Graph, edges map[edgeKey]*edgeObs, aggs map[int32]*serviceAgg, index map[int32]int) {
	var keys []edgeKey
	for k, o := range edges {
		caller, callee := aggs[k.caller], aggs[k.callee]
		if o.errors > 0 && callee != nil && callee.blind && caller != nil && !caller.blind && caller.errs > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return
	}
	slices.SortFunc(keys, func(a, b edgeKey) int {
		return cmp.Or(cmp.Compare(a.caller, b.caller), cmp.Compare(a.callee, b.callee))
	})
	explained := map[int]float64{} // caller node -> share of its failures
	for _, k := range keys {
		c, b := index[k.caller], index[k.callee]
		share := min(1, float64(edges[k].errors)/float64(aggs[k.caller].errs))
		caller, blind := &g.Nodes[c], &g.Nodes[b]
		for _, f := range blindFailureFeatures {
			if z := share * caller.X[f]; z > blind.X[f] {
				blind.X[f] = z
				if f != FeatErrorRate {
					blind.Raw[f] = caller.Raw[f]
				}
			}
		}
		blind.credited = true
		explained[c] += share
	}
	for c, share := range explained {
		for _, f := range blindFailureFeatures {
			g.Nodes[c].X[f] *= 1 - min(1, share)
		}
	}
}
