package rootcause

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// req is one request of a synthetic trace: service handles op, does db
// same-service child spans (a repository call), then calls, one exit span
// each; failed sets its entry span's error status, size > 0 its
// http.response.body.size (size - 1 bytes).
type req struct {
	service, op string
	db          int
	calls       []req
	failed      bool
	size        int64
}

// requestTraffic builds n traces over [at, at+spread), trace i the request
// tree of i, as SERVER entry spans, INTERNAL db spans and CLIENT exit spans.
func requestTraffic(rng *rand.Rand, at time.Time, spread time.Duration, n int, of func(i int) req) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := map[string]ptrace.SpanSlice{}
	spans := func(svc string) ptrace.SpanSlice {
		s, ok := ss[svc]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			s = rs.ScopeSpans().AppendEmpty().Spans()
			ss[svc] = s
		}
		return s
	}
	ts := pcommon.NewTimestampFromTime
	var emit func(tid pcommon.TraceID, parent pcommon.SpanID, r req, start time.Time) time.Time
	emit = func(tid pcommon.TraceID, parent pcommon.SpanID, r req, start time.Time) time.Time {
		entry := spans(r.service).AppendEmpty()
		entry.SetTraceID(tid)
		entry.SetSpanID(spanID(rng))
		entry.SetParentSpanID(parent)
		entry.SetName(r.op)
		entry.SetKind(ptrace.SpanKindServer)
		entry.SetStartTimestamp(ts(start))
		t := start.Add(time.Millisecond)
		for range r.db {
			db := spans(r.service).AppendEmpty()
			db.SetTraceID(tid)
			db.SetSpanID(spanID(rng))
			db.SetParentSpanID(entry.SpanID())
			db.SetName("SELECT")
			db.SetKind(ptrace.SpanKindInternal)
			db.SetStartTimestamp(ts(t))
			t = t.Add(2 * time.Millisecond)
			db.SetEndTimestamp(ts(t))
		}
		for _, c := range r.calls {
			exit := spans(r.service).AppendEmpty()
			exit.SetTraceID(tid)
			exit.SetSpanID(spanID(rng))
			exit.SetParentSpanID(entry.SpanID())
			exit.SetName("HTTP POST")
			exit.SetKind(ptrace.SpanKindClient)
			exit.SetStartTimestamp(ts(t))
			t = emit(tid, exit.SpanID(), c, t.Add(time.Millisecond/2)).Add(time.Millisecond / 2)
			exit.SetEndTimestamp(ts(t))
		}
		t = t.Add(time.Millisecond)
		entry.SetEndTimestamp(ts(t))
		if r.failed {
			entry.Status().SetCode(ptrace.StatusCodeError)
		}
		if r.size > 0 {
			entry.Attributes().PutInt("http.response.body.size", r.size-1)
		}
		return t
	}
	for i := range n {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
		emit(tid, pcommon.SpanID{}, of(i), at.Add(time.Duration(float64(spread)*float64(i)/float64(n))))
	}
	return td
}

// checkout is gateway -> order /order/create -> inventory /inventory/reserve
// (one DB span) -> payment /payment/charge: the gateway's calls are the
// users' requests, not call patterns (countCalls).
func checkout() req {
	payment := req{service: "payment", op: "/payment/charge", db: 1}
	inventory := req{service: "inventory", op: "/inventory/reserve", db: 1, calls: []req{payment}}
	order := req{service: "order", op: "/order/create", calls: []req{inventory}}
	return req{service: "gateway", op: "/*", calls: []req{order}}
}

// callFeatures replays windows of 60 requests (trace i of window w from
// of(w, i)) and returns each window's call pattern features by service
// (missing, new, early, stops after, answer size).
func callFeatures(t *testing.T, windows int, of func(w, i int) req) []map[string][5]float64 {
	t.Helper()
	e := newTestEngine(t, LatencyZ{}, func(c *Config) { c.MinAnomaly = 0 })
	rng := rand.New(rand.NewPCG(5, 8))
	var out []map[string][5]float64
	collect := func(rs []Result) {
		for _, r := range rs {
			m := map[string][5]float64{}
			for _, n := range r.Graph.Nodes {
				m[n.Service] = [5]float64{n.X[FeatCallsMissing], n.X[FeatCallsNew], n.X[FeatEndsEarly], n.X[FeatStopsAfter], n.X[FeatAnswerSize]}
			}
			out = append(out, m)
		}
	}
	for w := range windows {
		e.AddTraces(requestTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 25*time.Second, 60, func(i int) req { return of(w, i) }))
		collect(e.Advance(false))
	}
	collect(e.Advance(true))
	require.Len(t, out, windows)
	return out
}

