package bizdyeprocessor

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadata"
	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadatatest"
)

func sum(n int64, kv ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Value: n, Attributes: attribute.NewSet(kv...)}
}

var ignoreTime = []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}

func TestTelemetryDyeHoldLate(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	h := newHarness(t, testConfig(), metadatatest.NewSettings(tt).TelemetrySettings)
	ctx := context.Background()

	// two children wait, the dyed parent releases them
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "inventory", trace: "t1", span: "a", parent: "p"},
		sp{svc: "payment", trace: "t1", span: "b", parent: "p"},
	)))
	assert.Equal(t, 0, h.traces.SpanCount(), "undyed children are held")
	metadatatest.AssertEqualProcessorBizDyeHeldSpans(t, tt, []metricdata.DataPoint[int64]{sum(2)}, ignoreTime...)
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "order", trace: "t1", span: "p", attrs: map[string]any{"order_id": "ORD-1"}},
	)))
	assert.Equal(t, 3, h.traces.SpanCount())
	// a late span after the root
	h.advance(5 * time.Second)
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(sp{svc: "notify", trace: "t1", span: "c", parent: "p"})))

	metadatatest.AssertEqualProcessorBizDyeSpansHeld(t, tt, []metricdata.DataPoint[int64]{sum(2)}, ignoreTime...)
	metadatatest.AssertEqualProcessorBizDyeSpansDyed(t, tt, []metricdata.DataPoint[int64]{sum(4)}, ignoreTime...)
	metadatatest.AssertEqualProcessorBizDyeLateSpansDyed(t, tt, []metricdata.DataPoint[int64]{sum(1)}, ignoreTime...)
	metadatatest.AssertEqualProcessorBizDyeHeldSpans(t, tt, []metricdata.DataPoint[int64]{sum(0)}, ignoreTime...)
	metadatatest.AssertEqualProcessorBizDyeRegistrySize(t, tt, []metricdata.DataPoint[int64]{sum(1)}, ignoreTime...)
}

func TestTelemetryStitchedAndOrphans(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := testConfig()
	cfg.TTL = time.Minute
	h := newHarness(t, cfg, metadatatest.NewSettings(tt).TelemetrySettings)
	ctx := context.Background()

	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "order", trace: "tA", span: "root", kind: ptrace.SpanKindServer, attrs: map[string]any{"order_id": "ORD-9"}},
		sp{svc: "order", trace: "tA", span: "pub", parent: "root", kind: ptrace.SpanKindProducer},
	)))
	// lost Kafka header: a new root in fulfilment with the same order
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "fulfilment", trace: "tB", span: "cons", kind: ptrace.SpanKindConsumer, attrs: map[string]any{"messaging.kafka.message.key": "ORD-9"}},
	)))
	// a span whose parent never arrives (an uninstrumented caller)
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "payment", trace: "tC", span: "cb", parent: "lost", kind: ptrace.SpanKindServer, attrs: map[string]any{"trade_no": "TR-1"}},
	)))
	metadatatest.AssertEqualProcessorBizDyeStitchedLinks(t, tt, []metricdata.DataPoint[int64]{
		sum(1, attribute.String("parent_service", "order"), attribute.String("child_service", "fulfilment")),
	}, ignoreTime...)

	h.advance(2 * time.Minute)
	metadatatest.AssertEqualProcessorBizDyeOrphanSpans(t, tt, []metricdata.DataPoint[int64]{
		sum(1, attribute.String("parent_service", "unknown"), attribute.String("child_service", "payment")),
	}, ignoreTime...)
	// ttl also forgot every trace
	metadatatest.AssertEqualProcessorBizDyeRegistrySize(t, tt, []metricdata.DataPoint[int64]{sum(0)}, ignoreTime...)
}

func TestTelemetryBoundsAndOverflow(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := testConfig()
	cfg.MaxTraces = 2
	cfg.MaxBufferedSpans = 1
	cfg.MaxServices = 1
	cfg.MaxValuesPerKey = 1
	cfg.MaxPendingParents = 1
	h := newHarness(t, cfg, metadatatest.NewSettings(tt).TelemetrySettings)
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, h.p.ConsumeTraces(ctx, traces(
			sp{svc: "order", trace: fmt.Sprintf("d%d", i), span: "r", attrs: map[string]any{"order_id": fmt.Sprintf("ORD-%d", i)}},
		)))
	}
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "a", trace: "h1", span: "1", parent: "x"},
		sp{svc: "b", trace: "h2", span: "1", parent: "y"},
		sp{svc: "c", trace: "m", span: "1", attrs: map[string]any{"sku": "S1"}},
		sp{svc: "c", trace: "m", span: "2", parent: "1", attrs: map[string]any{"sku": "S2"}},
	)))
	assert.LessOrEqual(t, h.p.reg.len(), 2)
	metadatatest.AssertEqualProcessorBizDyeRegistryEvictions(t, tt, []metricdata.DataPoint[int64]{sum(2)}, ignoreTime...)
	metadatatest.AssertEqualProcessorBizDyeEarlyReleases(t, tt, []metricdata.DataPoint[int64]{sum(1)}, ignoreTime...)
	metadatatest.AssertEqualProcessorBizDyeValuesDropped(t, tt, []metricdata.DataPoint[int64]{
		sum(1, attribute.String("reason", "too_many_values")),
	}, ignoreTime...)
	metadatatest.AssertEqualProcessorBizDyeOrphanChecksDropped(t, tt, []metricdata.DataPoint[int64]{sum(1)}, ignoreTime...)
	assert.Equal(t, []string{serviceUnknown, serviceOther, "order"}, h.p.services.names, "service names are bounded")
}

