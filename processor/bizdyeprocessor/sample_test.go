package bizdyeprocessor

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadatatest"
)

func samplingConfig(percentage float64) *Config {
	cfg := testConfig()
	cfg.Sampling = configoptional.Some(SamplingConfig{
		DecisionWait: 10 * time.Second, KeepErrors: true, SlowThreshold: time.Second, Percentage: percentage,
	})
	return cfg
}

// TestSamplingDecision: every span of a trace waits for the decision
// (decision_wait), which keeps the trace when a rule matches; the spans of
// a trace not kept are dropped, its logs never.
func TestSamplingDecision(t *testing.T) {
	tests := []struct {
		name       string
		percentage float64
		spans      []sp
		wantSpans  int
		wantRule   string
	}{
		{name: "keep flag (vip)", spans: []sp{
			{svc: "gw", trace: "t1", span: "r", attrs: map[string]any{"baggage": "user_tier=vip"}},
			{svc: "order", trace: "t1", span: "a", parent: "r"},
		}, wantSpans: 2, wantRule: "keep"},
		{name: "an error span", spans: []sp{
			{svc: "gw", trace: "t1", span: "r"},
			{svc: "payment", trace: "t1", span: "a", parent: "r", failed: true},
		}, wantSpans: 2, wantRule: "error"},
		{name: "slow", spans: []sp{
			{svc: "gw", trace: "t1", span: "r", dur: 1500 * time.Millisecond},
		}, wantSpans: 1, wantRule: "slow"},
		{name: "percentage 100", percentage: 100, spans: []sp{
			{svc: "gw", trace: "t1", span: "r", attrs: map[string]any{"order_id": "ORD-1"}},
		}, wantSpans: 1, wantRule: "percentage"},
		{name: "no rule matches", spans: []sp{
			{svc: "gw", trace: "t1", span: "r", attrs: map[string]any{"order_id": "ORD-1"}},
			{svc: "order", trace: "t1", span: "a", parent: "r"},
		}, wantRule: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			h := newHarness(t, samplingConfig(tt.percentage), metadatatest.NewSettings(tel).TelemetrySettings)
			ctx := context.Background()
			require.NoError(t, h.p.ConsumeTraces(ctx, traces(tt.spans...)))
			require.NoError(t, h.p.ConsumeLogs(ctx, logs(lg{svc: "gw", trace: "t1", span: "r", body: "order placed"})))
			h.advance(3 * time.Second)
			assert.Zero(t, h.traces.SpanCount(), "held past wait: a dyed or rooted trace waits for its decision too")
			assert.Zero(t, h.logs.LogRecordCount())

			h.advance(8 * time.Second)
			assert.Equal(t, tt.wantSpans, h.traces.SpanCount())
			assert.Equal(t, 1, h.logs.LogRecordCount(), "logs are never sampled")
			decision := "sampled"
			if tt.wantRule == "none" {
				decision = "not_sampled"
			}
			metadatatest.AssertEqualProcessorBizDyeSamplingDecisions(t, tel, []metricdata.DataPoint[int64]{
				sum(1, attribute.String("decision", decision), attribute.String("rule", tt.wantRule)),
			}, ignoreTime...)

			// a late span follows the decision
			require.NoError(t, h.p.ConsumeTraces(ctx, traces(sp{svc: "notify", trace: "t1", span: "late", parent: "r"})))
			wantLate := 0
			if tt.wantSpans > 0 {
				wantLate = 1
			}
			assert.Equal(t, tt.wantSpans+wantLate, h.traces.SpanCount())
			if tt.wantSpans == 0 {
				metadatatest.AssertEqualProcessorBizDyeSpansSampledOut(t, tel,
					[]metricdata.DataPoint[int64]{sum(int64(len(tt.spans) + 1))}, ignoreTime...)
			}
		})
	}
}

// TestSamplingStampsEveryHeldSpan: held until the decision, every span of a
// trace carries every key the trace found, wherever it was.
func TestSamplingStampsEveryHeldSpan(t *testing.T) {
	h := newHarness(t, samplingConfig(100), componenttest.NewNopTelemetrySettings())
	ctx := context.Background()
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(sp{svc: "inventory", trace: "t1", span: "a", parent: "r", attrs: map[string]any{"sku": "SKU-9"}})))
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(sp{svc: "order", trace: "t1", span: "r", attrs: map[string]any{"order_id": "ORD-1"}})))
	h.advance(10 * time.Second)
	out := h.allTraces()
	require.Equal(t, 2, out.SpanCount())
	for _, rs := range out.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				order, _ := s.Attributes().Get("biz.order_id")
				sku, _ := s.Attributes().Get("biz.sku")
				assert.Equal(t, "ORD-1", order.AsString(), s.SpanID())
				assert.Equal(t, "SKU-9", sku.AsString(), s.SpanID())
			}
		}
	}
}

// TestSamplingPercentage: the share kept by trace id is the configured one
// (random W3C ids), and the same for the same trace on every instance.
func TestSamplingPercentage(t *testing.T) {
	s := newSampler(&SamplingConfig{Percentage: 10})
	other := newSampler(&SamplingConfig{Percentage: 10})
	kept := 0
	const n = 20000
	for range n {
		ht := &heldTrace{}
		_, _ = rand.Read(ht.id[:])
		ht.start, ht.end = 1, 2
		r := s.decide(ht, false)
		assert.Equal(t, r, other.decide(ht, false))
		if r == rulePercentage {
			kept++
		}
	}
	assert.InDelta(t, 0.10, float64(kept)/n, 0.01)
}