// quiet asserts that no service's call pattern feature reaches 2 in the
// windows before to.
func quiet(t *testing.T, fs []map[string][5]float64, to int) {
	t.Helper()
	for w := range to {
		for svc, f := range fs[w] {
			for k, z := range f {
				assert.Less(t, z, 2.0, "window %d %s feature %d", w, svc, k)
			}
		}
	}
}

// TestCallsMissing: inventory returns early on half its requests from
// window 10 on: it stops calling payment then (calls_missing) and its part
// of those traces is a span shorter, the exit span (ends_early), while its
// callers' patterns do not move. Before the fault, and in a replay without it, every
// feature stays quiet.
func TestCallsMissing(t *testing.T) {
	const fault = 10
	fs := callFeatures(t, 14, func(w, i int) req {
		r := checkout()
		if w >= fault && i%2 == 0 {
			r.calls[0].calls[0].calls = nil // inventory returns before calling payment
		}
		return r
	})
	quiet(t, fs, fault)
	for w := fault; w < len(fs); w++ {
		inv := fs[w]["inventory"]
		assert.Greater(t, inv[0], 5.0, "window %d: inventory's calls to payment", w)
		assert.Greater(t, inv[2], 3.0, "window %d: inventory's requests end early", w)
		assert.Less(t, inv[1], 2.0, "window %d: nothing new", w)
		for _, svc := range []string{"gateway", "order", "payment"} {
			for k, z := range fs[w][svc] {
				assert.Less(t, z, 2.0, "window %d %s feature %d", w, svc, k)
			}
		}
	}
	quiet(t, callFeatures(t, 14, func(int, int) req { return checkout() }), 14)
}

// TestEndsEarlyWithoutCalls: inventory skips its DB work on half its
// requests: its requests end early, though it calls payment as before.
func TestEndsEarlyWithoutCalls(t *testing.T) {
	const fault = 10
	fs := callFeatures(t, 13, func(w, i int) req {
		r := checkout()
		if w >= fault && i%2 == 0 {
			r.calls[0].calls[0].db = 0
		}
		return r
	})
	quiet(t, fs, fault)
	for w := fault; w < len(fs); w++ {
		inv := fs[w]["inventory"]
		assert.Greater(t, inv[2], 3.0, "window %d", w)
		assert.Less(t, inv[0], 2.0, "window %d", w)
		assert.Less(t, inv[1], 2.0, "window %d", w)
	}
}

// TestCallsNew: from window 10 order calls a fraud check it never called
// before on every request, and inventory an audit service on half its
// requests: both stand out as callees called more than expected; nobody's
// calls go missing.
func TestCallsNew(t *testing.T) {
	const fault = 10
	fs := callFeatures(t, 13, func(w, i int) req {
		r := checkout()
		if w >= fault {
			order := &r.calls[0]
			order.calls = append(order.calls, req{service: "fraud", op: "/fraud/check"})
			if i%2 == 0 {
				inv := &order.calls[0]
				inv.calls = append(inv.calls, req{service: "audit", op: "/audit/log"})
			}
		}
		return r
	})
	quiet(t, fs, fault)
	for w := fault; w < len(fs); w++ {
		assert.Greater(t, fs[w]["order"][1], 10.0, "window %d: order's new callee", w)
		assert.Greater(t, fs[w]["inventory"][1], 5.0, "window %d: inventory's new callee", w)
		for svc, f := range fs[w] {
			assert.Less(t, f[0], 2.0, "window %d %s", w, svc)
		}
	}
}

