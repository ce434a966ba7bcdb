package spanguardprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor/internal/metadata"
	"github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor/internal/metadatatest"
)

// now is the collector's (fake) clock in every test.
var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// at is now+d as a span timestamp.
func at(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(now.Add(d)) }

var (
	traceID = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanID  = pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
)

// appendSpan appends a span "checkout" with the given ids and timestamps.
func appendSpan(spans ptrace.SpanSlice, tid pcommon.TraceID, sid pcommon.SpanID, start, end pcommon.Timestamp) {
	s := spans.AppendEmpty()
	s.SetName("checkout")
	s.SetTraceID(tid)
	s.SetSpanID(sid)
	s.SetStartTimestamp(start)
	s.SetEndTimestamp(end)
}

func oneSpan(tid pcommon.TraceID, sid pcommon.SpanID, start, end pcommon.Timestamp) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	appendSpan(rs.ScopeSpans().AppendEmpty().Spans(), tid, sid, start, end)
	return td
}

// newProcessor builds span_guard as the factory does, on a fake clock at now.
func newProcessor(tb testing.TB, set processor.Settings, cfg *Config, next consumer.Traces) processor.Traces {
	ctx := clockwork.AddToContext(context.Background(), clockwork.NewFakeClockAt(now))
	p, err := NewFactory().CreateTraces(ctx, set, cfg, next)
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

func TestGuard(t *testing.T) {
	epochMs := pcommon.Timestamp(1e6) // 1 ms after the epoch: a start in the wrong unit
	year2100 := pcommon.NewTimestampFromTime(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		name        string
		maxDuration time.Duration
		start, end  pcommon.Timestamp
		zeroTraceID bool
		zeroSpanID  bool
		// the repaired timestamps, unless dropped
		wantStart, wantEnd pcommon.Timestamp
		repaired, dropped  string // the reason counted, "" for none
	}{
		{name: "sound", start: at(-2 * time.Second), end: at(-time.Second), wantStart: at(-2 * time.Second), wantEnd: at(-time.Second)},
		{name: "zero duration", start: at(-time.Second), end: at(-time.Second), wantStart: at(-time.Second), wantEnd: at(-time.Second)},
		{name: "no timestamps", wantStart: 0, wantEnd: 0},
		{name: "end before start", start: at(-time.Second), end: at(-2 * time.Second), wantStart: at(-time.Second), wantEnd: at(-time.Second), repaired: "end_before_start"},
		{name: "zero start", start: 0, end: at(-time.Second), wantStart: at(-time.Second), wantEnd: at(-time.Second), repaired: "zero_start"},
		{name: "zero end", start: at(-time.Second), end: 0, wantStart: at(-time.Second), wantEnd: at(-time.Second), repaired: "zero_end"},
		{name: "too long: start in 1970", start: epochMs, end: at(-time.Second), wantStart: at(-time.Second), wantEnd: at(-time.Second), repaired: "too_long"},
		{name: "too long: end in 2100", start: at(-time.Second), end: year2100, wantStart: at(-time.Second), wantEnd: at(-time.Second), repaired: "too_long"},
		{name: "exactly max_duration", start: at(-25 * time.Hour), end: at(-time.Hour), wantStart: at(-25 * time.Hour), wantEnd: at(-time.Hour)},
		{name: "longer than max_duration", start: at(-25 * time.Hour), end: at(-time.Hour + 1), wantStart: at(-time.Hour + 1), wantEnd: at(-time.Hour + 1), repaired: "too_long"},
		{name: "max_duration off", maxDuration: -1, start: epochMs, end: at(-time.Second), wantStart: epochMs, wantEnd: at(-time.Second)},
		{name: "zero trace id", zeroTraceID: true, start: at(-2 * time.Second), end: at(-time.Second), dropped: "invalid_id"},
		{name: "zero span id", zeroSpanID: true, start: at(-2 * time.Second), end: at(-time.Second), dropped: "invalid_id"},
		{name: "zero ids and timestamps", zeroTraceID: true, zeroSpanID: true, dropped: "invalid_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{MaxDuration: defaultMaxDuration}
			if tt.maxDuration < 0 {
				cfg.MaxDuration = 0
			}
			tid, sid := traceID, spanID
			if tt.zeroTraceID {
				tid = pcommon.NewTraceIDEmpty()
			}
			if tt.zeroSpanID {
				sid = pcommon.NewSpanIDEmpty()
			}
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			sink := new(consumertest.TracesSink)
			p := newProcessor(t, metadatatest.NewSettings(tel), cfg, sink)
			require.NoError(t, p.ConsumeTraces(context.Background(), oneSpan(tid, sid, tt.start, tt.end)))

			if tt.dropped != "" {
				assert.Empty(t, sink.AllTraces(), "the only span dropped: nothing is sent")
				metadatatest.AssertEqualProcessorSpanGuardSpansDropped(t, tel, []metricdata.DataPoint[int64]{
					{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", tt.dropped))},
				}, metricdatatest.IgnoreTimestamp())
				return
			}
			require.Len(t, sink.AllTraces(), 1)
			s := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			assert.Equal(t, tt.wantStart, s.StartTimestamp(), "start")
			assert.Equal(t, tt.wantEnd, s.EndTimestamp(), "end")
			_, err := tel.GetMetric("otelcol_processor_span_guard_spans_dropped")
			assert.Error(t, err, "nothing dropped, nothing counted")
			if tt.repaired == "" {
				_, err := tel.GetMetric("otelcol_processor_span_guard_spans_repaired")
				assert.Error(t, err, "nothing repaired, nothing counted")
				return
			}
			metadatatest.AssertEqualProcessorSpanGuardSpansRepaired(t, tel, []metricdata.DataPoint[int64]{
				{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", tt.repaired))},
			}, metricdatatest.IgnoreTimestamp())
		})
	}
}

// TestGuardKeepsTheRest drops the invalid spans of a batch and keeps the
// rest: a scope and a resource left empty by the drops are removed, a scope
// that came empty is passed on as it is.
func TestGuardKeepsTheRest(t *testing.T) {
	td := ptrace.NewTraces()
	onlyBad := td.ResourceSpans().AppendEmpty()
	onlyBad.Resource().Attributes().PutStr("service.name", "broken")
	appendSpan(onlyBad.ScopeSpans().AppendEmpty().Spans(), pcommon.NewTraceIDEmpty(), spanID, at(-2*time.Second), at(-time.Second))
	mixed := td.ResourceSpans().AppendEmpty()
	mixed.Resource().Attributes().PutStr("service.name", "shop")
	spans := mixed.ScopeSpans().AppendEmpty().Spans()
	appendSpan(spans, traceID, pcommon.NewSpanIDEmpty(), at(-2*time.Second), at(-time.Second))
	appendSpan(spans, traceID, spanID, at(-time.Second), at(-2*time.Second))
	appendSpan(mixed.ScopeSpans().AppendEmpty().Spans(), traceID, pcommon.NewSpanIDEmpty(), 0, 0)
	mixed.ScopeSpans().AppendEmpty().Scope().SetName("empty before")

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.TracesSink)
	p := newProcessor(t, metadatatest.NewSettings(tel), createDefaultConfig().(*Config), sink)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))

	require.Len(t, sink.AllTraces(), 1)
	out := sink.AllTraces()[0]
	require.Equal(t, 1, out.ResourceSpans().Len(), "the resource of only invalid spans is removed")
	rs := out.ResourceSpans().At(0)
	name, _ := rs.Resource().Attributes().Get("service.name")
	assert.Equal(t, "shop", name.Str())
	require.Equal(t, 2, rs.ScopeSpans().Len(), "the scope emptied by drops is removed")
	require.Equal(t, 1, rs.ScopeSpans().At(0).Spans().Len())
	kept := rs.ScopeSpans().At(0).Spans().At(0)
	assert.Equal(t, kept.StartTimestamp(), kept.EndTimestamp(), "repaired")
	assert.Equal(t, "empty before", rs.ScopeSpans().At(1).Scope().Name())
	metadatatest.AssertEqualProcessorSpanGuardSpansDropped(t, tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("reason", "invalid_id"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSpanGuardSpansRepaired(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "end_before_start"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestLogsEachReasonOncePerMinute: a client that keeps sending broken spans
// shows up in the log once a minute per reason, with the batch's count.
func TestLogsEachReasonOncePerMinute(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	p := newProcessor(t, set, createDefaultConfig().(*Config), consumertest.NewNop())
	for range 3 {
		td := oneSpan(traceID, spanID, 0, at(-time.Second))
		appendSpan(td.ResourceSpans().At(0).ScopeSpans().At(0).Spans(), traceID, spanID, 0, at(-time.Second))
		appendSpan(td.ResourceSpans().At(0).ScopeSpans().At(0).Spans(), traceID, pcommon.NewSpanIDEmpty(), 0, 0)
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
	}
	entries := logs.All()
	require.Len(t, entries, 2, "one line per reason")
	for _, e := range entries {
		switch e.ContextMap()["reason"] {
		case "zero_start":
			assert.Equal(t, int64(2), e.ContextMap()["spans"])
		case "invalid_id":
			assert.Equal(t, int64(1), e.ContextMap()["spans"])
		default:
			assert.Fail(t, "unexpected log", e.Message)
		}
	}
}

// TestEmptyBatchPasses: a batch without spans is not span_guard's business.
func TestEmptyBatchPasses(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p := newProcessor(t, processortest.NewNopSettings(metadata.Type), createDefaultConfig().(*Config), sink)
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty()
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	require.Len(t, sink.AllTraces(), 1)
	assert.Equal(t, 1, sink.AllTraces()[0].ResourceSpans().Len())
}
