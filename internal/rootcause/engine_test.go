package rootcause

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestFaultsRankTheFaultyServiceFirst: after 12 steady windows one service
// of the shop turns faulty; the first report names it first, for the
// network and every baseline that sees that kind of fault.
func TestFaultsRankTheFaultyServiceFirst(t *testing.T) {
	faults := []struct {
		name    string
		service string
		inject  func(chain []hop)
		pattern string
		methods []Method
	}{
		{"cpu: payment self time x5", "payment", func(c []hop) { c[3].selfMs *= 5 }, PatternLatency, []Method{LatencyZ{}, PageRank{}, TraceRCA{}}},
		{"delay: 80ms before inventory", "inventory", func(c []hop) { c[2].gapMs = 80 }, PatternNetwork, []Method{LatencyZ{}, PageRank{}, TraceRCA{}}},
		{"errors: half of order's requests fail", "order", func(c []hop) { c[1].errRate = 0.5 }, PatternError, []Method{PageRank{}, TraceRCA{}}},
	}
	gnn, err := EmbeddedModel()
	require.NoError(t, err)
	for _, f := range faults {
		for _, m := range append(f.methods, gnn) {
			t.Run(f.name+"/"+m.Name(), func(t *testing.T) {
				e := newTestEngine(t, m)
				rs := replay(e, 15, func(w int, c []hop) {
					if w >= 12 {
						f.inject(c)
					}
				})
				rep := firstReport(rs)
				require.NotNil(t, rep)
				assert.Equal(t, time.Unix(0, rs[12].Graph.End).UTC(), rep.End, "the first fault window reports")
				assert.Equal(t, f.service, rep.Candidates[0].Service, "%+v", rep.Candidates)
				assert.Equal(t, f.pattern, rep.Pattern)
				assert.Equal(t, m.Name(), rep.Method)
			})
		}
	}
}

// TestNetworkGapIsTheCallees: the time between the caller's exit span and
// the callee's entry span is the edge's (gap_in of the callee), not the
// caller's self time.
func TestNetworkGapIsTheCallees(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	rs := replay(e, 14, func(w int, c []hop) {
		if w >= 12 {
			c[2].gapMs = 80
		}
	})
	g := rs[12].Graph
	inv, ord := &g.Nodes[g.Index("inventory")], &g.Nodes[g.Index("order")]
	assert.Greater(t, inv.X[FeatGapIn], 10.0)
	assert.InDelta(t, 80, inv.Raw[FeatGapIn], 2)
	assert.Less(t, ord.X[FeatSelfTime], 3.0, "order's self time must not include the network")
	assert.Zero(t, ord.X[FeatGapOut], "one slow callee is not its caller's stall")
	require.Len(t, g.Edges, 3)
}

// TestSteadyTrafficNoReports: without a fault nothing reaches min_anomaly.
func TestSteadyTrafficNoReports(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	rs := replay(e, 20, func(int, []hop) {})
	assert.Nil(t, firstReport(rs))
	assert.Len(t, rs, 20)
	assert.EqualValues(t, 20, e.Stats().Windows)
}

// TestReplayIsDeterministic: the same input gives byte-identical reports,
// however it is batched (event time, not arrival).
func TestReplayIsDeterministic(t *testing.T) {
	run := func(split bool) []string {
		e := newTestEngine(t, PageRank{})
		rng := rand.New(rand.NewPCG(1, 1))
		var out []string
		for w := range 14 {
			c := shop()
			if w >= 12 {
				c[3].selfMs *= 4
			}
			td := chainTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 28*time.Second, 100, c)
			if split { // one resource per batch, in reverse
				for i := td.ResourceSpans().Len() - 1; i >= 0; i-- {
					one := ptrace.NewTraces()
					td.ResourceSpans().At(i).CopyTo(one.ResourceSpans().AppendEmpty())
					e.AddTraces(one)
				}
			} else {
				e.AddTraces(td)
			}
			for _, r := range e.Advance(false) {
				if r.Report != nil {
					out = append(out, r.Report.JSON())
				}
			}
		}
		return out
	}
	a, b := run(false), run(true)
	require.NotEmpty(t, a)
	assert.Equal(t, a, b)
}