// TestLoopCountIsNoCallChange: inventory charges payment once per item of
// the order, and from window 10 the orders hold three items instead of
// one: a request calls the operations it called before, the loop count
// follows the data.
func TestLoopCountIsNoCallChange(t *testing.T) {
	fs := callFeatures(t, 14, func(w, i int) req {
		r := checkout()
		if w >= 10 {
			inv := &r.calls[0].calls[0]
			inv.calls = append(inv.calls, inv.calls[0], inv.calls[0])
		}
		return r
	})
	quiet(t, fs, len(fs))
}

// TestEndpointMixIsNoCallChange: order's requests move from its create
// endpoint (which calls inventory) to its list endpoint (which calls
// nothing): the service calls inventory a third as often per request, but
// each endpoint makes the calls it always made; and the gateway, which
// routes the users' requests, is no suspect for routing them elsewhere.
func TestEndpointMixIsNoCallChange(t *testing.T) {
	fs := callFeatures(t, 14, func(w, i int) req {
		r := checkout()
		if create := 4; w >= 10 && i%create != 0 || w < 10 && i%create == 0 {
			r.calls[0] = req{service: "order", op: "/order/list", db: 1}
		}
		return r
	})
	quiet(t, fs, len(fs))
}

// TestBranchShiftIsNoCallChange: inventory charges payment or, for some
// requests, payment-eu (the requests' data picks the branch); from window
// 10 three in four requests take the eu branch, which inventory never
// called on most windows before: its fan-out per request stays, so
// neither callee's change is lost or added work.
func TestBranchShiftIsNoCallChange(t *testing.T) {
	fs := callFeatures(t, 14, func(w, i int) req {
		r := checkout()
		eu := i%8 == 0
		if w >= 10 {
			eu = i%4 != 0
		}
		if eu {
			r.calls[0].calls[0].calls[0].service = "payment-eu"
		}
		return r
	})
	quiet(t, fs, len(fs))
}

// TestCallPatternHeld: a callee that stopped being called keeps standing
// out while the fault lasts (its service's window is held out of the call
// baseline), and the hold ends after a baseline of windows: the change is
// the new normal.
func TestCallPatternHeld(t *testing.T) {
	const fault = 8
	e := newTestEngine(t, LatencyZ{})
	hold := e.baselineWindows
	fs := callFeatures(t, fault+3*hold, func(w, i int) req {
		r := checkout()
		if w >= fault && i%4 == 0 {
			r.calls[0].calls[0].calls = nil
		}
		return r
	})
	for w := fault; w < fault+hold; w++ {
		assert.Greater(t, fs[w]["inventory"][0], 3.0, "window %d: held", w)
	}
	assert.Less(t, fs[len(fs)-1]["inventory"][0], 2.0, "the new normal")
}

// TestCountCallsSkipsFragments: a segment whose entry span's parent ended
// in another window is part of a request, not one: neither it nor its
// calls count.
func TestCountCallsSkipsFragments(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	rng := rand.New(rand.NewPCG(1, 1))
	td := requestTraffic(rng, t0.Add(time.Second), time.Second, 3, func(int) req { return checkout() })
	// the first trace's order entry span lost its parent (the gateway's exit span ended elsewhere)
	var orderFragment pcommon.SpanID
	for _, rs := range td.ResourceSpans().All() {
		if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() == "gateway" {
			spans := rs.ScopeSpans().At(0).Spans()
			orderFragment = spans.At(1).SpanID() // the first trace's exit span
			spans.RemoveIf(func(s ptrace.Span) bool { return s.SpanID() == orderFragment })
		}
	}
	require.False(t, orderFragment.IsEmpty())
	e.AddTraces(td)
	w := e.in.open[t0.UnixNano()]
	require.NotNil(t, w)
	b := w.build(100)
	var dropped int64
	cc := countCalls(b, 100, &dropped)
	id := func(s string) int32 { return e.in.services.ids[s] }
	op := func(s string) int32 { return e.in.ops.ids[s] }
	assert.EqualValues(t, 2, cc.req[opKey{id("order"), op("/order/create")}], "one of three order requests is a fragment")
	assert.EqualValues(t, 3, cc.req[opKey{id("inventory"), op("/inventory/reserve")}])
	assert.EqualValues(t, 2, cc.n[callKey{id("order"), op("/order/create"), id("inventory"), op("/inventory/reserve"), false, anyVia}])
	assert.EqualValues(t, 4, cc.n[callKey{id("order"), op("/order/create"), ownSpans, ownSpans, false, anyVia}], "entry and exit span of two requests")
	assert.EqualValues(t, 9, cc.n[callKey{id("inventory"), op("/inventory/reserve"), ownSpans, ownSpans, false, anyVia}])
	assert.Zero(t, dropped)
}

