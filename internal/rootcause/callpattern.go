package rootcause

import (
	"cmp"
	"iter"
	"maps"
	"math"
	"slices"
)

// Call patterns: a code change that returns early or throws rarely slows
// its service, and where no log or span status says so, what changes is
// the work its requests do: the share of an endpoint's requests that call
// each callee operation (a callee no longer called, one called for the
// first time) and the spans of its own part of the trace (a request that
// ends early skips its later DB work and calls). Each service's complete
// segments are counted per endpoint (the operation of the segment's entry
// span) and compared with the endpoint's baseline rate per request, with
// the log patterns' decayed rates, learned spread, hold and runs
// (logtemplate.go): requests calling a callee below their expected count
// (FeatCallsMissing), above it or never seen before (FeatCallsNew), and
// own spans below theirs (FeatEndsEarly). A callee whose answer makes its
// callers stop (an early return's empty value, an exception no status
// records) shows in theirs: more of their requests than usual end with a
// call to it (FeatStopsAfter, the callee's).

// callKey is one endpoint's requests that call one callee operation, or
// with last those whose last call is to it, and with via >= 0 those of
// them whose callee's segment called service via last; callee == ownSpans
// counts the spans of the endpoint's own segments instead, fanOut the
// callee operations its requests call.
type callKey struct {
	service, op      int32
	callee, calleeOp int32
	last             bool
	via              int32
}

// Callees of the callKeys counting an endpoint's own spans and its
// fan-out.
const (
	ownSpans int32 = -1
	fanOut   int32 = -2
	noCalls  int32 = -3 // with last: the requests that call no callee
	respSize int32 = -4 // the requests whose answer's size is in bucket calleeOp (respsize.go)
	anyVia   int32 = -1 // the via of every pattern but a last call's through its callee's last call
)

// callCounts are a closed window's call patterns.
type callCounts struct {
	n     map[callKey]int32 // requests calling, own spans, or callee operations called
	req   map[opKey]int32   // complete segments (requests) per endpoint
	short map[int32]bool    // services with patterns beyond max_edges this window
}

