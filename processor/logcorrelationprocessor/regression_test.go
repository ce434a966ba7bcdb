package logcorrelationprocessor

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Found by review: ids, counts and removals on layouts at the edges.
func TestReviewedLayouts(t *testing.T) {
	tests := []struct {
		name, body, wantTrace, wantSpan, wantBody string
		wantBad                                   int64
	}{
		{name: "MDC with ', ' separators", body: "[order-service, " + w3cTrace + ", " + w3cSpan + "] x", wantTrace: w3cTrace, wantSpan: w3cSpan},
		{name: "parent_span_id is not the span id", body: "trace_id=" + w3cTrace + " parent_span_id=aaaaaaaaaaaaaaaa span_id=" + w3cSpan, wantTrace: w3cTrace, wantSpan: w3cSpan},
		{name: "empty log4j2 MDC outside a span counts nothing", body: "trace_id= span_id= trace_flags= hello"},
		{name: "remove: JSON stays valid", body: `{"level":"info","trace_id":"` + w3cTrace + `","msg":"hi"}`, wantTrace: w3cTrace, wantBody: `{"level":"info","msg":"hi"}`},
		{name: "remove: JSON first field", body: `{"trace_id":"` + w3cTrace + `","msg":"hi"}`, wantTrace: w3cTrace, wantBody: `{"msg":"hi"}`},
		{name: "remove: the whole B3 key", body: "X-B3-TraceId: 463ac35c9f6413ad done", wantTrace: "0000000000000000463ac35c9f6413ad", wantBody: "done"},
		{name: "remove: trace, span and flags pairs", body: "trace_id=" + w3cTrace + " span_id=" + w3cSpan + " trace_flags=01 msg", wantTrace: w3cTrace, wantSpan: w3cSpan, wantBody: "msg"},
		{name: "remove: traceparent with its key", body: "GET / traceparent=00-" + w3cTrace + "-" + w3cSpan + "-01 200", wantTrace: w3cTrace, wantSpan: w3cSpan, wantBody: "GET / 200"},
	}
	cfg := testConfig()
	cfg.RemoveFromBody = true
	c, err := newCorrelator(componenttest.NewNopTelemetrySettings(), cfg)
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := record(plog.NewLogs(), tt.body, nil, nil)
			var n counts
			c.correlate(r, &n)
			if tt.wantTrace == "" {
				assert.True(t, r.TraceID().IsEmpty())
			} else {
				assert.Equal(t, tt.wantTrace, r.TraceID().String())
			}
			if tt.wantSpan != "" {
				assert.Equal(t, tt.wantSpan, r.SpanID().String())
			}
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, r.Body().Str())
			}
			assert.Equal(t, tt.wantBad, n.bad)
		})
	}
}

// With overwrite, the new trace id never keeps the old span id and flags.
func TestOverwriteResetsSpanAndFlags(t *testing.T) {
	cfg := testConfig()
	cfg.Overwrite = true
	c, err := newCorrelator(componenttest.NewNopTelemetrySettings(), cfg)
	require.NoError(t, err)
	r := record(plog.NewLogs(), "trace_id="+w3cTrace+" msg", nil, nil)
	r.SetTraceID(pcommon.TraceID{9})
	r.SetSpanID(pcommon.SpanID{7})
	r.SetFlags(1)
	var n counts
	c.correlate(r, &n)
	assert.Equal(t, w3cTrace, r.TraceID().String())
	assert.True(t, r.SpanID().IsEmpty())
	assert.Equal(t, plog.LogRecordFlags(0), r.Flags())
}

// BenchmarkMDCManyBrackets: a line of 200,000 '[' and one ']' (review: the
// scan was quadratic, 260 ms; it looks at most 162 bytes ahead now).
func BenchmarkMDCManyBrackets(b *testing.B) {
	line := strings.Repeat("[", 200_000) + "]"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := findMDC(line); ok {
			b.Fatal("no ids in the line")
		}
	}
}