// TestCountCallsOncePerRequest: a request counts once per callee operation
// it calls, and its fan-out counts the operations; its own spans count
// every exit span.
func TestCountCallsOncePerRequest(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	rng := rand.New(rand.NewPCG(1, 1))
	e.AddTraces(requestTraffic(rng, t0.Add(time.Second), time.Second, 4, func(int) req {
		r := checkout()
		inv := &r.calls[0].calls[0]
		inv.calls = append(inv.calls, inv.calls[0], inv.calls[0], req{service: "audit", op: "/audit/log"})
		return r
	}))
	b := e.in.open[t0.UnixNano()].build(100)
	var dropped int64
	cc := countCalls(b, 100, &dropped)
	id := func(s string) int32 { return e.in.services.ids[s] }
	op := func(s string) int32 { return e.in.ops.ids[s] }
	inv := func(callee, calleeOp int32) int32 {
		return cc.n[callKey{id("inventory"), op("/inventory/reserve"), callee, calleeOp, false, anyVia}]
	}
	assert.EqualValues(t, 4, inv(id("payment"), op("/payment/charge")), "three calls a request, one request each")
	assert.EqualValues(t, 4, inv(id("audit"), op("/audit/log")))
	assert.EqualValues(t, 8, inv(fanOut, fanOut), "two callee operations a request")
	assert.EqualValues(t, 24, inv(ownSpans, ownSpans), "entry, DB and four exit spans a request")
}

// TestCountCallsVia: a last call is counted again by the service its
// callee's segment called last (order's requests end with inventory, whose
// segments end with payment); a via pattern with no room in the window's
// table is counted as dropped but never makes its service short: it only
// weakens a discount.
func TestCountCallsVia(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	rng := rand.New(rand.NewPCG(1, 1))
	e.AddTraces(requestTraffic(rng, t0.Add(time.Second), time.Second, 3, func(int) req { return checkout() }))
	b := e.in.open[t0.UnixNano()].build(100)
	id := func(s string) int32 { return e.in.services.ids[s] }
	op := func(s string) int32 { return e.in.ops.ids[s] }
	orderLast := callKey{id("order"), op("/order/create"), id("inventory"), op("/inventory/reserve"), true, anyVia}
	viaPayment := orderLast
	viaPayment.via = id("payment")

	var dropped int64
	cc := countCalls(b, 100, &dropped)
	assert.EqualValues(t, 3, cc.n[orderLast])
	assert.EqualValues(t, 3, cc.n[viaPayment])
	vias := 0
	for k := range cc.n {
		if k.via != anyVia {
			vias++
		}
	}
	assert.Equal(t, 2, vias, "order's requests end with inventory through payment, the gateway's with order through inventory; payment calls nothing")
	assert.Zero(t, dropped)

	full := len(cc.n) - vias
	dropped = 0
	cc = countCalls(b, full, &dropped)
	assert.Zero(t, cc.n[viaPayment])
	assert.EqualValues(t, 3, cc.n[orderLast])
	assert.EqualValues(t, 3*vias, dropped, "every request's")
	assert.Empty(t, cc.short)
}

// TestCallPatternBounds: call patterns beyond max_edges are counted, their
// service's window is short (not scored for missing calls, not learned),
// and the baseline never holds more than max_edges patterns.
func TestCallPatternBounds(t *testing.T) {
	e := newTestEngine(t, LatencyZ{}, func(c *Config) { c.MaxEdges = 5 })
	rng := rand.New(rand.NewPCG(3, 3))
	for w := range 12 {
		e.AddTraces(requestTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 25*time.Second, 20, func(int) req { return checkout() }))
		e.Advance(false)
	}
	e.Advance(true)
	// patterns: 4 endpoints' own spans, 2 calls (the gateway's are the
	// users') and 2 fan-outs = 8 > 5
	assert.Positive(t, e.Stats().DroppedEdges)
	assert.LessOrEqual(t, len(e.calls.base), 5)
	assert.LessOrEqual(t, len(e.calls.newRun), 5)
}

