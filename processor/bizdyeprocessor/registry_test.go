package bizdyeprocessor

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadatatest"
)

// snapshotV1 is a registry snapshot of testConfig's key list, least recently
// seen first: trace s1 (keep, released, stitched; 4 s old) with order_id and
// canary, then s2 (no flags; 1 s old) with a hashed user_id and a sku. Saved
// snapshots must keep loading across versions, so its bytes are fixed.
const snapshotV1 = "biz_dye registry v1\x00order_id\x00user_id\x00sku\x00trade_no\x00user_tier\x00canary\n" +
	"s100000000000000\x04\x10\a\x00\x00\x05ORD-1\x05\x00\x04true" +
	"s200000000000000\x01L\x00\x01\x00@c774cc418908ffd617fee6540a8766599743226b49e3794a629373e1ae5cd131\x02\x00\x05SKU-2"

func newMemoryClient() *storagetest.TestClient {
	return storagetest.NewInMemoryClient(component.KindProcessor, component.MustNewID("biz_dye"), "")
}

// TestRegistrySnapshotBytes: the snapshot format on disk does not change.
func TestRegistrySnapshotBytes(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "order", trace: "s1", span: "r", attrs: map[string]any{"order_id": "ORD-1", "canary": true}})))
	h.advance(3 * time.Second)
	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "shop", trace: "s2", span: "c", parent: "x", attrs: map[string]any{"sku": "SKU-2", "user.id": "bob"}})))
	h.advance(time.Second)
	client := newMemoryClient()
	h.p.client = client
	require.NoError(t, h.p.saveRegistry(ctx))
	got, err := client.Get(ctx, registryKey)
	require.NoError(t, err)
	assert.Equal(t, snapshotV1, string(got))
}

// TestRegistrySnapshotLoad loads a fixed snapshot: live entries dye late
// spans, an awaiting entry is no longer held (its held spans did not survive
// the restart), an entry older than ttl is skipped, and a damaged tail stops
// the load without losing what precedes it.
func TestRegistrySnapshotLoad(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, testConfig(), componenttest.NewNopTelemetrySettings())
	client := newMemoryClient()
	snapshot := snapshotV1 +
		"s300000000000000\x00\x09\x08\x00\x00\x05ORD-3" + // awaiting its producer
		"s400000000000000\xbc\x05\x09\x00\x00\x00\x05ORD-4" + // 700 s old: beyond ttl
		"s5000" // damaged: a truncated trace id
	require.NoError(t, client.Set(ctx, registryKey, []byte(snapshot)))
	h.p.client = client
	h.p.loadRegistry(ctx)

	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "notify", trace: "s1", span: "late", parent: "r"},
		sp{svc: "shop", trace: "s2", span: "late2", parent: "c"},
		sp{svc: "ship", trace: "s3", span: "c3", kind: ptrace.SpanKindConsumer},
		sp{svc: "notify", trace: "s4", span: "late4", parent: "r4"},
	)))
	out := h.allTraces()
	for span, want := range map[string]map[string]string{
		"late":  {"biz.order_id": "ORD-1", "biz.canary": "true", "biz.keep": "true"},
		"late2": {"biz.sku": "SKU-2", "biz.user_id": "c774cc418908ffd617fee6540a8766599743226b49e3794a629373e1ae5cd131"},
		"c3":    {"biz.order_id": "ORD-3"},
	} {
		for key, v := range want {
			got, ok := spanAttr(out, span, key)
			assert.True(t, ok, "%s has no %s", span, key)
			assert.Equal(t, v, got, "%s %s", span, key)
		}
	}
	assert.Equal(t, 3, out.SpanCount(), "the span of the expired trace is held")
}

// unreadableStorage is a storage extension whose clients fail every Get.
type unreadableStorage struct {
	*storagetest.TestStorage
}

func (s unreadableStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.TestStorage.GetClient(ctx, kind, id, name)
	return unreadableClient{Client: c}, err
}

type unreadableClient struct {
	storage.Client
}

func (unreadableClient) Get(context.Context, string) ([]byte, error) {
	return nil, errors.New("disk read error")
}

// TestRegistryLoadErrorIsCounted: when the saved registry cannot be read,
// Start still succeeds, the error is logged and counted, and the processor
// runs with an empty registry.
func TestRegistryLoadErrorIsCounted(t *testing.T) {
	ctx := context.Background()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(ctx)) })
	set := metadatatest.NewSettings(tt).TelemetrySettings
	core, logged := observer.New(zap.WarnLevel)
	set.Logger = zap.New(core)
	ext := unreadableStorage{TestStorage: storagetest.NewInMemoryStorageExtension("dye")}
	cfg := testConfig()
	cfg.Storage = &ext.ID
	h := newHarness(t, cfg, set)

	require.NoError(t, h.p.Start(ctx, storagetest.NewStorageHost().WithExtension(ext.ID, ext)))
	metadatatest.AssertEqualProcessorBizDyeRegistryLoadErrors(t, tt, []metricdata.DataPoint[int64]{sum(1)}, ignoreTime...)
	assert.Equal(t, 1, logged.FilterMessageSnippet("reading the saved registry failed").Len())
	assert.Equal(t, 0, h.p.reg.len())

	require.NoError(t, h.p.ConsumeTraces(ctx, traces(
		sp{svc: "order", trace: "t1", span: "r", attrs: map[string]any{"order_id": "ORD-1"}})))
	v, _ := attrOf(h.allTraces(), "r")
	assert.Equal(t, "ORD-1", v)
}

