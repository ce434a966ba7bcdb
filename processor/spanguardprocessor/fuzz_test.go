package spanguardprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor/internal/metadata"
)

// FuzzConsumeTraces feeds any OTLP trace request through span_guard: it
// never panics, drops exactly the spans with an all-zero id, and every span
// it passes on has ids, end >= start, either both timestamps or neither,
// and at most max_duration; drops create no empty scope or resource.
func FuzzConsumeTraces(f *testing.F) {
	seeds := []ptrace.Traces{
		oneSpan(traceID, spanID, at(-2*time.Second), at(-time.Second)),
		oneSpan(traceID, spanID, at(-time.Second), at(-2*time.Second)),
		oneSpan(traceID, spanID, 0, at(-time.Second)),
		oneSpan(pcommon.NewTraceIDEmpty(), spanID, 0, 0),
		oneSpan(traceID, spanID, 1e6, at(48*time.Hour)),
		cleanBatch(),
	}
	for _, td := range seeds {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(f, err)
		f.Add(b)
	}
	sink := new(consumertest.TracesSink)
	p := newProcessor(f, processortest.NewNopSettings(metadata.Type), &Config{MaxDuration: defaultMaxDuration}, sink)

	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
		if err != nil {
			t.Skip()
		}
		in, emptyIn := shape(td)
		sink.Reset()
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
		out := ptrace.NewTraces()
		for _, got := range sink.AllTraces() {
			got.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
		}
		kept, emptyOut := shape(out)
		require.Equal(t, in.valid, kept.valid+kept.invalid, "only spans with an all-zero id are dropped")
		require.Zero(t, kept.invalid)
		require.Zero(t, kept.unsound, "every span passed on is sound")
		require.LessOrEqual(t, emptyOut, emptyIn, "drops leave no empty scope or resource")
		_, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(out)
		require.NoError(t, err)
	})
}

type spanCounts struct{ valid, invalid, unsound int }

// shape counts td's spans (valid ids or not; unsound timestamps) and its
// empty scopes and resources.
func shape(td ptrace.Traces) (c spanCounts, empty int) {
	for _, rs := range td.ResourceSpans().All() {
		if rs.ScopeSpans().Len() == 0 {
			empty++
		}
		for _, ss := range rs.ScopeSpans().All() {
			if ss.Spans().Len() == 0 {
				empty++
			}
			for _, s := range ss.Spans().All() {
				if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
					c.invalid++
					continue
				}
				c.valid++
				start, end := s.StartTimestamp(), s.EndTimestamp()
				if end < start || (start == 0) != (end == 0) || uint64(end-start) > uint64(defaultMaxDuration) {
					c.unsound++
				}
			}
		}
	}
	return c, empty
}