// TestSweepForgetsCallPatterns: when a callee has not been seen for a
// baseline its id is released, and the patterns that named it go with it
// (the id is about to be reused for another service).
func TestSweepForgetsCallPatterns(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	rng := rand.New(rand.NewPCG(4, 4))
	windows := 3*e.baselineWindows + 4
	for w := range windows {
		e.AddTraces(requestTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 25*time.Second, 20, func(int) req {
			r := checkout()
			if w >= 4 {
				r.calls[0].calls[0].calls = nil // payment is never called again
			}
			return r
		}))
		e.Advance(false)
	}
	_, known := e.in.services.ids["payment"]
	require.False(t, known, "payment was released")
	for k := range e.calls.base {
		assert.NotEqual(t, "payment", e.in.services.name(k.service))
		if k.callee >= 0 {
			assert.NotEqual(t, "", e.in.services.name(k.callee), "a pattern into a released service: %+v", k)
		}
		if k.via >= 0 {
			assert.NotEqual(t, "", e.in.services.name(k.via), "a pattern through a released service: %+v", k)
		}
	}
}

// TestCodeFaultFromTracesAlone: an early return, with no log, no span
// status and no latency change (the shipped weights, the connector's
// min_anomaly): the first fault window's report names the culprit first
// by its call pattern. Inventory that returns before calling payment, not
// payment (called less) nor order (its caller); payment, a leaf that
// calls nothing and does no DB work, whose answers are empty: only their
// size changes, and inventory passes them on. Steady traffic, its answers'
// sizes following the requests' data, makes no report.
func TestCodeFaultFromTracesAlone(t *testing.T) {
	gnn, err := EmbeddedModel()
	require.NoError(t, err)
	tests := []struct {
		name    string
		change  func(r *req) // half the requests from window 10 on; nil: steady traffic
		culprit string
	}{
		{name: "steady traffic"},
		{name: "an early return skips a call", change: func(r *req) { r.calls[0].calls[0].calls = nil }, culprit: "inventory"},
		{name: "a leaf's empty answers", change: func(r *req) { r.calls[0].calls[0].calls[0].size = 1 }, culprit: "payment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, gnn)
			rng := rand.New(rand.NewPCG(9, 9))
			sizes := rand.New(rand.NewPCG(5, 5))
			size := func(median float64) int64 { return 1 + int64(median*math.Exp(0.5*sizes.NormFloat64())) }
			var rs []Result
			for w := range 14 {
				e.AddTraces(requestTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 25*time.Second, 60, func(i int) req {
					r := checkout()
					order := &r.calls[0]
					order.size, order.calls[0].size, order.calls[0].calls[0].size = size(1500), size(800), size(300)
					if tt.change != nil && w >= 10 && i%2 == 0 {
						tt.change(&r)
					}
					return r
				}))
				rs = append(rs, e.Advance(false)...)
			}
			rep := firstReport(rs)
			if tt.change == nil {
				assert.Nil(t, rep, "steady traffic")
				return
			}
			require.NotNil(t, rep)
			assert.Equal(t, time.Unix(0, rs[10].Graph.End).UTC(), rep.End, "the first fault window reports")
			assert.Equal(t, tt.culprit, rep.Candidates[0].Service, "%+v", rep.Candidates)
			assert.Equal(t, PatternCalls, rep.Pattern)
		})
	}
}

// shopPage is a shop frontend's page (the trace's first segment): it
// calls cart, currency, shipping and email in turn.
func shopPage() req {
	calls := []req{
		{service: "cart", op: "/cart/get", db: 1},
		{service: "currency", op: "/currency/convert"},
		{service: "shipping", op: "/shipping/quote"},
		{service: "email", op: "/email/send"},
	}
	return req{service: "frontend", op: "/checkout", calls: calls}
}