// TestProducerIndexSurvivesRestart: a consumer trace that lost its header
// and arrives after a restart still links to its producer span, indexed
// before the restart (kill -9 included: the index is in every snapshot).
func TestProducerIndexSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	ext := storagetest.NewFileBackedStorageExtension("dye", t.TempDir())
	host := storagetest.NewStorageHost().WithExtension(ext.ID, ext)
	run := func(td ptrace.Traces) ptrace.Traces {
		cfg := testConfig()
		cfg.Storage = &ext.ID
		h := newHarness(t, cfg, componenttest.NewNopTelemetrySettings())
		require.NoError(t, h.p.Start(ctx, host))
		require.NoError(t, h.p.ConsumeTraces(ctx, td))
		require.NoError(t, h.p.Shutdown(ctx))
		return h.allTraces()
	}
	run(traces(
		sp{svc: "order", trace: "p1", span: "pub", parent: "root", kind: ptrace.SpanKindProducer, attrs: map[string]any{"order_id": "ORD-9"}},
		sp{svc: "order", trace: "p1", span: "root", kind: ptrace.SpanKindServer, attrs: map[string]any{"order_id": "ORD-9"}},
	))
	out := run(traces(sp{svc: "fulfilment", trace: "c1", span: "consume", kind: ptrace.SpanKindConsumer, attrs: map[string]any{"order_id": "ORD-9"}}))
	s := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	require.Equal(t, 1, s.Links().Len(), "linked across the restart")
	assert.Equal(t, sid("pub"), s.Links().At(0).SpanID())
	assert.Equal(t, tid("p1"), s.Links().At(0).TraceID())
}

// TestProducerSnapshotRoundTrip: every field survives; another key list or
// a damaged snapshot is refused (up to the damage).
func TestProducerSnapshotRoundTrip(t *testing.T) {
	keys := testConfig().Keys
	reg := newTraceRegistry(10, keys)
	names := newServiceNames(8)
	x := newProducerIndex(10, keys)
	x.add(producerRef{trace: tid("a"), span: sid("a1"), kind: ptrace.SpanKindProducer, service: names.id("order")}, dyeOf("ORD-1"), "")
	x.add(producerRef{trace: tid("b"), span: sid("b1"), kind: ptrace.SpanKindClient, service: names.id("cart"), pending: true}, dyeOf("ORD-2"), "")
	x.add(producerRef{trace: tid("c"), span: sid("c1"), kind: ptrace.SpanKindProducer, service: names.id("order")}, dyeOf("ORD-1"), "") // ambiguous now
	buf := x.encode(reg.header, names.name)

	names2 := newServiceNames(8)
	y := newProducerIndex(10, keys)
	n, err := y.decode(buf, reg.header, names2.id)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, x.indexed, y.indexed)
	assert.Equal(t, x.shared, y.shared)
	for _, val := range []string{"ORD-1", "ORD-2"} {
		k := producerKey(0, val)
		a, b := *x.refs.at(x.refs.lookup(k)), *y.refs.at(y.refs.lookup(k))
		assert.Equal(t, names.name(a.service), names2.name(b.service), val)
		a.service, b.service = 0, 0
		assert.Equal(t, a, b, val)
	}

	_, err = newProducerIndex(10, keys[:1]).decode(buf, newTraceRegistry(10, keys[:1]).header, names2.id)
	require.ErrorIs(t, err, errOtherKeyList)
	n, err = newProducerIndex(10, keys).decode(buf[:len(buf)-3], reg.header, names2.id)
	require.ErrorIs(t, err, errDamaged)
	assert.Equal(t, 1, n, "the record before the damage")
}