// TestReportFormat: the body has exactly the specified keys (plus cascade
// and method), candidates have theirs.
func TestReportFormat(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	rep := firstReport(replay(e, 14, func(w int, c []hop) {
		if w >= 12 {
			c[3].selfMs *= 5
		}
	}))
	require.NotNil(t, rep)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(rep.JSON()), &body))
	for _, k := range []string{"window_start", "window_end", "pattern", "candidates", "exemplar_trace_ids", "method"} {
		assert.Contains(t, body, k)
	}
	assert.NotContains(t, body, "cascade")
	c := body["candidates"].([]any)[0].(map[string]any)
	for _, k := range []string{"rank", "service", "pod", "operation", "score", "confidence", "evidence"} {
		assert.Contains(t, c, k)
	}
	assert.Equal(t, "payment-5d8f9c7b6-x1y2z", c["pod"])
	assert.Equal(t, "/api/payment", c["operation"])
	assert.NotEmpty(t, c["evidence"])
	assert.NotEmpty(t, body["exemplar_trace_ids"])
	var sum float64
	for _, x := range body["candidates"].([]any) {
		sum += x.(map[string]any)["confidence"].(float64)
	}
	assert.LessOrEqual(t, sum, 1.0001)
}

// TestErrorLogsJoinSpans: ERROR logs carrying a span's ids mark its
// segment failed (the only error signal of SkyWalking-style data).
func TestErrorLogsJoinSpans(t *testing.T) {
	e := newTestEngine(t, TraceRCA{})
	rng := rand.New(rand.NewPCG(3, 3))
	var rep *Report
	for w := range 14 {
		at := t0.Add(time.Duration(w)*30*time.Second + time.Second)
		td := chainTraffic(rng, at, 28*time.Second, 100, shop())
		if w >= 12 {
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", "inventory")
			recs := rl.ScopeLogs().AppendEmpty().LogRecords()
			spans := td.ResourceSpans().At(2).ScopeSpans().At(0).Spans() // inventory
			for i := 0; i < spans.Len(); i += 4 {
				s := spans.At(i)
				r := recs.AppendEmpty()
				r.SetTimestamp(s.EndTimestamp())
				r.SetSeverityText("ERROR")
				r.SetTraceID(s.TraceID())
				r.SetSpanID(s.SpanID())
				r.Body().SetStr("java.lang.RuntimeException: stock service unavailable")
			}
			e.AddLogs(ld)
		}
		e.AddTraces(td)
		for _, r := range e.Advance(false) {
			if rep == nil && r.Report != nil {
				rep = r.Report
				g := r.Graph
				n := g.Nodes[g.Index("inventory")]
				assert.InDelta(t, 0.5, n.Raw[FeatErrorRate], 0.05)
			}
		}
	}
	require.NotNil(t, rep)
	assert.Equal(t, "inventory", rep.Candidates[0].Service)
	assert.Equal(t, PatternError, rep.Pattern)
}

// TestPodMetrics: CPU samples become a feature, carried forward between
// samples, and late samples still update it.
func TestPodMetrics(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	rng := rand.New(rand.NewPCG(5, 5))
	var last *Graph
	for w := range 14 {
		at := t0.Add(time.Duration(w)*30*time.Second + time.Second)
		cpu := 0.2 + 0.01*float64(w%3)
		if w >= 12 {
			cpu = 0.9
		}
		if w%2 == 0 { // one sample per minute
			e.AddMetrics(cpuSamples(at, cpu, "payment-5d8f9c7b6-x1y2z"))
		}
		e.AddTraces(chainTraffic(rng, at, 28*time.Second, 50, shop()))
		for _, r := range e.Advance(false) {
			last = r.Graph
		}
	}
	n := last.Nodes[last.Index("payment")]
	assert.InDelta(t, 0.9, n.Raw[FeatCPU], 1e-9)
	assert.Greater(t, n.X[FeatCPU], 3.0)
	assert.True(t, math.IsNaN(last.Nodes[last.Index("order")].Raw[FeatCPU]), "no samples: not observed")
}

// cpuSamples is one CPU sample per pod, at at.
func cpuSamples(at time.Time, v float64, pods ...string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, pod := range pods {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("k8s.pod.name", pod)
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("k8s.pod.cpu.usage")
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		dp.SetDoubleValue(v)
	}
	return md
}