// countCalls counts the window's complete segments per endpoint, their own
// spans, the requests that call each callee operation and the callee
// operations each request calls (its fan-out). A request counts once per
// callee operation however often it calls it: how many times a loop calls
// a service follows the request's data (TrainTicket's travel services call
// the seat service once per trip found), a callee called or not follows
// the code. A segment whose entry span's parent is in no window seen (it
// ended in an earlier one) is a fragment of a request: neither its spans
// nor its calls count. A trace's first segment answers the users: what its
// endpoint calls is what they asked for (a gateway's "/*" calls whatever
// the URL names), not its code, so its calls are not counted; its own
// spans, exit spans included, are (a frontend that stops calling a service
// ends its requests early), and so are its fan-out and the callee its
// requests call last (a frontend that stops after a callee's answer).
// A request's last call is the callee entry span that starts last; a
// failed one's is not counted (it stopped at its own failure, which the
// error features judge). It is counted again by the service the callee's
// segment called last (via): a callee that passes up a wrong answer of its
// own last callee.
// Beyond limit patterns a window's further ones are counted in dropped and
// their service's window is short: neither scored for missing calls nor
// learned.
func countCalls(b *built, limit int, dropped *int64) callCounts {
	c := callCounts{n: map[callKey]int32{}, req: map[opKey]int32{}}
	const fragment, root, inner = 0, 1, 2
	kind := make([]uint8, len(b.segs))
	for i := range b.segs {
		s := &b.segs[i]
		switch {
		case b.spans[s.root].parent.IsEmpty():
			kind[i] = root
		case b.parent[s.root] >= 0:
			kind[i] = inner
		default:
			continue
		}
		c.req[opKey{s.service, s.op}]++
	}
	type segCall struct{ seg, callee, op int32 }
	called := make(map[segCall]bool, len(b.segs))
	last := make([]int32, len(b.segs)) // per caller segment, the callee entry span that starts last, or -1
	for i := range last {
		last[i] = -1
	}
	for i := range b.spans {
		if si := b.segOf[i]; kind[si] != fragment {
			s := &b.segs[si]
			c.add(callKey{s.service, s.op, ownSpans, ownSpans, false, anyVia}, limit, dropped)
		}
		p := b.parent[i]
		if p < 0 || b.spans[p].service == b.spans[i].service || kind[b.segOf[p]] == fragment {
			continue
		}
		sc := segCall{b.segOf[p], b.spans[i].service, b.spans[i].op}
		if l := last[sc.seg]; l < 0 || b.spans[i].startNs >= b.spans[l].startNs {
			last[sc.seg] = int32(i)
		}
		if called[sc] {
			continue
		}
		called[sc] = true
		caller := &b.segs[sc.seg]
		if kind[sc.seg] == inner {
			c.add(callKey{caller.service, caller.op, sc.callee, sc.op, false, anyVia}, limit, dropped)
		}
		c.add(callKey{caller.service, caller.op, fanOut, fanOut, false, anyVia}, limit, dropped)
	}
	for seg, i := range last {
		caller := &b.segs[seg]
		switch {
		case kind[seg] == fragment || caller.err:
		case i >= 0:
			c.add(callKey{caller.service, caller.op, b.spans[i].service, b.spans[i].op, true, anyVia}, limit, dropped)
		default:
			c.add(callKey{caller.service, caller.op, noCalls, noCalls, true, anyVia}, limit, dropped)
		}
	}
	// after every other pattern, and never making their service short when
	// the table has no room for them: a via pattern only weakens a
	// discount, answers' sizes are evidence of their own that the calls'
	// must not lose slots to
	for seg, i := range last {
		if caller := &b.segs[seg]; kind[seg] != fragment && !caller.err && i >= 0 {
			if j := last[b.segOf[i]]; j >= 0 {
				c.addAfter(callKey{caller.service, caller.op, b.spans[i].service, b.spans[i].op, true, b.spans[j].service}, limit, dropped)
			}
		}
	}
	for i := range b.segs {
		if s := &b.segs[i]; kind[i] != fragment && b.spans[s.root].resp > 0 {
			c.addAfter(callKey{s.service, s.op, respSize, int32(b.spans[s.root].resp), false, anyVia}, limit, dropped)
		}
	}
	return c
}

// addAfter counts a pattern that comes after the others: with no room for
// it, it is counted in dropped but its service is not short.
func (c *callCounts) addAfter(k callKey, limit int, dropped *int64) {
	if _, ok := c.n[k]; ok || len(c.n) < limit {
		c.n[k]++
	} else {
		*dropped++
	}
}

func (c *callCounts) add(k callKey, limit int, dropped *int64) {
	if _, ok := c.n[k]; !ok && len(c.n) >= limit {
		*dropped++
		if c.short == nil {
			c.short = map[int32]bool{}
		}
		c.short[k.service] = true
		return
	}
	c.n[k]++
}

// callBook is the call patterns' baseline: per service its windows and
// hold, per endpoint its decayed requests, per pattern its decayed count
// (tmplState), and the runs of patterns above their expectation.
type callBook struct {
	exp    map[int32]*logExposure
	opExp  map[opKey]*opExposure
	base   map[callKey]*tmplState
	newRun map[callKey]*logRun // FeatCallsNew's runs, at most max_edges
}

func newCallBook() callBook {
	return callBook{exp: map[int32]*logExposure{}, opExp: map[opKey]*opExposure{}, base: map[callKey]*tmplState{}, newRun: map[callKey]*logRun{}}
}

// callRate is pattern k's baseline rate per request of its endpoint, the
// endpoint's decayed requests and the pattern's decayed count; ok once the
// service has minHistory windows of call baseline and the endpoint some
// requests in it (an endpoint never seen before is not judged by the
// calls it makes). One pseudo-request more in the denominator, as tmplRate.
func (e *Engine) callRate(k callKey) (rate, requests, count float64, ok bool) {
	ex, oe := e.calls.exp[k.service], e.calls.opExp[opKey{k.service, k.op}]
	if ex == nil || ex.windows < minHistory || oe == nil {
		return 0, 0, 0, false
	}
	requests = e.decayed(oe.value, ex.windows-oe.at)
	if st := e.calls.base[k]; st != nil {
		count = e.decayed(st.count, ex.windows-st.at)
	}
	return count / (requests + 1), requests, count, true
}