// TestReleaseLoop runs the real Start/Shutdown lifecycle: the ticker
// releases a held trace after wait.
func TestReleaseLoop(t *testing.T) {
	cfg := testConfig()
	cfg.Wait = 20 * time.Millisecond
	sink := &consumertest.TracesSink{}
	tp, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, tp.ConsumeTraces(context.Background(), traces(sp{svc: "a", trace: "w", span: "1", parent: "0"})))
	require.Eventually(t, func() bool { return sink.SpanCount() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, tp.Shutdown(context.Background()))
}

// TestShutdownFlushesHeld: nothing held is lost when the collector stops.
func TestShutdownFlushesHeld(t *testing.T) {
	cfg := testConfig()
	cfg.Wait = time.Hour
	sink := &consumertest.TracesSink{}
	tp, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, tp.ConsumeTraces(context.Background(), traces(sp{svc: "a", trace: "w", span: "1", parent: "0"})))
	assert.Equal(t, 0, sink.SpanCount())
	require.NoError(t, tp.Shutdown(context.Background()))
	assert.Equal(t, 1, sink.SpanCount())
}

// TestConcurrentConsumers drives traces and logs from several goroutines
// (run with -race): every item comes out exactly once.
func TestConcurrentConsumers(t *testing.T) {
	cfg := testConfig()
	cfg.Wait = 5 * time.Millisecond
	tsink, lsink := &consumertest.TracesSink{}, &consumertest.LogsSink{}
	set := processortest.NewNopSettings(metadata.Type)
	tp, err := NewFactory().CreateTraces(context.Background(), set, cfg, tsink)
	require.NoError(t, err)
	lp, err := NewFactory().CreateLogs(context.Background(), set, cfg, lsink)
	require.NoError(t, err)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, lp.Start(context.Background(), componenttest.NewNopHost()))

	const workers, batches = 4, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				tr := fmt.Sprintf("w%db%d", w, b%10)
				_ = tp.ConsumeTraces(context.Background(), traces(
					sp{svc: "a", trace: tr, span: fmt.Sprintf("c%d", b), parent: "r"},
					sp{svc: "b", trace: tr, span: "r", attrs: map[string]any{"order_id": fmt.Sprintf("ORD-%d", b%3)}},
				))
				_ = lp.ConsumeLogs(context.Background(), logs(lg{svc: "a", trace: tr, body: "x"}))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, tp.Shutdown(context.Background()))
	require.NoError(t, lp.Shutdown(context.Background()))
	assert.Equal(t, workers*batches*2, tsink.SpanCount())
	assert.Equal(t, workers*batches, lsink.LogRecordCount())
}

// TestStitchingIgnoresSharedValues: values that several unrelated flows carry
// on their producer spans (a user tier, a popular sku) never link traces;
// the order id, carried by one flow only, does.
func TestStitchingIgnoresSharedValues(t *testing.T) {
	h := newHarness(t, testConfig(), component.TelemetrySettings{})
	ctx := context.Background()
	for i, tr := range []string{"A", "B"} {
		require.NoError(t, h.p.ConsumeTraces(ctx, traces(
			sp{svc: "order", trace: tr, span: "root", kind: ptrace.SpanKindServer, attrs: map[string]any{"order_id": fmt.Sprintf("ORD-%d", i), "sku": "SKU-POPULAR"}},
			sp{svc: "order", trace: tr, span: "pub", parent: "root", kind: ptrace.SpanKindProducer, attrs: map[string]any{"sku": "SKU-POPULAR", "baggage": "user_tier=gold"}},
		)))
	}
	// a consumer root sharing only the popular sku and the tier: no link
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "fulfilment", trace: "C", span: "c", kind: ptrace.SpanKindConsumer, attrs: map[string]any{"sku": "SKU-POPULAR", "baggage": "user_tier=gold"}},
	)))
	// a consumer root carrying order A's id: linked to A
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "fulfilment", trace: "D", span: "d", kind: ptrace.SpanKindConsumer, attrs: map[string]any{"order_id": "ORD-0", "sku": "SKU-POPULAR"}},
	)))
	h.advance(3 * time.Second)
	links := map[string]int{}
	for _, td := range h.traces.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					for _, l := range s.Links().All() {
						assert.Equal(t, tid("A"), l.TraceID())
						links[s.SpanID().String()]++
					}
				}
			}
		}
	}
	assert.Equal(t, map[string]int{sid("d").String(): 1}, links)
}