// TestStopsAfter: from window 10 on, half the frontend's requests change;
// stops_after is raised on the callee whose answer they stop after, and
// only there, when the requests stop (fewer calls) without failing, with
// an endpoint that calls several services per request.
func TestStopsAfter(t *testing.T) {
	const fault = 10
	tests := []struct {
		name    string
		change  func(r *req, i int) // applied to half the requests from the fault on
		normal  func(i int) req     // the requests before the change (default shopPage)
		culprit string              // "": no service's stops_after reaches 2
	}{
		{name: "callers stop after a wrong answer", change: func(r *req, _ int) { r.calls = r.calls[:1] }, culprit: "cart"},
		{name: "a later callee's wrong answer", change: func(r *req, _ int) { r.calls = r.calls[:3] }, culprit: "shipping"},
		{name: "a failed request stops at its own failure", change: func(r *req, _ int) { r.calls, r.failed = r.calls[:1], true }},
		{name: "another order is no stop", change: func(r *req, _ int) { slices.Reverse(r.calls) }},
		{
			name: "one call per request has no order",
			normal: func(i int) req {
				p := shopPage()
				p.calls = p.calls[i%4 : i%4+1]
				return p
			},
			change: func(r *req, _ int) { r.calls = shopPage().calls[:1] },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := callFeatures(t, 13, func(w, i int) req {
				r := shopPage()
				if tt.normal != nil {
					r = tt.normal(i)
				}
				if w >= fault && i%2 == 0 {
					tt.change(&r, i)
				}
				return r
			})
			quiet(t, fs, fault)
			for w := fault; w < len(fs); w++ {
				for svc, f := range fs[w] {
					if svc == tt.culprit {
						assert.Greater(t, f[3], 3.0, "window %d: %s", w, svc)
					} else {
						assert.Less(t, f[3], 2.0, "window %d: %s", w, svc)
					}
				}
			}
		})
	}
}

// checkoutPage is a shop frontend page whose checkout service (an
// aggregator) calls cart, currency and shipping in turn before the page
// sends its email.
func checkoutPage() req {
	checkout := req{service: "checkout", op: "/checkout/place", calls: []req{
		{service: "cart", op: "/cart/get", db: 1},
		{service: "currency", op: "/currency/convert"},
		{service: "shipping", op: "/shipping/quote"},
	}}
	return req{service: "frontend", op: "/checkout", calls: []req{checkout, {service: "email", op: "/email/send"}}}
}

// TestStopsTakeCallersDeficit: from window 10 on half the requests change.
// A caller whose requests stop right after one callee's answer lost its
// later calls and spans to that answer: its ends_early and calls_missing
// stay quiet (without the rule: 10.2 and 7.6), the callee's stops_after
// stands out, also when the caller's own callers stop after its answer
// in turn (a failure passed up without a status). A service whose
// requests end before any call keeps its deficit (11.4), one whose extra
// stops are half before any call and half after cart keeps half (4.7). A
// page whose requests stop after any of three callees stopped at its own
// failure: it keeps two thirds of its deficit (4.5), and each callee's
// stops_after counts for its third of the stops only (2.5).
func TestStopsTakeCallersDeficit(t *testing.T) {
	const fault = 10
	tests := []struct {
		name   string
		normal func() req
		change func(r *req, i int)
		stops  string // the callee the changed requests stop after ("": none)
		caller string // the service whose requests end early
		own    bool   // no callee's answer explains it: its deficit stands
		spread bool   // its stops follow several callees: none takes as much blame as the caller
	}{
		{
			name:   "the page stops after a leaf's wrong answer",
			normal: shopPage,
			change: func(r *req, _ int) { r.calls = r.calls[:1] },
			stops:  "cart", caller: "frontend",
		},
		{
			name:   "an aggregator stops after a leaf's wrong answer",
			normal: checkoutPage,
			change: func(r *req, _ int) { r.calls[0].calls = r.calls[0].calls[:1] },
			stops:  "cart", caller: "checkout",
		},
		{
			name:   "an aggregator stops after a leaf, and the page after the aggregator",
			normal: checkoutPage,
			change: func(r *req, _ int) { r.calls[0].calls, r.calls = r.calls[0].calls[:1], r.calls[:1] },
			stops:  "cart", caller: "checkout",
		},
		{
			name:   "an aggregator that returns before any call or after cart",
			normal: checkoutPage,
			change: func(r *req, i int) { r.calls[0].calls = r.calls[0].calls[:i%4/2] },
			stops:  "cart", caller: "checkout", own: true,
		},
		{
			name:   "an aggregator that returns before any call",
			normal: checkoutPage,
			change: func(r *req, _ int) { r.calls[0].calls = nil },
			caller: "checkout", own: true,
		},
		{
			name:   "a page that stops after any of three callees",
			normal: shopPage,
			change: func(r *req, i int) { r.calls = r.calls[:1+i/2%3] },
			caller: "frontend", own: true, spread: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := callFeatures(t, 13, func(w, i int) req {
				r := tt.normal()
				if w >= fault && i%2 == 0 {
					tt.change(&r, i)
				}
				return r
			})
			quiet(t, fs, fault)
			for w := fault; w < len(fs); w++ {
				caller := fs[w][tt.caller]
				deficit := max(caller[0], caller[2])
				if tt.stops != "" {
					assert.Greater(t, fs[w][tt.stops][3], 3.0, "window %d: %s's stops_after", w, tt.stops)
				}
				if tt.spread {
					for _, svc := range []string{"cart", "currency", "shipping"} {
						f := fs[w][svc]
						assert.Greater(t, f[3], 1.0, "window %d: %s's stops_after keeps its share", w, svc)
						assert.Less(t, f[3], deficit, "window %d: %s's stops_after", w, svc)
					}
				}
				if tt.own {
					assert.Greater(t, deficit, 3.0, "window %d: %s's deficit stands", w, tt.caller)
				} else {
					assert.Less(t, deficit, 2.0, "window %d: %s's deficit is %s's", w, tt.caller, tt.stops)
				}
			}
		})
	}
}