// TestMetricSeriesBound: samples of series beyond max_metric_series are
// counted, never kept; the series kept still take their samples (the
// highest counts).
func TestMetricSeriesBound(t *testing.T) {
	e := newTestEngine(t, LatencyZ{}, func(cfg *Config) { cfg.MaxMetricSeries = 2 })
	e.AddMetrics(cpuSamples(t0, 0.5, "a-5d8f9c7b6-x1y2z", "b-5d8f9c7b6-x1y2z", "c-5d8f9c7b6-x1y2z"))
	assert.EqualValues(t, 1, e.Stats().DroppedMetrics)
	e.AddMetrics(cpuSamples(t0.Add(time.Second), 0.9, "a-5d8f9c7b6-x1y2z", "c-5d8f9c7b6-x1y2z"))
	assert.EqualValues(t, 2, e.Stats().DroppedMetrics)
	require.Equal(t, 1, e.OpenWindows())
	for _, w := range e.in.open {
		assert.Len(t, w.metrics, 2)
		b := w.build(e.cfg.MaxEdges)
		assert.Equal(t, map[int32]float64{e.in.services.ids["a"]: 0.9, e.in.services.ids["b"]: 0.5}, b.cpu)
	}
}

// TestCloseWhileIngesting: windows are closed on one goroutine while
// spans, logs with span ids (some waiting for the next window) and pod
// samples arrive on another; every window is closed once (run with -race).
func TestCloseWhileIngesting(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	batches := make(chan struct{}, 20)
	go func() {
		defer close(batches)
		rng := rand.New(rand.NewPCG(4, 4))
		for w := range 20 {
			at := t0.Add(time.Duration(w)*30*time.Second + time.Second)
			td := chainTraffic(rng, at, 29*time.Second, 50, shop())
			e.AddMetrics(cpuSamples(at, 0.2, "payment-5d8f9c7b6-x1y2z"))
			e.AddLogs(spanLogs(td, func(ptrace.Span) []string { return []string{"[reserve][checked]", "[reserve][done]"} }))
			e.AddTraces(td)
			batches <- struct{}{}
		}
	}()
	closed := 0
	for range batches {
		for _, s := range e.Due(false) {
			if _, ok := e.Close(s); ok {
				closed++
			}
		}
	}
	closed += len(e.Advance(true))
	assert.Equal(t, 20, closed)
	assert.EqualValues(t, 20, e.Stats().Windows)
}

// TestBounds: spans beyond max_spans_per_window, late spans, spans from the
// future and services beyond max_services are counted, never kept.
func TestBounds(t *testing.T) {
	cfg := testConfig(LatencyZ{})
	cfg.MaxSpansPerWindow, cfg.MaxServices = 50, 3
	e, err := NewEngine(cfg)
	require.NoError(t, err)
	e.SetClock(func() time.Time { return t0.Add(time.Hour) })
	rng := rand.New(rand.NewPCG(1, 2))
	e.AddTraces(chainTraffic(rng, t0.Add(10*time.Second), time.Second, 20, shop())) // 140 spans, 4 services
	assert.EqualValues(t, 90, e.Stats().DroppedSpans)
	e.AddTraces(chainTraffic(rng, t0.Add(2*time.Minute), time.Second, 1, shop()))
	e.AddTraces(chainTraffic(rng, t0.Add(10*time.Second), time.Second, 1, shop())) // its window has closed
	assert.EqualValues(t, 7, e.Stats().LateSpans)
	e.AddTraces(chainTraffic(rng, t0.Add(3*time.Hour), time.Second, 1, shop()))
	assert.EqualValues(t, 7, e.Stats().FutureSpans)
	rs := e.Advance(true)
	require.NotEmpty(t, rs)
	names := map[string]bool{}
	for _, r := range rs {
		for _, n := range r.Graph.Nodes {
			names[n.Service] = true
		}
	}
	assert.LessOrEqual(t, len(names), 4)
	assert.True(t, names["_other"], "the fourth service is _other")
}

