package gnnrootcause

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// blindShopTraffic is gateway -> order -> payment where payment sends no
// spans: order's CLIENT spans name it in peer.service and have no child.
func blindShopTraffic(rng *rand.Rand, at time.Time, n int, paymentMs float64) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := map[string]ptrace.SpanSlice{}
	for _, svc := range []string{"gateway", "order"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		ss[svc] = rs.ScopeSpans().AppendEmpty().Spans()
	}
	ms := func(v float64) time.Duration {
		return time.Duration(v * (0.8 + 0.4*rng.Float64()) * float64(time.Millisecond))
	}
	for i := range n {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], uint64(i))
		gw, ord, pay := ms(5), ms(20), ms(paymentMs)
		end := at.Add(time.Duration(i) * time.Millisecond)
		add := func(svc string, span, parent byte, start, stop time.Time, kind ptrace.SpanKind) ptrace.Span {
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
			return s
		}
		gwStart := end.Add(-(gw + ord + pay))
		add("gateway", 1, 0, gwStart, end, ptrace.SpanKindServer)
		add("order", 2, 1, gwStart.Add(gw/2), end.Add(-gw/2), ptrace.SpanKindServer)
		call := add("order", 3, 2, gwStart.Add(gw/2+ord/2), end.Add(-gw/2-ord/2), ptrace.SpanKindClient)
		call.SetName("POST")
		call.Attributes().PutStr("peer.service", "payment")
	}
	return td
}

// TestConnectorBlindSpot: a report whose candidates include a blind spot
// says so in its attributes (rca.blind_spot, its name and rank) and in the
// candidate (blind_spot, callers).
func TestConnectorBlindSpot(t *testing.T) {
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	logs := &consumertest.LogsSink{}
	c, err := NewFactory().CreateTracesToLogs(ctx, testSettings(t), cfg, logs)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	rng := rand.New(rand.NewPCG(3, 3))
	for w := range 23 {
		payment := 30.0
		if w >= 20 {
			payment = 600
		}
		require.NoError(t, c.ConsumeTraces(ctx, blindShopTraffic(rng, t0.Add(time.Duration(w)*cfg.Window+time.Second), 100, payment)))
	}
	require.NoError(t, c.Shutdown(ctx))

	require.NotEmpty(t, logs.AllLogs())
	rec := logs.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	attr := func(k string) pcommon.Value {
		v, ok := rec.Attributes().Get(k)
		require.True(t, ok, k)
		return v
	}
	assert.Equal(t, "payment", attr("rca.top1.service").Str())
	assert.True(t, attr("rca.blind_spot").Bool())
	assert.Equal(t, "payment", attr("rca.blind_spot.peer").Str())
	assert.Equal(t, int64(1), attr("rca.blind_spot.rank").Int())
	var body rootcause.Report
	require.NoError(t, json.Unmarshal([]byte(rec.Body().Str()), &body))
	assert.True(t, body.Candidates[0].BlindSpot)
	assert.Equal(t, []string{"order"}, body.Candidates[0].Callers)
	assert.Equal(t, "POST", body.Candidates[0].Operation)
	assert.Equal(t, plog.SeverityNumberWarn, rec.SeverityNumber())
}

// TestConnectorNoBlindSpotAttributes: reports without a blind spot carry
// no rca.blind_spot attributes.
func TestConnectorNoBlindSpotAttributes(t *testing.T) {
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	logs := &consumertest.LogsSink{}
	c, err := NewFactory().CreateTracesToLogs(ctx, testSettings(t), cfg, logs)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	feedShop(ctx, t, c, rand.New(rand.NewPCG(9, 9)), cfg.Window, 0, 23, 150)
	require.NoError(t, c.Shutdown(ctx))
	require.NotEmpty(t, logs.AllLogs())
	rec := logs.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	for _, k := range []string{"rca.blind_spot", "rca.blind_spot.peer", "rca.blind_spot.rank"} {
		_, ok := rec.Attributes().Get(k)
		assert.False(t, ok, k)
	}
	assert.NotContains(t, rec.Body().Str(), "blind_spot")
}