// rateDoubt is the variance a pattern's expected count in a window of req
// requests inherits from its rate, learned as count over requests
// requests: Poisson on the rate, with one count more so that a callee
// never called in a short baseline is not a certainty either. A rate from
// a few requests makes a poor expectation for many (an endpoint seen twice
// in the baseline that calls a callee on half its requests).
func rateDoubt(req, requests, count float64) float64 {
	return req * req * (count + 1) / ((requests + 1) * (requests + 1))
}

// callScores are what folding a window's call patterns needs.
type callScores struct {
	resid  []residual        // the residuals that teach the spread (above the expectation)
	scored []scored          // pattern counts, for their deficit runs
	excess []callExcess      // patterns above their expectation, for their runs
	hold   map[int32]float64 // per service, its strongest deficit z before stops are taken off (what its hold judges)
}

// callExcess is a window's count of a pattern above its expectation.
type callExcess struct {
	k         callKey
	obs, want float64
}

// callZ is a pattern's window: its deficit and excess z (each the larger
// of the window's and its run's) and the raw counts behind them.
type callZ struct {
	deficit, excess       float64
	deficitRaw, excessRaw float64
	obs, want             float64 // the window's count and its expectation
}

// featZ is a call pattern's z for one node feature.
type featZ struct {
	k      callKey
	f      int
	z, raw float64
}