// TestSweepForgetsStalePods: pods not seen for a baseline are released, so
// rolling deployments do not fill max_pods for good.
func TestSweepForgetsStalePods(t *testing.T) {
	e := newTestEngine(t, LatencyZ{}, func(cfg *Config) { cfg.MaxPods = 8 })
	rng := rand.New(rand.NewPCG(2, 2))
	for w := range 60 { // a new pod name every 10 windows
		td := chainTraffic(rng, t0.Add(time.Duration(w)*30*time.Second), 20*time.Second, 5, shop())
		for _, rs := range td.ResourceSpans().All() {
			rs.Resource().Attributes().PutStr("k8s.pod.name", rs.Resource().Attributes().AsRaw()["service.name"].(string)+"-rs"+string(rune('a'+w/10))+"-pod")
		}
		e.AddTraces(td)
		e.Advance(false)
	}
	assert.LessOrEqual(t, e.in.pods.len(), 8)
	assert.Equal(t, "inventory-rsf-pod", e.in.pods.name(e.in.pods.ids["inventory-rsf-pod"]))
}

func TestNewEngineRejectsBadConfig(t *testing.T) {
	cfg := testConfig(nil)
	_, err := NewEngine(cfg)
	require.Error(t, err)
	cfg = testConfig(LatencyZ{})
	cfg.Window = 0
	_, err = NewEngine(cfg)
	require.Error(t, err)
}

func TestServiceOfPod(t *testing.T) {
	for in, want := range map[string]string{
		"ts-order-service-7d9f8b-x2x9z": "ts-order-service",
		"payment":                       "payment",
		"a-b":                           "a-b",
	} {
		assert.Equal(t, want, ServiceOfPod(in), in)
	}
}

// TestDuplicateSpansCountOnce: at-least-once delivery (Kafka redelivery,
// exporter retries) must not double self times or calls.
func TestDuplicateSpansCountOnce(t *testing.T) {
	graphs := func(dup bool) *Graph {
		e := newTestEngine(t, LatencyZ{})
		rng := rand.New(rand.NewPCG(8, 8))
		td := chainTraffic(rng, t0.Add(time.Second), 20*time.Second, 50, shop())
		e.AddTraces(td)
		if dup {
			e.AddTraces(td)
		}
		return e.Advance(true)[0].Graph
	}
	once, twice := graphs(false), graphs(true)
	require.Len(t, twice.Nodes, len(once.Nodes))
	for i := range once.Nodes {
		assert.Equal(t, once.Nodes[i].Raw[FeatSelfTime], twice.Nodes[i].Raw[FeatSelfTime], once.Nodes[i].Service)
		assert.Equal(t, once.Nodes[i].Raw[FeatCalls], twice.Nodes[i].Raw[FeatCalls], once.Nodes[i].Service)
	}
}

// TestSilentServiceCarried: a service that stood out and sends nothing in
// the next window is kept in that window's ranking, once, with its last
// features at carryDecay and a reason saying so, without feeding its
// baselines or making a report on its own; a silent service that did not
// stand out is not carried.
func TestSilentServiceCarried(t *testing.T) {
	gnn, err := EmbeddedModel()
	require.NoError(t, err)
	for _, m := range []Method{LatencyZ{}, gnn} {
		t.Run(m.Name(), func(t *testing.T) {
			e := newTestEngine(t, m)
			rs := replayChains(e, 15, func(w int) []hop {
				chain := shop()
				switch {
				case w == 12:
					chain[3].selfMs *= 5
				case w > 12:
					// the users turn to the catalog: order, inventory and
					// payment go silent, no caller of theirs stops calling
					// them (which would be a call pattern of its own)
					chain = []hop{chain[0], {service: "catalog", selfMs: 6, gapMs: 1}}
				}
				return chain
			})
			require.Len(t, rs, 15)

			before, silent := rs[12].Graph, rs[13].Graph
			require.NotNil(t, rs[12].Report)
			p := silent.Index("payment")
			require.GreaterOrEqual(t, p, 0, "payment carried")
			assert.Equal(t, -1, silent.Index("inventory"), "inventory did not stand out")
			n, was := &silent.Nodes[p], &before.Nodes[before.Index("payment")]
			assert.True(t, n.Carried)
			assert.InDelta(t, was.X[FeatSelfTime]*carryDecay, n.X[FeatSelfTime], 1e-9)
			assert.Equal(t, was.Raw[FeatSelfTime], n.Raw[FeatSelfTime])
			assert.Contains(t, e.evidence(silent, p)[0], "no spans or logs this window")
			assert.Nil(t, rs[13].Report, "a carried node alone makes no report")
			st := e.nodes[n.id]
			assert.Equal(t, before.Start, st.lastStart, "the carried window is not folded into payment's baselines")
			assert.Nil(t, st.last)
			assert.Equal(t, -1, rs[14].Graph.Index("payment"), "carried once")
		})
	}
}