// TestProducerSnapshotV1: a snapshot written before values were hashed
// (key byte and value in place of producerKey) still loads, its values
// found by their hash.
func TestProducerSnapshotV1(t *testing.T) {
	keys := testConfig().Keys
	reg := newTraceRegistry(10, keys)
	buf := []byte(producersMagicV1 + reg.header)
	for range keys {
		buf = binary.AppendUvarint(buf, 3) // indexed
		buf = binary.AppendUvarint(buf, 1) // shared
	}
	record := func(buf []byte, key uint8, val, trace, span string, kind ptrace.SpanKind, flags byte, svc string) []byte {
		buf = binary.AppendUvarint(buf, uint64(1+len(val)))
		buf = append(append(buf, key), val...)
		tr, sp := tid(trace), sid(span)
		buf = append(append(buf, tr[:]...), sp[:]...)
		buf = append(buf, byte(kind), flags)
		buf = binary.AppendUvarint(buf, uint64(len(svc)))
		return append(buf, svc...)
	}
	counted := len(buf)
	buf = record(buf, 0, "ORD-1", "a", "a1", ptrace.SpanKindProducer, 0, "order")
	buf = record(buf, 0, "ORD-2", "b", "b1", ptrace.SpanKindClient, refAmbiguous|refPending, "cart")

	names := newServiceNames(8)
	x := newProducerIndex(10, keys)
	n, err := x.decode(buf, reg.header, names.id)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(3), x.indexed[0])
	assert.Equal(t, int64(1), x.shared[0])
	got1 := *x.refs.at(x.refs.lookup(producerKey(0, "ORD-1")))
	assert.Equal(t, producerRef{trace: tid("a"), span: sid("a1"), kind: ptrace.SpanKindProducer, service: names.id("order")}, got1)
	got2 := *x.refs.at(x.refs.lookup(producerKey(0, "ORD-2")))
	assert.Equal(t, producerRef{trace: tid("b"), span: sid("b1"), kind: ptrace.SpanKindClient, service: names.id("cart"), ambiguous: true, pending: true}, got2)

	n, err = newProducerIndex(10, keys).decode(buf[:len(buf)-3], reg.header, names.id)
	require.ErrorIs(t, err, errDamaged)
	assert.Equal(t, 1, n, "the record before the damage")
	_, err = newProducerIndex(10, keys).decode(record(buf[:counted:counted], uint8(len(keys)), "x", "c", "c1", 0, 0, ""), reg.header, names.id)
	require.ErrorIs(t, err, errDamaged, "a key byte past the key list")
}

// dyeOf is a dye with one order_id value (key 0).
func dyeOf(order string) string {
	d, _, _ := dyeAdd("", keyValue{key: 0, value: order}, 8)
	return d
}

// TestIndexPlan: a trace's values go into the producer index once per span
// kind (a PRODUCER span replaces a CLIENT one), then only its new values;
// a pending trace is always indexed in full.
func TestIndexPlan(t *testing.T) {
	dye := dyeOf("ORD-1")
	tests := []struct {
		name      string
		kind      ptrace.SpanKind
		was, now  uint8
		changed   bool
		wantIndex bool
		wantKnown string
	}{
		{name: "never indexed", kind: ptrace.SpanKindClient, wantIndex: true},
		{name: "indexed, unchanged", kind: ptrace.SpanKindClient, was: flagIndexed, now: flagIndexed},
		{name: "indexed, new values", kind: ptrace.SpanKindClient, was: flagIndexed, now: flagIndexed, changed: true, wantIndex: true, wantKnown: dye},
		{name: "a PRODUCER after a CLIENT", kind: ptrace.SpanKindProducer, was: flagIndexed, now: flagIndexed, wantIndex: true},
		{name: "a CLIENT after a PRODUCER", kind: ptrace.SpanKindClient, was: flagIndexed | flagIndexedProducer, now: flagIndexed | flagIndexedProducer},
		{name: "pending", kind: ptrace.SpanKindClient, was: flagIndexed | flagAwaiting, now: flagIndexed | flagAwaiting, wantIndex: true},
		{name: "released from pending", kind: ptrace.SpanKindClient, was: flagIndexed | flagAwaiting, now: flagIndexed | flagAwaiting | flagStitched, changed: true, wantIndex: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index, known := indexPlan(&batchTrace{producerKind: tt.kind}, newTraceEntry(tt.was, dye), tt.now, tt.changed)
			assert.Equal(t, tt.wantIndex, index)
			assert.Equal(t, tt.wantKnown, known)
		})
	}
}

// TestProducerIndexSkipsKnownValues: values the trace indexed before are
// not looked up again; new ones are added.
func TestProducerIndexSkipsKnownValues(t *testing.T) {
	keys := testConfig().Keys
	x := newProducerIndex(10, keys)
	ref := producerRef{trace: tid("a"), span: sid("a1"), kind: ptrace.SpanKindClient}
	x.add(ref, dyeOf("ORD-1"), "")
	require.Equal(t, 1, x.refs.len())
	// another trace takes ORD-1 as the next hop of a's flow; a's later
	// batch adds ORD-2 only and leaves ORD-1 to it
	next := producerRef{trace: tid("b"), span: sid("b1"), kind: ptrace.SpanKindProducer}
	linked, _, _ := dyeAdd(dyeOf("ORD-1"), keyValue{key: keyLinked, value: tid("a").String()}, 8)
	x.add(next, linked, "")
	both, _, _ := dyeAdd(dyeOf("ORD-1"), keyValue{key: 0, value: "ORD-2"}, 8)
	x.add(ref, both, dyeOf("ORD-1"))
	assert.Equal(t, 2, x.refs.len())
	got1 := *x.refs.at(x.refs.lookup(producerKey(0, "ORD-1")))
	assert.Equal(t, next.trace, got1.trace)
	assert.False(t, got1.ambiguous)
	got2 := *x.refs.at(x.refs.lookup(producerKey(0, "ORD-2")))
	assert.Equal(t, ref.trace, got2.trace)
}