// TestStopsPassedUp: the frontend's checkout page calls the checkout, which
// calls the cart last, then email; its cart page calls the cart, then
// recommendations. From window 10 on, half of each page's requests change.
// When the cart answers wrongly, the checkout passes the answer up (the
// cart was its last call anyway: its own pattern does not move) and both
// pages stop early: after the checkout and after the cart. The cart page's
// stops say the cart's answers are wrong, so the checkout's stops_after
// counts only for what they do not explain (without the rule: checkout
// and cart 3.7; with it the checkout's is 0). When the checkout itself
// throws after its last call, the cart page does not move and the
// checkout keeps its stops_after.
func TestStopsPassedUp(t *testing.T) {
	const fault = 10
	page := func(i int) req {
		if i%2 == 1 {
			return req{service: "frontend", op: "/cart", calls: []req{
				{service: "cart", op: "/cart/get", db: 1},
				{service: "recommendation", op: "/recommend"},
			}}
		}
		checkout := req{service: "checkout", op: "/checkout/place", calls: []req{
			{service: "currency", op: "/currency/convert"},
			{service: "shipping", op: "/shipping/quote"},
			{service: "cart", op: "/cart/get", db: 1},
		}}
		return req{service: "frontend", op: "/checkout", calls: []req{checkout, {service: "email", op: "/email/send"}}}
	}
	tests := []struct {
		name      string
		cartPage  bool // the cart page's requests stop after the cart too
		culprit   string
		bystander string
	}{
		{name: "the cart answers wrongly", cartPage: true, culprit: "cart", bystander: "checkout"},
		{name: "the checkout throws after its last call", culprit: "checkout", bystander: "cart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := callFeatures(t, 13, func(w, i int) req {
				r := page(i)
				if w >= fault && i%4 < 2 && (i%2 == 0 || tt.cartPage) {
					r.calls = r.calls[:1]
				}
				return r
			})
			quiet(t, fs, fault)
			for w := fault; w < len(fs); w++ {
				culprit, bystander := fs[w][tt.culprit][3], fs[w][tt.bystander][3]
				assert.Greater(t, culprit, 3.0, "window %d: %s's stops_after", w, tt.culprit)
				assert.Less(t, bystander, 0.5, "window %d: %s's stops_after", w, tt.bystander)
			}
		})
	}
}