// TestRegistrySurvivesRestart: with `storage`, the registry is saved at
// shutdown and loaded at start, so a late span arriving after a restart is
// still dyed with its trace's keys.
func TestRegistrySurvivesRestart(t *testing.T) {
	ctx := context.Background()
	ext := storagetest.NewFileBackedStorageExtension("dye", t.TempDir())
	host := storagetest.NewStorageHost().WithExtension(ext.ID, ext)
	run := func(storage bool, td ptrace.Traces) *consumertest.TracesSink {
		cfg := testConfig()
		if storage {
			cfg.Storage = &ext.ID
		}
		sink := &consumertest.TracesSink{}
		tp, err := NewFactory().CreateTraces(ctx, processortest.NewNopSettings(metadata.Type), cfg, sink)
		require.NoError(t, err)
		require.NoError(t, tp.Start(ctx, host))
		require.NoError(t, tp.ConsumeTraces(ctx, td))
		require.NoError(t, tp.Shutdown(ctx))
		return sink
	}
	orderOf := func(sink *consumertest.TracesSink) string {
		s := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		if v, ok := s.Attributes().Get("biz.order_id"); ok {
			return v.AsString()
		}
		return ""
	}
	run(true, traces(sp{svc: "order", trace: "r1", span: "root", attrs: map[string]any{"order_id": "ORD-R"}}))
	late := func() ptrace.Traces { return traces(sp{svc: "notify", trace: "r1", span: "late", parent: "root"}) }
	assert.Equal(t, "ORD-R", orderOf(run(true, late())), "dyed from the restored registry")
	assert.Empty(t, orderOf(run(false, late())), "without storage a restart forgets")
}

// TestInvalidKeyValues: a value that is not valid UTF-8, or a NaN or
// infinite number, is no business key: it is counted and not stamped, and
// the trace's valid keys still dye every span.
func TestInvalidKeyValues(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	h := newHarness(t, testConfig(), metadatatest.NewSettings(tt).TelemetrySettings)
	require.NoError(t, h.p.ConsumeTraces(context.Background(), traces(
		sp{svc: "order", trace: "t1", span: "r", attrs: map[string]any{"order_id": math.NaN(), "sku": "S1"}},
		sp{svc: "order", trace: "t1", span: "a", parent: "r", attrs: map[string]any{"order_id": "ORD-\xff1", "trade_no": math.Inf(-1)}},
		sp{svc: "payment", trace: "t1", span: "b", parent: "a", attrs: map[string]any{"app.order.id": "ORD-7", "canary": []any{math.Inf(1)}}},
	)))
	h.advance(time.Minute)
	spans := 0
	for _, rs := range h.allTraces().ResourceSpans().All() {
		for _, s := range rs.ScopeSpans().At(0).Spans().All() {
			spans++
			got := s.Attributes().AsRaw()
			assert.Equal(t, "ORD-7", got["biz.order_id"], "span %s", s.SpanID())
			assert.Equal(t, "S1", got["biz.sku"], "span %s", s.SpanID())
			assert.NotContains(t, got, "biz.trade_no")
			assert.NotContains(t, got, "biz.canary")
		}
	}
	assert.Equal(t, 3, spans)
	metadatatest.AssertEqualProcessorBizDyeValuesDropped(t, tt, []metricdata.DataPoint[int64]{
		sum(4, attribute.String("reason", "invalid")),
	}, ignoreTime...)
}

// TestRegistrySnapshotWhileRunning: with `storage`, the registry is saved
// every snapshot_interval, so a crash (no Shutdown) keeps all but the last
// interval of it.
func TestRegistrySnapshotWhileRunning(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(ctx)) })
	ext := storagetest.NewFileBackedStorageExtension("dye", t.TempDir())
	host := storagetest.NewStorageHost().WithExtension(ext.ID, ext)
	cfg := testConfig()
	cfg.Storage = &ext.ID
	clock := clockwork.NewFakeClockAt(fakeClockStart)
	p, err := newBizDye(component.MustNewID("biz_dye"), metadatatest.NewSettings(tel).TelemetrySettings, cfg, clock)
	require.NoError(t, err)
	p.nextTraces, p.nextLogs = &consumertest.TracesSink{}, &consumertest.LogsSink{}
	require.NoError(t, p.Start(ctx, host))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(ctx)) })

	require.NoError(t, p.ConsumeTraces(ctx, traces(sp{svc: "order", trace: "s1", span: "root", attrs: map[string]any{"order_id": "ORD-S"}})))
	require.NoError(t, clock.BlockUntilContext(ctx, 2)) // the release and snapshot tickers
	clock.Advance(cfg.SnapshotInterval)
	require.Eventually(t, func() bool {
		buf, err := p.client.Get(ctx, registryKey)
		return err == nil && bytes.Contains(buf, []byte("ORD-S"))
	}, 5*time.Second, 10*time.Millisecond)
	metadatatest.AssertEqualProcessorBizDyeRegistrySnapshots(t, tel,
		[]metricdata.DataPoint[int64]{sum(1, attribute.String("outcome", "ok"))}, ignoreTime...)
}