// TestErrorZCountsRequests: the error-rate z weighs the window's requests:
// one failed request of one is weak evidence, most of thirty is strong,
// and a service that always fails half its requests is not anomalous at
// half.
func TestErrorZCountsRequests(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	for _, tc := range []struct {
		name       string
		baseline   []float64 // window error rates
		errs, segs int
		lo, hi     float64
	}{
		{"one of one", []float64{0, 0, 0, 0, 0, 0}, 1, 1, 0.5, 1.5},
		{"twenty of thirty", []float64{0, 0, 0, 0, 0, 0}, 20, 30, 15, 25},
		{"usual half", []float64{0.5, 0.45, 0.55, 0.5, 0.5, 0.48}, 15, 30, -1, 1},
		{"no history", nil, 5, 5, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := e.node(int32(len(e.nodes)))
			for _, v := range tc.baseline {
				st.rings[FeatErrorRate].add(v)
			}
			z := e.errorZ(st, tc.errs, tc.segs)
			assert.GreaterOrEqual(t, z, tc.lo)
			assert.LessOrEqual(t, z, tc.hi)
		})
	}
}

// TestNetworkDelayHeld: a network delay's gap stays out of its edge's
// baseline, so it stands out for as long as it lasts, up to a baseline of
// windows (a fault recorded late had its first windows in the baseline
// otherwise); a delay that lasts longer becomes the new normal.
func TestNetworkDelayHeld(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	const before = 12
	results := replay(e, before+30, func(w int, chain []hop) {
		if w >= before {
			chain[2].gapMs = 200 // order -> inventory
		}
	})
	var gap []float64
	for _, r := range results {
		if r.Graph.Start >= t0.Add(before*30*time.Second).UnixNano() {
			gap = append(gap, r.Graph.Nodes[r.Graph.Index("inventory")].X[FeatGapIn])
		}
	}
	require.Greater(t, len(gap), 2*e.baselineWindows)
	for i, z := range gap[:e.baselineWindows] {
		assert.GreaterOrEqual(t, z, float64(gapHoldZ), "delay window %d", i)
	}
	assert.Less(t, gap[len(gap)-1], 3.0, "after %d windows the delay is the new normal", len(gap))
}