// TestStopEvidence: what a callee's callers other than one say of it is
// its strongest stop from any other caller, whatever the order they come
// in.
func TestStopEvidence(t *testing.T) {
	tests := []struct {
		name   string
		stops  []stopFrom // to callee 7
		caller int32
		want   float64
	}{
		{name: "no stops", caller: 1, want: 0},
		{name: "only the caller's", stops: []stopFrom{{1, 4}}, caller: 1, want: 0},
		{name: "another's", stops: []stopFrom{{1, 4}, {2, 3}}, caller: 1, want: 3},
		{name: "the strongest other", stops: []stopFrom{{2, 1}, {1, 4}, {3, 2.5}}, caller: 1, want: 2.5},
		{name: "the top when the caller is second", stops: []stopFrom{{2, 5}, {1, 4}}, caller: 1, want: 5},
		{name: "a caller's stronger stop replaces its weaker", stops: []stopFrom{{2, 1}, {1, 4}, {2, 6}}, caller: 1, want: 6},
		{name: "a caller's weaker stop does not", stops: []stopFrom{{2, 3}, {1, 4}, {2, 1}}, caller: 1, want: 3},
		{name: "a caller overtaking the top", stops: []stopFrom{{1, 4}, {2, 3}, {2, 5}}, caller: 2, want: 4},
		{name: "no stop displaces one", stops: []stopFrom{{2, 3}, {3, 0}, {4, -1}}, caller: 2, want: 0},
		{name: "the caller overtaking the top is not its own evidence", stops: []stopFrom{{2, 3}, {1, 4}, {2, 5}}, caller: 1, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := stopEvidence{}
			for _, s := range tt.stops {
				ev.add(7, s.caller, s.z)
			}
			assert.InDelta(t, tt.want, ev.other(7, tt.caller), 1e-9)
		})
	}
}

// TestResponseSize: from window 10 on, half the requests change the size
// of an answer, with no log, no status and no call changed. A leaf whose
// answers are empty stands out (answer_size), and its caller, which passes
// them on, does not: its answers changed no more than the leaf's. An
// aggregator whose own answers shrink stands out. Sizes that follow the
// request's data (log-normal, over four to six buckets) stay quiet, and
// so does an error body the size of the usual answers.
func TestResponseSize(t *testing.T) {
	const fault = 10
	payment := func(r *req) *req { return &r.calls[0].calls[0].calls[0] }
	inventory := func(r *req) *req { return &r.calls[0].calls[0] }
	tests := []struct {
		name    string
		change  func(r *req)
		culprit string // "": nobody's calls_new reaches 2
		quiet   []string
	}{
		{
			name:    "a leaf's empty answers passed on",
			change:  func(r *req) { payment(r).size, inventory(r).size = 1+2, 1+40 },
			culprit: "payment", quiet: []string{"inventory", "order"},
		},
		{
			name:    "an aggregator's own answers shrink",
			change:  func(r *req) { inventory(r).size = 1 + 2 },
			culprit: "inventory", quiet: []string{"payment", "order"},
		},
		{
			name:   "an error body of a usual size",
			change: func(r *req) { payment(r).size = 1 + 250 },
		},
		{name: "no change", change: func(*req) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(9, 9))
			size := func(median, sigma float64) int64 { return 1 + int64(median*math.Exp(sigma*rng.NormFloat64())) }
			fs := callFeatures(t, 20, func(w, i int) req {
				payment := req{service: "payment", op: "/payment/charge", size: size(300, 0.7)}
				inventory := req{service: "inventory", op: "/inventory/reserve", calls: []req{payment}, size: size(900, 0.5)}
				r := req{service: "gateway", op: "/*", calls: []req{{service: "order", op: "/order/create", calls: []req{inventory}, size: size(1200, 0.3)}}}
				if w >= fault && i%2 == 0 {
					tt.change(&r)
				}
				return r
			})
			quiet(t, fs, fault)
			for w := fault; w < len(fs); w++ {
				if tt.culprit == "" {
					for svc, f := range fs[w] {
						assert.Less(t, f[4], 2.0, "window %d: %s's answer_size", w, svc)
					}
					continue
				}
				assert.Greater(t, fs[w][tt.culprit][4], 4.0, "window %d: %s's answer_size", w, tt.culprit)
				for _, svc := range tt.quiet {
					assert.Less(t, fs[w][svc][4], 2.0, "window %d: %s's answer_size", w, svc)
				}
			}
		})
	}
}