// TestSamplingBufferFull: when the hold buffer is full the oldest traces are
// decided early (counted), never dropped undecided.
func TestSamplingBufferFull(t *testing.T) {
	cfg := samplingConfig(100)
	cfg.MaxBufferedSpans = 2
	h := newHarness(t, cfg, componenttest.NewNopTelemetrySettings())
	ctx := context.Background()
	for _, id := range []string{"t1", "t2", "t3"} {
		require.NoError(t, h.p.ConsumeTraces(ctx, traces(sp{svc: "gw", trace: id, span: "r"})))
	}
	assert.Equal(t, 1, h.traces.SpanCount(), "the oldest was decided early")
	h.advance(10 * time.Second)
	assert.Equal(t, 3, h.traces.SpanCount())
}

func TestSamplingConfig(t *testing.T) {
	cfg := samplingConfig(101)
	cfg.Sampling.Get().DecisionWait = time.Second
	cfg.Sampling.Get().SlowThreshold = -1
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{"'sampling.decision_wait' (1s) must be at least 'wait' (2s)", "'sampling.slow_threshold'", "'sampling.percentage' must be between 0 and 100"} {
		assert.ErrorContains(t, err, want)
	}
}

// TestSamplingKeepsStitchingLinks: a consumer trace split off by a lost
// header is linked to its producer span also when sampling holds it.
func TestSamplingKeepsStitchingLinks(t *testing.T) {
	h := newHarness(t, samplingConfig(100), componenttest.NewNopTelemetrySettings())
	ctx := context.Background()
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "order", trace: "p1", span: "pub", parent: "root", kind: ptrace.SpanKindProducer, attrs: map[string]any{"order_id": "ORD-7"}},
		sp{svc: "order", trace: "p1", span: "root", kind: ptrace.SpanKindServer, attrs: map[string]any{"order_id": "ORD-7"}},
	)))
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "fulfilment", trace: "c1", span: "consume", kind: ptrace.SpanKindConsumer, attrs: map[string]any{"order_id": "ORD-7"}},
	)))
	h.advance(10 * time.Second)
	var linked bool
	for _, rs := range h.allTraces().ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if s.SpanID() == sid("consume") {
					require.Equal(t, 1, s.Links().Len())
					linked = s.Links().At(0).SpanID() == sid("pub") && s.Links().At(0).TraceID() == tid("p1")
				}
			}
		}
	}
	assert.True(t, linked, "the consumer root links to the producer span")
}

// TestSamplingHoldKeepsSpansIntact: held spans are kept encoded between
// batches; a kept trace leaves with every span, attribute, link, resource
// and scope it came with (plus its keys), whatever batch held it, and the
// spans of the same trace in one batch are not encoded twice.
func TestSamplingHoldKeepsSpansIntact(t *testing.T) {
	h := newHarness(t, samplingConfig(100), componenttest.NewNopTelemetrySettings())
	require.True(t, h.p.held.encode)
	ctx := context.Background()
	batches := []ptrace.Traces{
		traces(sp{svc: "payment", trace: "t1", span: "c", parent: "b", name: "charge", attrs: map[string]any{"amount": 42.5, "tags": []any{"a", "b"}}, failed: true},
			sp{svc: "order", trace: "t1", span: "b", parent: "a", name: "createOrder", links: [][2]string{{"t9", "p9"}}}),
		traces(sp{svc: "gw", trace: "t1", span: "a", name: "POST /checkout", attrs: map[string]any{"order_id": "ORD-7"}}),
		traces(sp{svc: "order", trace: "t1", span: "d", parent: "b", name: "reserve", dur: 2 * time.Millisecond}),
	}
	var want []map[string]any
	for _, td := range batches {
		for _, rs := range td.ResourceSpans().All() {
			for _, s := range rs.ScopeSpans().At(0).Spans().All() {
				want = append(want, map[string]any{"svc": rs.Resource().Attributes().AsRaw()["service.name"], "name": s.Name(),
					"attrs": s.Attributes().AsRaw(), "links": s.Links().Len(), "status": s.Status().Code(), "dur": s.EndTimestamp() - s.StartTimestamp()})
			}
		}
		c := ptrace.NewTraces()
		td.CopyTo(c)
		require.NoError(t, h.p.ConsumeTraces(ctx, c))
		assert.NotNil(t, h.p.held.byID[tid("t1")].chunk.batch, "held spans are encoded at the end of each batch")
	}
	assert.Zero(t, h.traces.SpanCount())
	h.advance(11 * time.Second)

	out := h.allTraces()
	require.Equal(t, 4, out.SpanCount())
	var got []map[string]any
	for _, rs := range out.ResourceSpans().All() {
		assert.Equal(t, "shop", rs.ScopeSpans().At(0).Scope().Name())
		for _, s := range rs.ScopeSpans().At(0).Spans().All() {
			attrs := s.Attributes().AsRaw()
			assert.Equal(t, "ORD-7", attrs["biz.order_id"], s.Name())
			delete(attrs, "biz.order_id")
			delete(attrs, "biz.keep")
			got = append(got, map[string]any{"svc": rs.Resource().Attributes().AsRaw()["service.name"], "name": s.Name(),
				"attrs": attrs, "links": s.Links().Len(), "status": s.Status().Code(), "dur": s.EndTimestamp() - s.StartTimestamp()})
		}
	}
	assert.ElementsMatch(t, want, got)
}
