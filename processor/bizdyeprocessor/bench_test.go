package bizdyeprocessor

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const benchBatch = 512

// benchTraces builds a 512-span batch: traces of 32 spans over 4 services,
// each span with the attributes a Go HTTP/gRPC/DB span carries. withKeys
// puts order_id on each trace's first span.
func benchTraces(seed int, withKeys, withRoots bool) ptrace.Traces {
	td := ptrace.NewTraces()
	services := []string{"gateway", "order", "inventory", "payment"}
	perTrace := 32
	for svc, name := range services {
		rs := td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.PutStr("service.name", name)
		ra.PutStr("service.version", "1.4.2")
		ra.PutStr("k8s.pod.name", name+"-7d9f8b6c5-x2x9z")
		ra.PutStr("k8s.namespace.name", "shop")
		ra.PutStr("host.name", "node-3")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		for i := range benchBatch / len(services) {
			tr := (seed*benchBatch + svc*benchBatch/len(services) + i) / perTrace
			s := ss.Spans().AppendEmpty()
			var id pcommon.TraceID
			binary.BigEndian.PutUint64(id[8:], uint64(tr)+1)
			s.SetTraceID(id)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], uint64(seed*benchBatch+svc*1000+i)+1)
			s.SetSpanID(sid)
			first := (svc*benchBatch/len(services)+i)%perTrace == 0
			if !withRoots || !first {
				s.SetParentSpanID(pcommon.SpanID{1, 2, 3})
			}
			s.SetName("GET /api/items")
			s.SetKind(ptrace.SpanKindServer)
			a := s.Attributes()
			a.PutStr("http.request.method", "GET")
			a.PutStr("url.path", "/api/items/42")
			a.PutStr("http.route", "/api/items/{id}")
			a.PutInt("http.response.status_code", 200)
			a.PutStr("server.address", "order.shop.svc")
			a.PutInt("server.port", 8080)
			a.PutStr("network.protocol.version", "1.1")
			a.PutStr("user_agent.original", "Go-http-client/1.1")
			a.PutStr("client.address", "10.0.3.7")
			a.PutStr("db.system", "postgresql")
			if withKeys && first {
				a.PutStr("order_id", fmt.Sprintf("ORD-%07d", tr))
			}
		}
	}
	return td
}

func newBenchProcessor(b *testing.B, cfg *Config) *harness {
	h := newHarness(b, cfg, component.TelemetrySettings{})
	h.p.nextTraces = consumertest.NewNop()
	h.p.nextLogs = consumertest.NewNop()
	return h
}

// wireCopy returns td as the OTLP receiver hands it over: decoded from
// protobuf (attribute slices grown by append, so usually with spare capacity).
func wireCopy(td ptrace.Traces) ptrace.Traces {
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		panic(err)
	}
	out, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		panic(err)
	}
	return out
}

// copies returns n wire copies of td. Called with the timer stopped, it
// also collects the garbage of making them, so that the timed region pays
// only for the processor's own allocations.
func copies(td ptrace.Traces, n int) []ptrace.Traces {
	out := make([]ptrace.Traces, n)
	for i := range out {
		out[i] = wireCopy(td)
	}
	runtime.GC()
	return out
}