// TestAttributeGaps: a slow call's gap goes to its common end - the callee
// unless the caller has other slow calls and the callee none.
func TestAttributeGaps(t *testing.T) {
	type edge struct {
		from, to int
		z        float64
	}
	tests := []struct {
		name    string
		edges   []edge
		gapIn   []float64 // per node: gateway, a, b, c
		gapOut  []float64
		comment string
	}{
		{"delay into one callee, two callers", []edge{{0, 2, 80}, {1, 2, 60}, {1, 3, 1}},
			[]float64{0, 0, 80, 1}, []float64{0, 0, 0, 0}, "b is the common end"},
		{"stalled caller, three callees", []edge{{0, 1, 40}, {1, 2, 175}, {1, 3, 77}},
			[]float64{0, 40, 0, 0}, []float64{0, 175, 0, 0}, "a (CPU) slows its calls out and the call into it"},
		{"delayed interface: slow in and one slow out", []edge{{0, 1, 125}, {1, 2, 220}},
			[]float64{0, 125, 0, 0}, []float64{0, 220, 0, 0}, "a is the common end, not its callee b"},
		{"one slow call: the callee's", []edge{{0, 1, 90}, {1, 2, 2}},
			[]float64{0, 90, 2, 0}, []float64{0, 0, 0, 0}, "no common end: the callee by default"},
		{"both ends have other slow calls: the callee's", []edge{{0, 1, 30}, {1, 2, 30}, {3, 2, 30}},
			[]float64{0, 30, 30, 0}, []float64{0, 0, 0, 0}, "b has another slow call in"},
		{"a call below slowEdgeZ is no slow call", []edge{{0, 1, 9.9}, {1, 2, 50}},
			[]float64{0, 9.9, 50, 0}, []float64{0, 0, 0, 0}, "a has one slow call only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Graph{Nodes: make([]Node, 4)}
			raw := make([][NumEdgeFeatures]float64, len(tt.edges))
			for i := range g.Nodes {
				g.Nodes[i].Raw[FeatGapIn], g.Nodes[i].Raw[FeatGapOut] = math.NaN(), math.NaN()
			}
			for i, e := range tt.edges {
				ed := Edge{From: e.from, To: e.to, Calls: 10}
				ed.X[EdgeGap] = e.z
				raw[i][EdgeGap] = e.z * 2 // ms
				g.Edges = append(g.Edges, ed)
			}
			attributeGaps(g, raw)
			for i, n := range g.Nodes {
				assert.Equal(t, tt.gapIn[i], n.X[FeatGapIn], "node %d gap in: %s", i, tt.comment)
				assert.Equal(t, tt.gapOut[i], n.X[FeatGapOut], "node %d gap out: %s", i, tt.comment)
				for f, z := range map[int]float64{FeatGapIn: tt.gapIn[i], FeatGapOut: tt.gapOut[i]} {
					if z > 0 { // the raw gap of the same call
						assert.Equal(t, 2*z, n.Raw[f], "node %d raw %s", i, FeatureNames[f])
					} else {
						assert.True(t, math.IsNaN(n.Raw[f]), "node %d raw %s: %v", i, FeatureNames[f], n.Raw[f])
					}
				}
			}
		})
	}
}

// TestFutureLogsAndSamples: log records and pod samples stamped beyond
// MaxFuture are counted and open no window (such a window would never close:
// only spans move the watermark); within it they count as usual.
func TestFutureLogsAndSamples(t *testing.T) {
	cfg := testConfig(LatencyZ{})
	cfg.MaxFuture = 10 * time.Minute
	e, err := NewEngine(cfg)
	require.NoError(t, err)
	e.SetClock(func() time.Time { return t0 })

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "inventory")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, at := range []time.Duration{time.Minute, 11 * time.Minute, 24 * time.Hour, 1000 * time.Hour} {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(at)))
		r.SetSeverityNumber(plog.SeverityNumberError)
		r.Body().SetStr(fmt.Sprintf("stock lookup failed %d", i))
	}
	e.AddLogs(ld)

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "inventory")
	rm.Resource().Attributes().PutStr("k8s.pod.name", "inventory-1")
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("k8s.pod.cpu.usage")
	points := g.SetEmptyGauge().DataPoints()
	for _, at := range []time.Duration{time.Minute, 48 * time.Hour} {
		dp := points.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(at)))
		dp.SetDoubleValue(0.5)
	}
	e.AddMetrics(md)

	assert.EqualValues(t, 3, e.Stats().FutureLogs)
	assert.EqualValues(t, 1, e.Stats().FutureSamples)
	assert.Equal(t, 1, e.OpenWindows(), "only the window a minute ahead is open")
}

// TestTraceRCAScoresWhenAsked: a close fills TraceRCA's scores only for
// an engine ranking by it, or one asked for every method's (rcatrain).
func TestTraceRCAScoresWhenAsked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		m    Method
		all  bool
		want bool
	}{
		{"latency", LatencyZ{}, false, false},
		{"latency, all methods", LatencyZ{}, true, true},
		{"tracerca", TraceRCA{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEngine(t, tc.m, func(c *Config) { c.AllMethods = tc.all })
			rng := rand.New(rand.NewPCG(3, 3))
			scored := false
			for w := range 14 {
				hops := shop()
				if w >= 12 {
					hops[1].errRate = 0.5
				}
				e.AddTraces(chainTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 28*time.Second, 100, hops))
				for _, r := range e.Advance(false) {
					for _, n := range r.Graph.Nodes {
						scored = scored || n.traceRCA > 0
					}
				}
			}
			assert.Equal(t, tc.want, scored)
		})
	}
}
