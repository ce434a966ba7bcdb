package main

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fixedNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func testEmitter(seed uint64, flat bool, logs int) *emitter {
	topo := newFlatTopology()
	if !flat {
		topo = newTopology(rand.New(rand.NewPCG(seed, 0)), 20)
	}
	gen := newGenerator(seed, 0, topo, genOptions{flat: flat, logs: logs, splitShare: 0.05, errorRate: 0.01, keyedShare: 0.8})
	return newEmitter(gen, 2*time.Millisecond)
}

// emitted is one span as it went out: its request, and its position in its
// service's span list (services are grouped per request, as an agent does).
type emitted struct {
	batch, pos int
	service    int
	span       ptrace.Span
}

// before reports whether e went out before o: an earlier request, or earlier
// in the same service's list of the same request.
func (e emitted) before(o emitted) bool {
	if e.batch != o.batch {
		return e.batch < o.batch
	}
	return e.service != o.service || e.pos < o.pos
}

func collect(em *emitter, batches int) (map[pcommon.SpanID]emitted, []plog.Logs) {
	out := map[pcommon.SpanID]emitted{}
	var logs []plog.Logs
	for n := range batches {
		b := em.next(256, fixedNow)
		for i := 0; i < b.traces.ResourceSpans().Len(); i++ {
			spans := b.traces.ResourceSpans().At(i).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				out[spans.At(k).SpanID()] = emitted{batch: n, pos: k, service: i, span: spans.At(k)}
			}
		}
		logs = append(logs, b.logs)
	}
	return out, logs
}

func TestTopologySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 5, 20, 30, 99} {
		topo := newTopology(rand.New(rand.NewPCG(1, 0)), n)
		assert.Equal(t, max(minServices, min(maxServices, n)), len(topo.services))
		for i, s := range topo.services {
			for _, c := range s.calls {
				assert.Greater(t, c, i, "calls form a DAG")
			}
			for _, c := range s.topics {
				assert.NotEmpty(t, topo.services[c].topic, "publishes to a consumer")
			}
		}
		assert.NotEmpty(t, topo.services[0].topics, "the frontend can always publish")
	}
}

func TestTreeShape(t *testing.T) {
	t.Parallel()
	topo := newTopology(rand.New(rand.NewPCG(7, 0)), 30)
	gen := newGenerator(7, 0, topo, genOptions{splitShare: 0.05, errorRate: 0.01, keyedShare: 0.8})
	services, splits := map[int]bool{}, 0
	for range 2000 {
		f := gen.next()
		require.GreaterOrEqual(t, len(f.nodes), minSpans)
		require.LessOrEqual(t, len(f.nodes), maxSpans)
		roots := [2]int{}
		for i, n := range f.nodes {
			services[n.svc] = true
			require.LessOrEqual(t, n.start, n.end, "span %d", i)
			if n.parent < 0 {
				roots[n.trace]++
				continue
			}
			p := f.nodes[n.parent]
			require.Equal(t, p.trace, n.trace, "a parent is in its child's trace")
			if n.kind != ptrace.SpanKindConsumer {
				require.LessOrEqual(t, n.end, p.end, "a synchronous child ends before its parent")
			}
		}
		require.Equal(t, 1, roots[0])
		if f.split {
			splits++
			require.Equal(t, 1, roots[1], "a split flow has a second trace")
		}
	}
	assert.GreaterOrEqual(t, len(services), 20, "flows spread over the services")
	assert.InDelta(t, 100, splits, 45, "about 5%% of flows are split")
}

func TestChildrenExportedBeforeParents(t *testing.T) {
	t.Parallel()
	spans, _ := collect(testEmitter(3, false, 0), 200)
	checked := 0
	for _, e := range spans {
		parent, ok := spans[e.span.ParentSpanID()]
		if !ok || e.span.Kind() == ptrace.SpanKindConsumer {
			continue // parent not emitted yet, or an async consumer that outlives its producer
		}
		require.True(t, e.before(parent), "%s before its parent %s", e.span.Name(), parent.span.Name())
		require.LessOrEqual(t, e.span.EndTimestamp(), parent.span.EndTimestamp())
		checked++
	}
	assert.Greater(t, checked, 10_000)
}

