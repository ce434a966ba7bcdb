package bizdyeprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadata"
)

func attrOf(td ptrace.Traces, span string) (string, bool) {
	return spanAttr(td, span, "biz.order_id")
}

// spanAttr returns attribute key of the span named span.
func spanAttr(td ptrace.Traces, span, key string) (string, bool) {
	s, ok := findSpan(td, span)
	if !ok {
		return "<missing span>", false
	}
	v, ok := s.Attributes().Get(key)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

// linksOf returns the span ids the span named span links to.
func linksOf(td ptrace.Traces, span string) []string {
	s, _ := findSpan(td, span)
	var links []string
	for _, l := range s.Links().All() {
		links = append(links, l.SpanID().String())
	}
	return links
}

// findSpan returns the span named span (its first copy).
func findSpan(td ptrace.Traces, span string) (ptrace.Span, bool) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if s.SpanID() == sid(span) {
					return s, true
				}
			}
		}
	}
	return ptrace.NewSpan(), false
}

// A restart with storage after a key was removed from the config does not
// load the old snapshot (its dyes index the old key list): no panic.
func TestRestartWithAnotherKeyListDoesNotLoad(t *testing.T) {
	ctx := context.Background()
	ext := storagetest.NewFileBackedStorageExtension("dye", t.TempDir())
	host := storagetest.NewStorageHost().WithExtension(ext.ID, ext)
	run := func(cfg *Config, td ptrace.Traces) {
		cfg.Storage = &ext.ID
		tp, err := NewFactory().CreateTraces(ctx, processortest.NewNopSettings(metadata.Type), cfg, &consumertest.TracesSink{})
		require.NoError(t, err)
		require.NoError(t, tp.Start(ctx, host))
		defer func() { require.NoError(t, tp.Shutdown(ctx)) }()
		require.NoError(t, tp.ConsumeTraces(ctx, td))
	}
	run(testConfig(), traces(sp{svc: "order", trace: "r1", span: "root", attrs: map[string]any{"canary": "true"}}))
	fewer := testConfig()
	fewer.Keys = fewer.Keys[:1]
	fewer.Keep.When = nil
	assert.NotPanics(t, func() {
		run(fewer, traces(sp{svc: "notify", trace: "r1", span: "late", parent: "root"}))
	})
}

// Truncation that leaves nothing yields no value (nothing is stamped).
func TestTruncationToEmptyIsNotAValue(t *testing.T) {
	cfg := testConfig()
	cfg.MaxValueLength = 1
	h := newHarness(t, cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, h.p.ConsumeTraces(context.Background(), traces(
		sp{svc: "order", trace: "t1", span: "r", attrs: map[string]any{"order_id": "é42"}})))
	v, ok := attrOf(h.allTraces(), "r")
	assert.False(t, ok, "stamped biz.order_id=%q", v)
}

// A CONSUMER span whose parent comes later in the same batch is not taken as
// an entry span (no link to an unrelated trace).
func TestConsumerWithParentLaterInBatchIsNotEntry(t *testing.T) {
	h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
	ctx := context.Background()
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "order", trace: "p1", span: "proot", attrs: map[string]any{"order_id": "ORD-7"}},
		sp{svc: "order", trace: "p1", span: "prod", parent: "proot", kind: ptrace.SpanKindProducer, attrs: map[string]any{"order_id": "ORD-7"}},
	)))
	// trace t2 propagated context fine: consumer c's parent pr is in the batch, after c
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "ship", trace: "t2", span: "c", parent: "pr", kind: ptrace.SpanKindConsumer, attrs: map[string]any{"order_id": "ORD-7"}},
		sp{svc: "pay", trace: "t2", span: "pr", parent: "x", kind: ptrace.SpanKindProducer},
	)))
	links := 0
	for _, rs := range h.allTraces().ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				links += s.Links().Len()
			}
		}
	}
	assert.Equal(t, 0, links, "span c has its parent in the batch: not an entry span")
}

// ttl < wait: an awaiting CONSUMER root is still released stamped.
func TestAwaitingTraceOutlivesTTL(t *testing.T) {
	cfg := testConfig()
	cfg.TTL = 500 * time.Millisecond
	cfg.Wait = 2 * time.Second
	h := newHarness(t, cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, h.p.ConsumeTraces(context.Background(), traces(
		sp{svc: "ship", trace: "t1", span: "c", kind: ptrace.SpanKindConsumer, attrs: map[string]any{"order_id": "ORD-9"}})))
	for i := 0; i < 8; i++ {
		h.advance(250 * time.Millisecond)
	}
	v, ok := attrOf(h.allTraces(), "c")
	assert.True(t, ok, "got %q", v)
}

// Spans with an all-zero trace id are dyed by their own values, never merged.
func TestZeroTraceIDSpansAreNotMerged(t *testing.T) {
	h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
	ctx := context.Background()
	mk := func(order string) ptrace.Traces {
		td := traces(sp{svc: "a", trace: "x", span: "s" + order, attrs: map[string]any{"order_id": order}})
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID([16]byte{})
		return td
	}
	require.NoError(t, h.p.ConsumeTraces(ctx, mk("A")))
	require.NoError(t, h.p.ConsumeTraces(ctx, mk("B")))
	s := h.traces.AllTraces()[1].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	v, _ := s.Attributes().Get("biz.order_id")
	assert.Equal(t, "B", v.AsString())
}