func reportPerSpan(b *testing.B, spans int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkFastPath: every span belongs to a trace the registry already
// knows (dyed): extract, look up, stamp. Bar: <= 300 ns and <= 1 alloc per span.
func BenchmarkFastPath(b *testing.B) {
	h := newBenchProcessor(b, testConfig())
	ctx := context.Background()
	require.NoError(b, h.p.ConsumeTraces(ctx, benchTraces(0, true, false))) // dye the traces
	src := benchTraces(0, false, false)
	const pool = 64
	batches := copies(src, pool)
	b.ReportAllocs()
	spans, i := 0, 0
	for b.Loop() {
		if i == pool {
			b.StopTimer()
			batches, i = copies(src, pool), 0
			b.StartTimer()
		}
		_ = h.p.ConsumeTraces(ctx, batches[i])
		i++
		spans += benchBatch
	}
	reportPerSpan(b, spans)
}

// runBatches consumes wire copies of srcs (64 at a time, refilled with the
// timer stopped) and reports per-span figures; between refills it calls
// between (if set) with the timer stopped, after every batch during (if set).
func runBatches(b *testing.B, h *harness, srcs []ptrace.Traces, during, between func()) {
	ctx := context.Background()
	batches := make([]ptrace.Traces, len(srcs))
	refill := func() {
		for j, s := range srcs {
			batches[j] = wireCopy(s)
		}
		runtime.GC()
	}
	refill()
	b.ReportAllocs()
	spans, i := 0, 0
	for b.Loop() {
		if i == len(batches) {
			b.StopTimer()
			refill()
			i = 0
			if between != nil {
				between()
			}
			b.StartTimer()
		}
		_ = h.p.ConsumeTraces(ctx, batches[i])
		i++
		spans += benchBatch
		if during != nil {
			during()
		}
	}
	reportPerSpan(b, spans)
}

func benchSources(withKeys, withRoots bool) []ptrace.Traces {
	srcs := make([]ptrace.Traces, 64)
	for i := range srcs {
		srcs[i] = benchTraces(i, withKeys, withRoots)
	}
	return srcs
}

// BenchmarkHoldPath: no span has a key; every span is held, then released
// by the release loop after wait (every 8 batches).
func BenchmarkHoldPath(b *testing.B) {
	cfg := testConfig()
	h := newBenchProcessor(b, cfg)
	n := 0
	runBatches(b, h, benchSources(false, false), func() {
		if n++; n%8 == 0 {
			h.clock.Advance(cfg.Wait)
			h.p.releaseExpired(context.Background(), false)
		}
	}, nil)
}

// BenchmarkSamplingPath: the gateway's trace path: with `sampling`, every
// span is held for decision_wait (released every 8 batches), then 10% of
// the traces are kept and the rest dropped.
func BenchmarkSamplingPath(b *testing.B) { benchSampling(b, 8) }

// BenchmarkSamplingPathLargeHold: as BenchmarkSamplingPath, with decisions
// every 256 batches: about 130,000 spans held, the heap a gateway holds at
// 13,000 spans/s for a 10 s decision_wait, which the garbage collector must
// live with.
func BenchmarkSamplingPathLargeHold(b *testing.B) { benchSampling(b, 256) }

// benchSampling holds every span with `sampling` (10%) and decides every
// `every` batches.
func benchSampling(b *testing.B, every int) {
	cfg := samplingConfig(10)
	cfg.MaxBufferedSpans = 1 << 20
	h := newBenchProcessor(b, cfg)
	n := 0
	runBatches(b, h, benchSources(true, true), func() {
		if n++; n%every == 0 {
			h.clock.Advance(cfg.Sampling.Get().DecisionWait)
			h.p.releaseExpired(context.Background(), false)
		}
	}, nil)
}

// BenchmarkThroughput: the whole processor on a realistic stream: new
// traces whose first span carries order_id and whose roots arrive in the
// same batch, so most spans are dyed within their batch and some are held.
// Bar: >= 1M spans/s on one core for batches of 512 spans.
func BenchmarkThroughput(b *testing.B) {
	h := newBenchProcessor(b, testConfig())
	runBatches(b, h, benchSources(true, true), nil, func() {
		h.clock.Advance(time.Second)
		h.p.releaseExpired(context.Background(), false)
	})
}

// BenchmarkParallel: ConsumeTraces from several goroutines (the receivers'
// concurrency) on the fast path.
func BenchmarkParallel(b *testing.B) {
	h := newBenchProcessor(b, testConfig())
	ctx := context.Background()
	require.NoError(b, h.p.ConsumeTraces(ctx, benchTraces(0, true, false)))
	src := benchTraces(0, false, false)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = h.p.ConsumeTraces(ctx, wireCopy(src)) // the copy is part of this one's cost
		}
	})
}

// registryDye is what one remembered trace holds in the memory benchmarks:
// one order_id of 11 bytes.
func registryEntry(i int) traceEntry {
	d, _, _ := dyeAdd("", keyValue{key: 0, value: fmt.Sprintf("ORD-%07d", i)}, 8)
	return newTraceEntry(0, d)
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRegistryMemory measures the registry's bytes per remembered trace
// with 1M traces (each with an 11-byte order_id), against golang-lru/v2
// holding the same. Bar: <= 120 B per trace.
func BenchmarkRegistryMemory(b *testing.B) {
	const n = 1_000_000
	ids := make([]pcommon.TraceID, n)
	entries := make([]traceEntry, n)
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], uint64(i)*0x9E3779B97F4A7C15)
		binary.BigEndian.PutUint64(ids[i][8:], uint64(i))
		entries[i] = registryEntry(i)
	}
	// The entries (15 bytes: flags, 3-byte record header, 11-byte value: a
	// 16-byte allocation) are made beforehand and added back per trace.
	const dyeAlloc = 16
	b.Run("lrutable", func(b *testing.B) {
		for b.Loop() {
			before := heapAfterGC()
			r := newLRUTable[pcommon.TraceID, traceEntry](n)
			for i, id := range ids {
				slot, _, _, _ := r.insert(id, 1)
				*r.at(slot) = entries[i]
			}
			after := heapAfterGC()
			b.ReportMetric(float64(after-before)/n+dyeAlloc, "B/trace")
			runtime.KeepAlive(r)
		}
	})
	b.Run("golang-lru", func(b *testing.B) {
		for b.Loop() {
			before := heapAfterGC()
			c, _ := lru.New[pcommon.TraceID, traceEntry](n)
			for i, id := range ids {
				c.Add(id, entries[i])
			}
			after := heapAfterGC()
			b.ReportMetric(float64(after-before)/n+dyeAlloc, "B/trace")
			runtime.KeepAlive(c)
		}
	})
}
