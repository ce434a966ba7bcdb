package gnnrootcause

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// shopTraffic builds n checkout traces ending around at: gateway -> order ->
// payment, each service's self time log-normal around selfMs[svc].
func shopTraffic(rng *rand.Rand, at time.Time, n int, selfMs map[string]float64, paymentErr bool) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := map[string]ptrace.SpanSlice{}
	for _, svc := range []string{"gateway", "order", "payment"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		ss[svc] = rs.ScopeSpans().AppendEmpty().Spans()
	}
	self := func(svc string) time.Duration {
		return time.Duration(selfMs[svc] * (0.8 + 0.4*rng.Float64()) * float64(time.Millisecond))
	}
	for i := range n {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], uint64(i))
		pay, ord, gw := self("payment"), self("order"), self("gateway")
		end := at.Add(time.Duration(i) * time.Millisecond)
		add := func(svc string, span, parent byte, start, stop time.Time, kind ptrace.SpanKind, isErr bool) {
			s := ss[svc].AppendEmpty()
			s.SetTraceID(tid)
			s.SetSpanID(pcommon.SpanID{span, byte(i), byte(i >> 8)})
			if parent != 0 {
				s.SetParentSpanID(pcommon.SpanID{parent, byte(i), byte(i >> 8)})
			}
			s.SetName(svc + " handler")
			s.SetKind(kind)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(stop))
			if isErr {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
		}
		gwStart := end.Add(-(gw + ord + pay))
		add("gateway", 1, 0, gwStart, end, ptrace.SpanKindServer, false)
		add("order", 2, 1, gwStart.Add(gw/2), end.Add(-gw/2), ptrace.SpanKindServer, false)
		add("payment", 3, 2, gwStart.Add(gw/2+ord/2), end.Add(-gw/2-ord/2), ptrace.SpanKindServer, paymentErr)
	}
	return td
}

// TestLatencyFaultRanksPaymentFirst: 20 steady windows, then payment's self
// time quadruples; the first report names payment first.
func TestLatencyFaultRanksPaymentFirst(t *testing.T) {
	cfg := defaultConfig()
	require.NoError(t, cfg.Validate())
	e := newEngine(cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	normal := map[string]float64{"gateway": 5, "order": 20, "payment": 30}
	faulty := map[string]float64{"gateway": 5, "order": 20, "payment": 120}
	var reports []*report
	for w := range 24 {
		self := normal
		if w >= 20 {
			self = faulty
		}
		e.addTraces(shopTraffic(rng, t0.Add(time.Duration(w)*cfg.Window+time.Second), 200, self, false))
		for _, r := range e.advance(false) {
			if r != nil {
				reports = append(reports, r)
			}
		}
	}
	require.NotEmpty(t, reports, "the fault windows produce a report")
	first := reports[0]
	assert.Equal(t, "payment", first.Candidates[0].Service)
	assert.Equal(t, t0.Add(20*cfg.Window).Format(time.RFC3339), first.WindowStart, "no report before the fault")
	assert.Greater(t, first.Candidates[0].Confidence, 0.5)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(first.json()), &body))
	for _, k := range []string{"window_start", "window_end", "pattern", "candidates", "exemplar_trace_ids"} {
		assert.Contains(t, body, k)
	}
}

// TestErrorLogsAreEvidence: ERROR logs count towards their service's window.
func TestErrorLogsAreEvidence(t *testing.T) {
	cfg := defaultConfig()
	e := newEngine(cfg)
	e.addTraces(shopTraffic(rand.New(rand.NewPCG(3, 4)), t0.Add(time.Second), 10, map[string]float64{"gateway": 5, "order": 20, "payment": 30}, false))
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "payment")
	r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.SetSeverityNumber(plog.SeverityNumberError)
	r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(2 * time.Second)))
	e.addLogs(ld)
	w := e.open[t0.UnixNano()-t0.UnixNano()%int64(cfg.Window)]
	require.NotNil(t, w)
	assert.Equal(t, 1, w.errLogs[e.services.id("payment")])
}

// TestBounds: services beyond max_services collapse into "_other"; spans
// beyond max_spans_per_window and late spans are counted, not kept.
func TestBounds(t *testing.T) {
	cfg := defaultConfig()
	cfg.MaxServices, cfg.MaxSpansPerWindow = 2, 5
	e := newEngine(cfg)
	e.addTraces(shopTraffic(rand.New(rand.NewPCG(5, 6)), t0.Add(time.Second), 3, map[string]float64{"gateway": 5, "order": 20, "payment": 30}, false))
	assert.Len(t, e.services.list, 2)
	assert.Equal(t, int64(4), e.droppedSpans)
	e.watermark = t0.Add(time.Hour).UnixNano()
	e.advance(false)
	e.addTraces(shopTraffic(rand.New(rand.NewPCG(5, 6)), t0.Add(time.Second), 1, map[string]float64{"gateway": 5, "order": 20, "payment": 30}, false))
	assert.Equal(t, int64(3), e.lateSpans)
}