// scoreCalls sets each node's call pattern features from its endpoints'
// patterns: own spans below their expected count (FeatEndsEarly), requests
// calling a callee operation below it (FeatCallsMissing) or above it, or
// a callee never called before (FeatCallsNew), each as a z over the
// count's learned spread (tmplState.spread) plus the rate's doubt
// (rateDoubt), or its run's (runZ) when larger. A callee's z counts only
// as far as the endpoint's fan-out (callee operations per request) moved
// the same way: when one callee gains the requests another loses, the
// requests' data chose another branch (which train type, which order
// table), no work was lost or added.
func (e *Engine) scoreCalls(g *Graph, cc callCounts, index map[int32]int) callScores {
	// sized up front: growing these was a third of scoreCalls' allocations
	n := len(e.calls.base)
	cs := callScores{scored: make([]scored, 0, n)}
	zs := make(map[callKey]callZ, max(n, len(cc.n)))
	for k, st := range e.calls.base {
		if _, ok := index[k.service]; ok && cc.req[opKey{k.service, k.op}] > 0 && !cc.short[k.service] {
			zs[k] = e.scoreCall(&cs, k, st, cc)
		}
	}
	for k := range cc.n {
		if _, scored := zs[k]; !scored && k.callee != ownSpans {
			if _, ok := index[k.service]; ok {
				zs[k] = e.scoreCall(&cs, k, nil, cc)
			}
		}
	}
	type stops struct {
		z, top, all float64 // the strongest stop's z and excess requests; all requests stopped beyond expectation
	}
	deficits := make([]featZ, 0, len(zs))
	var lasts, vias []callKey
	answers := map[opKey][]callKey{} // per endpoint, its answers' size buckets
	cs.hold = map[int32]float64{}
	for k, z := range zs {
		fan := zs[callKey{k.service, k.op, fanOut, fanOut, false, anyVia}]
		switch {
		case k.via != anyVia:
			if z.obs > z.want {
				vias = append(vias, k)
			}
		case k.last:
			if e.ordered(k) && z.excess > 0 {
				lasts = append(lasts, k)
			}
		case k.callee == ownSpans:
			deficits = append(deficits, featZ{k, FeatEndsEarly, z.deficit, z.deficitRaw})
		case k.callee == fanOut:
		case k.callee == respSize:
			if !cc.short[k.service] { // its baseline's buckets are not all scored
				answers[opKey{k.service, k.op}] = append(answers[opKey{k.service, k.op}], k)
			}
		default:
			deficits = append(deficits, featZ{k, FeatCallsMissing, min(z.deficit, fan.deficit), z.deficitRaw})
			raise(&g.Nodes[index[k.service]], FeatCallsNew, min(z.excess, fan.excess), z.excessRaw)
		}
	}
	// in key order: map order must not pick between stops of equal z, nor
	// the order of the sums
	slices.SortFunc(lasts, compareCallKeys)
	slices.SortFunc(vias, compareCallKeys)
	viasOf := map[callKey][]callKey{} // per last call pattern, its patterns by the callee's last callee
	for _, v := range vias {
		k := v
		k.via = anyVia
		viasOf[k] = append(viasOf[k], v)
	}
	stopped := map[opKey]*stops{} // per ordered caller endpoint, its requests that stop early
	for _, k := range lasts {
		ep := opKey{k.service, k.op}
		st := stopped[ep]
		if st == nil {
			st = &stops{}
			stopped[ep] = st
		}
		st.all += zs[k].obs - zs[k].want
	}
	// A callee explains its callers' stops only for its share of them: an
	// endpoint whose requests stop after one callee's answer stops for
	// that answer; one that stops after any of several callees stops at
	// its own failure (a throw or an early return at several points of
	// its code), and none of them takes the blame.
	sz := make([]float64, len(lasts))
	ev := stopEvidence{}
	for i, k := range lasts {
		z, fan := zs[k], zs[callKey{k.service, k.op, fanOut, fanOut, false, anyVia}]
		st := stopped[opKey{k.service, k.op}]
		if _, ok := index[k.callee]; ok {
			x := z.obs - z.want
			sz[i] = min(z.excess, fan.deficit) * x / st.all
			ev.add(k.callee, k.service, sz[i])
			if sz[i] > st.z || sz[i] == st.z && x > st.top {
				st.z, st.top = sz[i], x // of equal stops, the one that explains more requests
			}
		}
	}
	// A callee whose own last callee answered wrongly passes the answer up
	// (a failure without a status, an empty value): its callers stop after
	// it although the wrong answer was not its own. Inside a trace that
	// looks the same as a callee that throws right after that call; across
	// the population it does not: the last callee's other callers stop
	// after it too. The callee's stops_after counts only for what that
	// evidence does not explain: of each share of its callers' extra
	// stopped requests that its segment ended with one service's call, as
	// much as that service's stops_after from its other callers.
	for i, k := range lasts {
		ci, ok := index[k.callee]
		if !ok || sz[i] <= 0 {
			continue // no node, or the fan-out did not fall: no stop
		}
		z := zs[k]
		var passed float64
		for _, v := range viasOf[k] {
			vz := zs[v]
			passed += min(1, (vz.obs-vz.want)/(z.obs-z.want)) * min(sz[i], ev.other(v.via, k.callee))
		}
		raise(&g.Nodes[ci], FeatStopsAfter, sz[i]-min(sz[i], passed), z.excessRaw)
	}
	sizes := e.scoreSizes(answers, zs)
	// An endpoint whose answers changed size no more than a callee's did
	// passed that answer on: its own change is what it exceeds the
	// callee's by. Its hold is judged by its whole change.
	sizeOf := map[int32]float64{} // per service, its strongest change of answer size
	for _, d := range sizes {
		sizeOf[d.k.service] = max(sizeOf[d.k.service], d.z)
		cs.hold[d.k.service] = max(cs.hold[d.k.service], d.z)
	}
	if len(sizes) > 0 {
		svcOf := make([]int32, len(g.Nodes))
		for svc, ni := range index {
			svcOf[ni] = svc
		}
		callees := map[int32]float64{} // per service, its callees' strongest change of answer size
		for _, ed := range g.Edges {
			if from, to := svcOf[ed.From], svcOf[ed.To]; from != to {
				callees[from] = max(callees[from], sizeOf[to])
			}
		}
		for _, d := range sizes {
			d.z = max(0, d.z-callees[d.k.service])
			deficits = append(deficits, d)
		}
	}
	// An endpoint's requests that stop right after one callee's answer
	// lost their later calls and spans to that answer: its deficits count
	// only for the share of its extra stopped requests that one callee does
	// not explain: those that stop before any call, or after other
	// callees (an early return or a throw at several points of its code).
	for _, d := range deficits {
		cs.hold[d.k.service] = max(cs.hold[d.k.service], d.z)
		z := d.z
		if st := stopped[opKey{d.k.service, d.k.op}]; st != nil && st.all > 0 {
			z *= 1 - min(1, st.top/st.all)
		}
		raise(&g.Nodes[index[d.k.service]], d.f, z, d.raw)
	}
	return cs
}

