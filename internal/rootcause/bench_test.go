package rootcause

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkAddTraces is the ingestion cost per span (bar: 500 ns amortised):
// 512-span batches of the shop's traffic, unmarshalled from OTLP wire
// bytes as a receiver hands them over.
func BenchmarkAddTraces(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	td := chainTraffic(rng, t0.Add(time.Second), time.Second, 512/7+1, shop())
	wire, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		b.Fatal(err)
	}
	td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(wire)
	if err != nil {
		b.Fatal(err)
	}
	e := newTestEngine(b, LatencyZ{})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		e.AddTraces(td)
		if n++; n%64 == 0 { // keep the window's slice from growing without bound
			for _, w := range e.in.open {
				w.spans = w.spans[:0]
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}

// BenchmarkAddTracesPeers is BenchmarkAddTraces on OTel-shaped traffic:
// SERVER and CLIENT spans, each CLIENT span naming its peer
// (server.address, after http.request.method), one service hidden so that
// a third of the calls name a peer that sends no spans.
func BenchmarkAddTracesPeers(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	chain := tieredShop()
	chain[2].hidden = true
	td := kindTraffic(rng, t0.Add(time.Second), time.Second, 512/5+1, chain)
	wire, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		b.Fatal(err)
	}
	td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(wire)
	if err != nil {
		b.Fatal(err)
	}
	e := newTestEngine(b, LatencyZ{})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		e.AddTraces(td)
		if n++; n%64 == 0 {
			for _, w := range e.in.open {
				w.spans = w.spans[:0]
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}

// bigWindow is one window of traffic over services services and about
// edges distinct caller -> callee pairs: each call is an exit span in the
// caller and an entry span in the callee. With front, a front service
// calls each service's entry span (one edge per service, taken from
// edges): every service's calls are then call patterns (countCalls skips
// a trace's first segment). With hideEvery > 0 every exit span names its
// callee in server.address and every hideEvery-th service sends no spans:
// the calls into it are calls into a blind spot.
func bigWindow(rng *rand.Rand, at time.Time, services, edges, slowService int, front bool, hideEvery int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := make([]ptrace.SpanSlice, services)
	for i := range services {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%04d", i))
		ss[i] = rs.ScopeSpans().AppendEmpty().Spans()
	}
	var fs ptrace.SpanSlice
	perCaller := edges / services
	if front {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "front")
		fs = rs.ScopeSpans().AppendEmpty().Spans()
		perCaller = (edges - services) / services
	}
	for caller := range services {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], rng.Uint64())
		end := at.Add(time.Duration(rng.IntN(20_000)) * time.Millisecond)
		root := ss[caller].AppendEmpty()
		root.SetTraceID(tid)
		root.SetSpanID(spanID(rng))
		root.SetName("/api/entry")
		root.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-200 * time.Millisecond)))
		root.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		if front {
			entry, exit := fs.AppendEmpty(), fs.AppendEmpty()
			for _, s := range []ptrace.Span{entry, exit} {
				s.SetTraceID(tid)
				s.SetSpanID(spanID(rng))
				s.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-201 * time.Millisecond)))
				s.SetEndTimestamp(pcommon.NewTimestampFromTime(end.Add(time.Millisecond)))
			}
			entry.SetName("/")
			entry.SetKind(ptrace.SpanKindServer)
			exit.SetName("HTTP GET")
			exit.SetKind(ptrace.SpanKindClient)
			exit.SetParentSpanID(entry.SpanID())
			root.SetParentSpanID(exit.SpanID())
		}
		for k := range perCaller {
			callee := (caller + 1 + k*7919%services) % services
			self := time.Duration(5+rng.IntN(5)) * time.Millisecond
			if callee == slowService {
				self *= 10
			}
			exit := ss[caller].AppendEmpty()
			exit.SetTraceID(tid)
			exit.SetSpanID(spanID(rng))
			exit.SetParentSpanID(root.SpanID())
			exit.SetName("HTTP GET")
			exit.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-150 * time.Millisecond)))
			exit.SetEndTimestamp(pcommon.NewTimestampFromTime(end.Add(-150*time.Millisecond + self + time.Millisecond)))
			if hideEvery > 0 {
				exit.SetKind(ptrace.SpanKindClient)
				exit.Attributes().PutStr("server.address", fmt.Sprintf("svc-%04d", callee))
				if callee%hideEvery == 0 {
					continue
				}
			}
			in := ss[callee].AppendEmpty()
			in.SetTraceID(tid)
			in.SetSpanID(spanID(rng))
			in.SetParentSpanID(exit.SpanID())
			in.SetName("/api/call")
			in.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-150*time.Millisecond + time.Millisecond/2)))
			in.SetEndTimestamp(pcommon.NewTimestampFromTime(end.Add(-150*time.Millisecond + self + time.Millisecond/2)))
		}
	}
	return td
}

// BenchmarkRankWindow is one window's close (graph, features against the
// baselines, ranking, report) on a 1,000-service, 5,000-edge graph (bar:
// 50 ms), after 10 windows of history, per method; gnn-calls is gnn on
// the graph behind a front service (1,001 services, 5,000 edges), where
// every service's calls are call patterns; gnn-blind is gnn where every
// call names its callee and every tenth service sends no spans (a hundred
// blind spots). The gnn is the shipped weights' shape (their members).
func BenchmarkRankWindow(b *testing.B) {
	model, err := EmbeddedModel()
	if err != nil {
		b.Fatal(err)
	}
	type run struct {
		name      string
		m         Method
		front     bool
		hideEvery int
	}
	for _, r := range []run{{"gnn", model, false, 0}, {"pagerank", PageRank{}, false, 0}, {"tracerca", TraceRCA{}, false, 0}, {"latency", LatencyZ{}, false, 0}, {"gnn-calls", model, true, 0}, {"gnn-blind", model, false, 10}} {
		m := r.m
		b.Run(r.name, func(b *testing.B) {
			cfg := testConfig(m)
			cfg.MaxServices, cfg.MaxEdges, cfg.MinAnomaly = 2000, 20000, 0.1
			e, err := NewEngine(cfg)
			if err != nil {
				b.Fatal(err)
			}
			e.SetClock(func() time.Time { return t0.Add(100 * 24 * time.Hour) })
			rng := rand.New(rand.NewPCG(2, 2))
			w := 0
			feed := func() {
				e.AddTraces(bigWindow(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 1000, 5000, 500, r.front, r.hideEvery))
				w++
				// move the watermark past the window without adding to the next
				e.in.watermark = max(e.in.watermark, t0.Add(time.Duration(w)*30*time.Second+6*time.Second).UnixNano())
			}
			for range 10 {
				feed()
				e.Advance(false)
			}
			var nodes, edges int
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				feed()
				b.StartTimer()
				rs := e.Advance(false)
				if len(rs) != 1 || rs[0].Report == nil {
					b.Fatalf("%d results", len(rs))
				}
				nodes, edges = len(rs[0].Graph.Nodes), len(rs[0].Graph.Edges)
			}
			b.ReportMetric(float64(nodes), "nodes")
			b.ReportMetric(float64(edges), "edges")
		})
	}
}
