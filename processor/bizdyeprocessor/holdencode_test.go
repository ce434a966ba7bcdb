package bizdyeprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// mixedBatch builds a batch of nRes resources (with schema URLs and extra
// attributes) of nScope scopes each (named, versioned, with attributes),
// whose spans belong to nTraces traces drawn at random: one trace's spans
// spread over resources and scopes, and a span without a trace id here and
// there.
func mixedBatch(r *rand.Rand, batch, nRes, nScope, nSpans, nTraces int) ptrace.Traces {
	td := ptrace.NewTraces()
	for ri := range nRes {
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl(fmt.Sprintf("https://opentelemetry.io/schemas/1.%d.0", ri))
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", ri))
		rs.Resource().Attributes().PutInt("host.cpu", int64(ri))
		rs.Resource().SetDroppedAttributesCount(uint32(ri))
		for si := range nScope {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.SetSchemaUrl(fmt.Sprintf("scope-schema-%d", si))
			ss.Scope().SetName(fmt.Sprintf("lib-%d", si))
			ss.Scope().SetVersion("v1")
			ss.Scope().Attributes().PutBool("otel.lib", true)
			for k := range nSpans {
				s := ss.Spans().AppendEmpty()
				if r.IntN(20) > 0 {
					s.SetTraceID(tid(fmt.Sprintf("t%d", r.IntN(nTraces))))
				}
				s.SetSpanID(sid(fmt.Sprintf("b%dr%ds%dk%d", batch, ri, si, k)))
				s.SetName(fmt.Sprintf("op-%d", r.IntN(5)))
				s.SetKind(ptrace.SpanKind(r.IntN(6)))
				s.SetStartTimestamp(pcommon.Timestamp(1e18 + r.Int64N(1e9)))
				s.SetEndTimestamp(s.StartTimestamp() + pcommon.Timestamp(r.Int64N(1e9)))
				s.Attributes().PutStr("http.route", "/api/orders/{id}")
				s.Attributes().PutInt("n", int64(k))
				if r.IntN(4) == 0 {
					s.Attributes().PutStr("order_id", fmt.Sprintf("ORD-%d", r.IntN(3)))
				}
				if r.IntN(8) == 0 {
					s.Status().SetCode(ptrace.StatusCodeError)
				}
				s.Events().AppendEmpty().SetName("event")
			}
		}
	}
	return td
}

// TestBatchEncoderMatchesPdataHold: spans held encoded straight from the
// batch's encoding leave exactly as spans held as pdata do (each with its
// resource, scope and schema URLs), over batches that spread traces across
// resources and scopes. Released together, they share resources: one per
// source batch and scope, not one per trace.
func TestBatchEncoderMatchesPdataHold(t *testing.T) {
	tests := []struct {
		name                                string
		batches, res, scopes, spans, traces int
	}{
		{name: "one span", batches: 1, res: 1, scopes: 1, spans: 1, traces: 1},
		{name: "one trace over resources and scopes", batches: 3, res: 3, scopes: 2, spans: 4, traces: 1},
		{name: "many traces", batches: 8, res: 4, scopes: 2, spans: 16, traces: 40},
		{name: "empty scopes", batches: 2, res: 3, scopes: 3, spans: 0, traces: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(encode bool) (ptrace.Traces, int) {
				h := newHarness(t, samplingConfig(100), componenttest.NewNopTelemetrySettings())
				h.p.held.encode = encode
				r := rand.New(rand.NewPCG(7, 9))
				sent := 0
				for b := range tt.batches {
					td := mixedBatch(r, b, tt.res, tt.scopes, tt.spans, tt.traces)
					sent += td.SpanCount()
					require.NoError(t, h.p.ConsumeTraces(context.Background(), td))
					if encode {
						for ht := h.p.held.oldest(); ht != nil; ht = ht.next {
							assert.Equal(t, ptrace.Traces{}, ht.traces, "held spans are encoded, not staged")
							assert.NotNil(t, ht.chunk.batch)
						}
					}
				}
				h.advance(11 * time.Second)
				return h.allTraces(), sent
			}
			want, sent := run(false)
			got, _ := run(true)
			assert.Equal(t, sent, got.SpanCount(), "every span leaves (sampling 100%)")
			assert.Equal(t, spansInContext(t, want), spansInContext(t, got))
			assert.LessOrEqual(t, got.ResourceSpans().Len(), want.ResourceSpans().Len())
		})
	}
}

// spansInContext returns every span of td as the JSON of a TracesData with
// it alone in its resource and scope, sorted.
func spansInContext(t *testing.T, td ptrace.Traces) []string {
	var out []string
	var m ptrace.JSONMarshaler
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				one := ptrace.NewTraces()
				ors := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(ors.Resource())
				ors.SetSchemaUrl(rs.SchemaUrl())
				oss := ors.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(oss.Scope())
				oss.SetSchemaUrl(ss.SchemaUrl())
				s.CopyTo(oss.Spans().AppendEmpty())
				b, err := m.MarshalTraces(one)
				require.NoError(t, err)
				out = append(out, string(b))
			}
		}
	}
	slices.Sort(out)
	return out
}
