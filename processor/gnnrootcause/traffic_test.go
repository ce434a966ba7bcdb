package gnnrootcause

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// t0 is in the past: spans over an hour ahead of the clock are dropped.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

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

// feedShop sends c one batch of shop traffic per window in [from, to), a
// second into the window, with payment's self time at faultMs from window
// 20 on.
func feedShop(ctx context.Context, t *testing.T, c consumer.Traces, rng *rand.Rand, window time.Duration, from, to int, faultMs float64) {
	for w := from; w < to; w++ {
		self := map[string]float64{"gateway": 5, "order": 20, "payment": 30}
		if w >= 20 {
			self["payment"] = faultMs
		}
		require.NoError(t, c.ConsumeTraces(ctx, shopTraffic(rng, t0.Add(time.Duration(w)*window+time.Second), 100, self, false)))
	}
}