// A consumer linked to its producer's trace before that trace's root has
// arrived still gets the keys the root brings (here canary, so biz.keep),
// and its link; a chain A -> B -> C stays a chain while B waits.
func TestConsumerInheritsProducerRootKeys(t *testing.T) {
	pub := func(trace, span, parent, key string) sp {
		return sp{svc: "order", trace: trace, span: span, parent: parent, kind: ptrace.SpanKindProducer, attrs: map[string]any{"messaging.kafka.message.key": key}}
	}
	cons := func(trace, span, svc, key string) sp {
		return sp{svc: svc, trace: trace, span: span, kind: ptrace.SpanKindConsumer, attrs: map[string]any{"messaging.kafka.message.key": key}}
	}
	root := sp{svc: "gateway", trace: "p1", span: "proot", kind: ptrace.SpanKindServer, attrs: map[string]any{"canary": true}}
	tests := []struct {
		name    string
		batches [][]sp
		span    string            // the consumer entry span checked
		want    map[string]string // its attributes ("" = present, any value)
		linkTo  string            // the producer span it links to
	}{
		{"root after the consumer", [][]sp{{pub("p1", "pub", "proot", "ORD-7")}, {cons("t2", "c", "ship", "ORD-7")}, {root}},
			"c", map[string]string{"biz.order_id": "ORD-7", "biz.canary": "true", "biz.keep": "true"}, "pub"},
		{"root never arrives: linked on release", [][]sp{{pub("p1", "pub", "proot", "ORD-7")}, {cons("t2", "c", "ship", "ORD-7")}},
			"c", map[string]string{"biz.order_id": "ORD-7", "biz.linked_trace_ids": ""}, "pub"},
		{"root before the consumer: linked at once", [][]sp{{pub("p1", "pub", "proot", "ORD-7"), root}, {cons("t2", "c", "ship", "ORD-7")}},
			"c", map[string]string{"biz.canary": "true", "biz.keep": "true"}, "pub"},
		{"chain: C links to B while B waits for A's root", [][]sp{
			{pub("p1", "pub", "proot", "ORD-7")},
			{cons("t2", "c", "ship", "ORD-7"), pub("t2", "pub2", "c", "ORD-7")},
			{cons("t3", "c3", "notify", "ORD-7")},
			{root}},
			"c3", map[string]string{"biz.order_id": "ORD-7", "biz.canary": "true", "biz.keep": "true"}, "pub2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
			for _, b := range tt.batches {
				require.NoError(t, h.p.ConsumeTraces(context.Background(), traces(b...)))
			}
			for range 4 {
				h.advance(time.Second)
			}
			out := h.allTraces()
			for key, want := range tt.want {
				v, ok := spanAttr(out, tt.span, key)
				if assert.True(t, ok, "%s has no %s", tt.span, key) && want != "" {
					assert.Equal(t, want, v, key)
				}
			}
			assert.Equal(t, []string{sid(tt.linkTo).String()}, linksOf(out, tt.span), "links of %s", tt.span)
		})
	}
}

// Behind Kafka a consumer that publishes the next hop can reach the
// gateway before its own producer: its publish span must not make the
// order id ambiguous, so it links to its producer when released and the
// next consumer links to it.
func TestConsumerBeforeProducerKeepsTheChain(t *testing.T) {
	h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
	ctx := context.Background()
	key := map[string]any{"messaging.kafka.message.key": "ORD-7"}
	consume := func(spans ...sp) { require.NoError(t, h.p.ConsumeTraces(ctx, traces(spans...))) }
	consume(sp{svc: "ship", trace: "t2", span: "c", kind: ptrace.SpanKindConsumer, attrs: key},
		sp{svc: "ship", trace: "t2", span: "pub2", parent: "c", kind: ptrace.SpanKindProducer, attrs: key})
	consume(sp{svc: "order", trace: "p1", span: "pub", parent: "proot", kind: ptrace.SpanKindProducer, attrs: key},
		sp{svc: "gateway", trace: "p1", span: "proot", kind: ptrace.SpanKindServer, attrs: map[string]any{"canary": true}})
	h.advance(3 * time.Second) // t2 released: linked to p1
	consume(sp{svc: "notify", trace: "t3", span: "c3", kind: ptrace.SpanKindConsumer, attrs: key})
	h.advance(3 * time.Second)
	out := h.allTraces()
	assert.Equal(t, []string{sid("pub").String()}, linksOf(out, "c"), "the consumer links to its producer")
	assert.Equal(t, []string{sid("pub2").String()}, linksOf(out, "c3"), "the next hop links to the consumer's publish")
	v, ok := spanAttr(out, "c3", "biz.canary")
	assert.True(t, ok && v == "true", "canary flows down the chain: %q", v)
}

// A consumer held for its producer still serves as the producer of the
// next hop: a SERVER root its CLIENT span called without context links to
// it during the hold.
func TestHeldConsumerStillLinksTheNextHop(t *testing.T) {
	h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
	ctx := context.Background()
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "ship", trace: "t2", span: "c", kind: ptrace.SpanKindConsumer, attrs: map[string]any{"messaging.kafka.message.key": "ORD-7"}},
		sp{svc: "ship", trace: "t2", span: "http", parent: "c", kind: ptrace.SpanKindClient})))
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "carrier", trace: "t3", span: "srv", kind: ptrace.SpanKindServer, attrs: map[string]any{"order_id": "ORD-7"}})))
	h.advance(3 * time.Second)
	assert.Equal(t, []string{sid("http").String()}, linksOf(h.allTraces(), "srv"))
}