// Answer sizes follow the request's data: a list of one item or of fifty.
// What a code change does is answers of a size the endpoint hardly ever
// gave: an early return's empty one, an error body where pages are large.
// So only the buckets beyond those that held all but 1 % of the
// baseline's answers at either end, with one bucket (a factor of 2) of
// margin, count: their requests above expectation, as a Poisson z.
const (
	sizeTail         = 0.01
	sizeMargin       = 1
	minSizedRequests = 30 // the baseline's answers with a size, before any is judged
)

// scoreSizes is each endpoint's answers of an unusual size above their
// expectation (FeatAnswerSize), from its size buckets' counts and
// expectations (zs) and baseline rates.
func (e *Engine) scoreSizes(answers map[opKey][]callKey, zs map[callKey]callZ) []featZ {
	var out []featZ
	for ep, ks := range answers {
		slices.SortFunc(ks, func(a, b callKey) int { return cmp.Compare(a.calleeOp, b.calleeOp) })
		rates := make([]float64, len(ks))
		var total, count float64
		for i, k := range ks {
			r, _, c, ok := e.callRate(k)
			if !ok {
				break
			}
			rates[i], total, count = r, total+r, count+c
		}
		if count < minSizedRequests || total <= 0 {
			continue // too few answers to know their usual sizes
		}
		lo, hi := 0, len(ks)-1
		for acc := rates[lo]; acc < sizeTail*total; acc += rates[lo] {
			lo++
		}
		for acc := rates[hi]; acc < sizeTail*total; acc += rates[hi] {
			hi--
		}
		var obs, want float64
		for _, k := range ks {
			if k.calleeOp < ks[lo].calleeOp-sizeMargin || k.calleeOp > ks[hi].calleeOp+sizeMargin {
				obs, want = obs+zs[k].obs, want+zs[k].want
			}
		}
		if obs > want {
			out = append(out, featZ{callKey{ep.service, ep.op, respSize, respSize, false, anyVia}, FeatAnswerSize, (obs - want) / math.Sqrt(want+1), obs})
		}
	}
	return out
}

// stopEvidence is, per callee, its two strongest stops_after from distinct
// callers: what its callers other than one say of its answers.
type stopEvidence map[int32]*[2]stopFrom

type stopFrom struct {
	caller int32
	z      float64
}

func (ev stopEvidence) add(callee, caller int32, z float64) {
	top := ev[callee]
	if top == nil {
		top = &[2]stopFrom{{-1, 0}, {-1, 0}}
		ev[callee] = top
	}
	switch {
	case top[0].caller == caller:
		top[0].z = max(top[0].z, z)
	case z > top[0].z:
		top[0], top[1] = stopFrom{caller, z}, top[0]
	case top[1].caller == caller || z > top[1].z:
		top[1] = stopFrom{caller, max(top[1].z, z)}
	}
}

// other is callee's strongest stops_after from a caller other than caller.
func (ev stopEvidence) other(callee, caller int32) float64 {
	top := ev[callee]
	switch {
	case top == nil:
		return 0
	case top[0].caller != caller:
		return top[0].z
	}
	return top[1].z
}

// minOrderedFanOut is the fan-out (callee operations per request) from
// which an endpoint's last call says something: an endpoint that calls
// one service per request (a gateway) always ends with that call, and
// which one follows what the users asked for.
const minOrderedFanOut = 1.5

// ordered reports whether the endpoint of last-call pattern k calls, in its
// baseline, enough callee operations per request (minOrderedFanOut) that
// more of its requests ending with one call means they stopped there: the
// z of that excess counts only as far as the endpoint's fan-out fell (a
// request that stops after a callee's answer skips the calls after it;
// one that merely calls in another order does not).
func (e *Engine) ordered(k callKey) bool {
	r, _, _, ok := e.callRate(callKey{k.service, k.op, fanOut, fanOut, false, anyVia})
	return ok && r >= minOrderedFanOut
}