func TestKeysOnlyOnInnerSpans(t *testing.T) {
	t.Parallel()
	spans, _ := collect(testEmitter(5, false, 0), 200)
	keyed, consumerRoots := 0, 0
	producerOrders := map[string]pcommon.TraceID{}
	for _, e := range spans {
		if e.span.Kind() == ptrace.SpanKindProducer {
			if v, ok := e.span.Attributes().Get("order_id"); ok {
				producerOrders[v.Str()] = e.span.TraceID()
			}
		}
	}
	for _, e := range spans {
		attrs := e.span.Attributes()
		has := func(k string) bool { _, ok := attrs.Get(k); return ok }
		if !has("order_id") && !has("user.id") && !has("sku") && !has("tenant") {
			continue
		}
		keyed++
		if !e.span.ParentSpanID().IsEmpty() {
			continue
		}
		// only a split-off consumer root may carry a key, its order_id
		require.Equal(t, ptrace.SpanKindConsumer, e.span.Kind(), e.span.Name())
		require.False(t, has("user.id") || has("sku") || has("tenant"))
		v, _ := attrs.Get("order_id")
		producerTrace, ok := producerOrders[v.Str()]
		if ok {
			require.NotEqual(t, producerTrace, e.span.TraceID(), "the consumer lost the context")
		}
		consumerRoots++
	}
	assert.Greater(t, keyed, 1000)
	assert.Greater(t, consumerRoots, 10)
}

func TestDeterministicWithSeed(t *testing.T) {
	t.Parallel()
	var m ptrace.ProtoMarshaler
	run := func(seed uint64) []byte {
		em := testEmitter(seed, false, 2)
		var buf bytes.Buffer
		for range 20 {
			b, err := m.MarshalTraces(em.next(256, fixedNow).traces)
			require.NoError(t, err)
			buf.Write(b)
		}
		return buf.Bytes()
	}
	assert.Equal(t, run(11), run(11))
	assert.NotEqual(t, run(11), run(12))
}

func TestLogsCarryIDsInBodies(t *testing.T) {
	t.Parallel()
	spans, logs := collect(testEmitter(9, false, 3), 50)
	kv, js := 0, 0
	for _, ld := range logs {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			recs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				r := recs.At(k)
				require.True(t, r.TraceID().IsEmpty(), "ids only in the body")
				body := r.Body().Str()
				switch {
				case strings.Contains(body, " trace_id="):
					kv++
				case strings.Contains(body, `"trace_id":"`):
					js++
				default:
					t.Fatalf("no trace id in %q", body)
				}
				sid := body[strings.Index(body, "span_id")+len(`span_id":"`):]
				if strings.Contains(body, "span_id=") {
					sid = body[strings.Index(body, "span_id=")+len("span_id="):]
				}
				var id pcommon.SpanID
				_, err := hex.Decode(id[:], []byte(sid[:16]))
				require.NoError(t, err)
				_, ok := spans[id]
				require.True(t, ok, "the log names a span that was sent")
			}
		}
	}
	assert.Greater(t, kv, 100)
	assert.Greater(t, js, 100)
}

func TestFlatTraces(t *testing.T) {
	t.Parallel()
	em := testEmitter(1, true, 0)
	b := em.next(1000, fixedNow)
	require.Equal(t, 1000, b.spans)
	spans := b.traces.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		s := spans.At(i)
		if s.ParentSpanID().IsEmpty() {
			assert.Equal(t, "lets-go", s.Name())
			assert.Equal(t, ptrace.SpanKindServer, s.Kind())
			continue
		}
		assert.True(t, strings.HasPrefix(s.Name(), "okey-dokey-"))
	}
	assert.Equal(t, 100, b.flows)
}