// scoreCall is pattern k's deficit z, (want - obs) / sqrt(want * spread +
// doubt + 1), and (but for own spans) its excess z, the same the other way
// round, each raised to its run's when larger; st is its baseline (nil: a
// pattern the endpoint never made, judged at a rate of 0 with a Poisson
// spread). It keeps what folding needs: the residuals that teach the
// spread (as scoreMissing: above the expectation, or either way once the
// service's pattern has been held for a whole baseline) and the counts for
// the runs. The deficit side is not scored in a window whose service lost
// patterns to a full table (cc.short).
func (e *Engine) scoreCall(cs *callScores, k callKey, st *tmplState, cc callCounts) callZ {
	var z callZ
	r, requests, count, ok := e.callRate(k)
	if !ok {
		return z
	}
	ex := e.calls.exp[k.service]
	req := float64(cc.req[opKey{k.service, k.op}])
	want, obs := r*req, float64(cc.n[k])
	z.obs, z.want = obs, want
	if k.via != anyVia || k.callee == respSize {
		return z // its counts are all that is read (a discount, the answers' sizes): no spread, no run
	}
	doubt := rateDoubt(req, requests, count)
	sp := 1.0
	if st != nil {
		sp = st.spread(r)
		if obs > want || ex.hold.held >= e.baselineWindows {
			cs.resid = append(cs.resid, residual{st, k.service, obs, (obs - want) * (obs - want), want})
		}
		z.deficit, z.deficitRaw = (want-obs)/math.Sqrt(want*sp+doubt+1), want-obs
		if ro, rw, ok := st.run.of(ex); ok && obs < want {
			if rz := runZ(want+rw-obs-ro, want+rw, sp); rz > z.deficit {
				z.deficit, z.deficitRaw = rz, want+rw-obs-ro
			}
		}
		cs.scored = append(cs.scored, scored{&st.run, k.service, obs, want})
	}
	if k.callee == ownSpans || obs <= want {
		return z
	}
	z.excess, z.excessRaw = (obs-want)/math.Sqrt(want*sp+doubt+1), obs
	if run := e.calls.newRun[k]; run != nil {
		if ro, rw, ok := run.of(ex); ok {
			if rz := runZ(obs+ro-want-rw, want+rw, sp); rz > z.excess {
				z.excess, z.excessRaw = rz, obs+ro
			}
		}
	}
	cs.excess = append(cs.excess, callExcess{k, obs, want})
	return z
}

// callPatternZ is a node's strongest call pattern z of its own requests,
// its answers' sizes included, the one its service's hold (logHoldZ) is
// judged by. FeatStopsAfter is not one: it is what its callers' requests
// do after its answer.
func callPatternZ(x *[NumNodeFeatures]float64) float64 {
	return max(x[FeatCallsMissing], x[FeatCallsNew], x[FeatEndsEarly], x[FeatAnswerSize])
}

// foldCalls adds a scored window to the call baselines: each service with
// complete segments gains a window and its endpoints their requests,
// unless its call pattern stands out now (logHoldZ: the window is held and
// adds to the runs instead) or it lost patterns to a full table. Unlike a
// log template's, a pattern's spread learns only from windows that are not
// held: a call that runs more often is a fault the spread must not learn,
// as much as one that stops.
func (e *Engine) foldCalls(g *Graph, cc callCounts, index map[int32]int, cs callScores, start int64) {
	svcs := make(map[int32]bool, len(cc.req))
	for k := range cc.req {
		svcs[k.service] = true
	}
	for svc := range svcs {
		ex := e.calls.exp[svc]
		if ex == nil {
			ex = &logExposure{}
			e.calls.exp[svc] = ex
		}
		ex.lastSeen = start
		if ex.holding = cc.short[svc]; ex.holding {
			continue
		}
		if ex.holding = ex.hold.keep(max(callPatternZ(&g.Nodes[index[svc]].X), cs.hold[svc]) >= logHoldZ, e.baselineWindows); !ex.holding {
			ex.windows++
		}
	}
	for k := range keysFilling(cc.req, len(e.calls.opExp), e.cfg.MaxOperations, func(a, b opKey) int {
		return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.op, b.op))
	}) {
		req := cc.req[k]
		ex := e.calls.exp[k.service]
		if ex.holding {
			continue
		}
		oe := e.calls.opExp[k]
		if oe == nil {
			if len(e.calls.opExp) >= e.cfg.MaxOperations {
				continue // the endpoint is not judged by its calls
			}
			oe = &opExposure{}
			e.calls.opExp[k] = oe
		}
		oe.value = e.decayed(oe.value, ex.windows-oe.at) + float64(req)
		oe.at, oe.lastSeen = ex.windows, start
	}
	held := func(svc int32) bool { ex := e.calls.exp[svc]; return ex != nil && ex.holding && !cc.short[svc] }
	for _, c := range cs.scored {
		if held(c.service) {
			c.run.add(e.calls.exp[c.service], c.obs, c.want)
		}
	}
	if len(e.calls.newRun)+len(cs.excess) > e.cfg.MaxEdges { // map order must not pick who gets the last slots
		slices.SortFunc(cs.excess, func(a, b callExcess) int { return compareCallKeys(a.k, b.k) })
	}
	for _, c := range cs.excess {
		if !held(c.k.service) {
			continue
		}
		r := e.calls.newRun[c.k]
		if r == nil {
			if len(e.calls.newRun) >= e.cfg.MaxEdges {
				e.stats.DroppedEdges++
				continue
			}
			r = &logRun{}
			e.calls.newRun[c.k] = r
		}
		r.add(e.calls.exp[c.k.service], c.obs, c.want)
	}
	for _, r := range cs.resid {
		if ex := e.calls.exp[r.service]; !ex.holding {
			r.st.fold(e, ex.windows, r.count, r.sq, r.want)
		}
	}
	for k := range keysFilling(cc.n, len(e.calls.base), e.cfg.MaxEdges, compareCallKeys) {
		if !cc.short[k.service] {
			foldCount(e, e.calls.base, k, e.calls.exp[k.service], cc.n[k], e.cfg.MaxEdges, &e.stats.DroppedEdges)
		}
	}
}

// keysFilling are m's keys to add to a table of size entries bounded by
// limit: in map order while the table has room for every key (the order
// cannot matter), in cmp order when it may fill, so that map order does
// not pick who gets the last slots. Sorting every window cost 7 % of a
// 1,000-service close.
func keysFilling[K comparable, V any](m map[K]V, size, limit int, cmp func(a, b K) int) iter.Seq[K] {
	if size+len(m) <= limit {
		return maps.Keys(m)
	}
	return slices.Values(slices.SortedFunc(maps.Keys(m), cmp))
}

// sweepCalls forgets the call baselines of services and endpoints not
// seen since cutoff, patterns into services or operations whose ids were
// released (gone: they are about to be reused), and patterns no longer
// made.
func (e *Engine) sweepCalls(cutoff int64, goneServices, goneOps map[int32]bool) {
	for svc, ex := range e.calls.exp {
		if ex.lastSeen < cutoff {
			delete(e.calls.exp, svc)
		}
	}
	for k, oe := range e.calls.opExp {
		if _, ok := e.calls.exp[k.service]; !ok || oe.lastSeen < cutoff || goneOps[k.op] {
			delete(e.calls.opExp, k)
		}
	}
	for k, st := range e.calls.base {
		ex := e.calls.exp[k.service]
		_, endpoint := e.calls.opExp[opKey{k.service, k.op}]
		if ex == nil || !endpoint || e.negligible(st, ex) || k.callee >= 0 && (goneServices[k.callee] || goneOps[k.calleeOp]) || goneServices[k.via] {
			delete(e.calls.base, k)
		}
	}
	for k, r := range e.calls.newRun {
		if _, _, ok := r.of(e.calls.exp[k.service]); !ok {
			delete(e.calls.newRun, k)
		}
	}
}

func compareCallKeys(a, b callKey) int {
	return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.op, b.op), cmp.Compare(a.callee, b.callee), cmp.Compare(a.calleeOp, b.calleeOp), compareBool(a.last, b.last), cmp.Compare(a.via, b.via))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
