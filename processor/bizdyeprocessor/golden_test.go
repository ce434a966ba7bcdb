package bizdyeprocessor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/internal/goldentest"
)

// step is one batch of input, then a clock advance.
type step struct {
	traces  ptrace.Traces
	logs    plog.Logs
	advance time.Duration
}

// goldenCases: testdata/golden/<name>/step<N>_{traces,logs}.yaml are the
// inputs, expected_{traces,logs}.yaml everything that came out, in order,
// until Shutdown. `go test -run TestGolden -update` rewrites both from the
// definitions below; without -update the files must match the definitions.
var goldenCases = []struct {
	name  string
	cfg   func(*Config)
	steps []step
}{
	{
		// order_id is set on a child; the children arrive first and are held,
		// the dyed child releases them, the root comes last (fast path).
		name: "root_last",
		steps: []step{
			{traces: traces(
				sp{svc: "inventory", trace: "t1", span: "inv", parent: "ord", name: "deduct", kind: ptraceServer},
				sp{svc: "payment", trace: "t1", span: "pay", parent: "ord", name: "charge", kind: ptraceServer},
			), advance: 500 * time.Millisecond},
			{traces: traces(
				sp{svc: "order", trace: "t1", span: "ord", parent: "gw", name: "createOrder", kind: ptraceServer, attrs: map[string]any{"order_id": "ORD-1", "sku": "SKU-9"}},
			), advance: 500 * time.Millisecond},
			{traces: traces(
				sp{svc: "gateway", trace: "t1", span: "gw", name: "POST /checkout", kind: ptraceServer, attrs: map[string]any{"user.id": "alice"}},
			), advance: 3 * time.Second},
		},
	},
	{
		// spans of a trace that never yields a key wait `wait`, then leave unchanged;
		// a lone root passes at once.
		name: "never_dyed",
		steps: []step{
			{traces: traces(
				sp{svc: "search", trace: "t2", span: "s1", parent: "s0", name: "query"},
				sp{svc: "search", trace: "t3", span: "r1", name: "GET /health", kind: ptraceServer},
			), advance: 1 * time.Second},
			{advance: 1500 * time.Millisecond},
		},
	},
	{
		// a span arriving after the root (and after wait) is dyed from the registry.
		name: "late_span",
		steps: []step{
			{traces: traces(
				sp{svc: "order", trace: "t4", span: "root", name: "createOrder", kind: ptraceServer, attrs: map[string]any{"order_id": "ORD-4"}},
			), advance: 5 * time.Second},
			{traces: traces(
				sp{svc: "notify", trace: "t4", span: "late", parent: "root", name: "sendMail", kind: ptraceInternal},
			)},
		},
	},
	{
		// every source type, one trace each.
		name: "sources",
		steps: []step{{traces: traces(
			sp{svc: "a", trace: "attr", span: "1", name: "attribute", attrs: map[string]any{"app.order.id": "ORD-11", "canary": true}},
			sp{svc: "a", trace: "hdr", span: "1", name: "header", attrs: map[string]any{"http.request.header.x-order-id": []any{"ORD-12"}}},
			sp{svc: "a", trace: "bag", span: "1", name: "baggage", attrs: map[string]any{"baggage": "user_tier=gold, order_id=ORD%2D13;p=1"}},
			sp{svc: "a", trace: "baghdr", span: "1", name: "baggage header", attrs: map[string]any{"http.request.header.baggage": []any{"user_tier=vip"}}},
			sp{svc: "a", trace: "url", span: "1", name: "url.path", attrs: map[string]any{"url.path": "/api/orders/ORD-14"}},
			sp{svc: "a", trace: "target", span: "1", name: "http.target", attrs: map[string]any{"http.target": "/api/orders/ORD-15?expand=items"}},
			sp{svc: "a", trace: "route", span: "1", name: "http.route is a template, not a value", attrs: map[string]any{"http.route": "/api/orders/{id}"}},
			sp{svc: "a", trace: "regex", span: "1", name: "regex", kind: ptraceConsumer, attrs: map[string]any{"messaging.kafka.message.key": "ORD-16"}},
			sp{svc: "a", trace: "nomatch", span: "1", name: "regex without match", attrs: map[string]any{"messaging.kafka.message.key": "INV-16"}},
			sp{svc: "a", trace: "intval", span: "1", name: "int attribute", attrs: map[string]any{"order_id": 17}},
		)}},
	},
	{
		// two values of one key make a string slice; max_values_per_key bounds it.
		name: "multi_valued",
		cfg:  func(c *Config) { c.MaxValuesPerKey = 2 },
		steps: []step{{traces: traces(
			sp{svc: "cart", trace: "t5", span: "root", name: "checkout", attrs: map[string]any{"sku": "SKU-1"}},
			sp{svc: "cart", trace: "t5", span: "c1", parent: "root", name: "add", attrs: map[string]any{"sku": "SKU-2"}},
			sp{svc: "cart", trace: "t5", span: "c2", parent: "root", name: "add", attrs: map[string]any{"sku": "SKU-3"}},
		)}},
	},
	{
		// user_id is replaced by its salted SHA-256; truncation at max_value_length.
		name: "hashing",
		cfg:  func(c *Config) { c.MaxValueLength = 8 },
		steps: []step{{traces: traces(
			sp{svc: "gateway", trace: "t6", span: "root", name: "login", attrs: map[string]any{"user.id": "alice@example.com", "trade_no": "TRADE-2026-000001"}},
		)}},
	},
	{
		// logs: dyed by their trace (also when they arrive first and wait), by
		// their own body without a trace, and released unchanged after wait.
		name: "logs",
		steps: []step{
			{logs: logs(
				lg{svc: "payment", trace: "t7", span: "pay", body: "charging card"},
				lg{svc: "legacy", body: "12:00:01 INFO order_id=ORD-70 shipped"},
				lg{svc: "search", trace: "t8", body: "no keys anywhere"},
			), advance: 500 * time.Millisecond},
			{traces: traces(
				sp{svc: "payment", trace: "t7", span: "pay", name: "charge", attrs: map[string]any{"trade_no": "TR-7"}},
			), logs: logs(
				lg{svc: "payment", trace: "t7", span: "pay", body: "charged"},
			), advance: 3 * time.Second},
		},
	},
	{
		// a lost Kafka header splits one order into two traces: the consumer's
		// root links back to the producer span and inherits the order's keys.
		name: "async_split",
		steps: []step{
			{traces: traces(
				sp{svc: "order", trace: "tA", span: "root", name: "POST /orders", kind: ptraceServer, attrs: map[string]any{"order_id": "ORD-77", "user.id": "bob"}},
				sp{svc: "order", trace: "tA", span: "pub", parent: "root", name: "orders publish", kind: ptraceProducer, attrs: map[string]any{"messaging.kafka.message.key": "ORD-77"}},
			), advance: time.Second},
			{traces: traces(
				sp{svc: "fulfilment", trace: "tB", span: "cons", name: "orders process", kind: ptraceConsumer, attrs: map[string]any{"messaging.kafka.message.key": "ORD-77"}},
				sp{svc: "fulfilment", trace: "tB", span: "ship", parent: "cons", name: "ship", kind: ptraceInternal},
			)},
		},
	},
	{
		// the same split, but the consumer's trace reaches the processor
		// first (Kafka partitions are consumed independently): it is held up
		// to wait, the producer's trace arrives, and the link is made when
		// the consumer's trace is released.
		name: "async_split_consumer_first",
		steps: []step{
			{traces: traces(
				sp{svc: "fulfilment", trace: "tF", span: "cons", name: "orders process", kind: ptraceConsumer, attrs: map[string]any{"messaging.kafka.message.key": "ORD-79"}},
				sp{svc: "fulfilment", trace: "tF", span: "ship", parent: "cons", name: "ship", kind: ptraceInternal},
			), advance: 500 * time.Millisecond},
			{traces: traces(
				sp{svc: "order", trace: "tE", span: "root", name: "POST /orders", kind: ptraceServer, attrs: map[string]any{"order_id": "ORD-79", "canary": true}},
				sp{svc: "order", trace: "tE", span: "pub", parent: "root", name: "orders publish", kind: ptraceProducer, attrs: map[string]any{"messaging.kafka.message.key": "ORD-79"}},
			), advance: 2 * time.Second},
		},
	},
	{
		// keys flow over an existing span link (a consumer linking its producer).
		name: "span_link_inherit",
		cfg:  func(c *Config) { c.LinkAsync = false },
		steps: []step{
			{traces: traces(
				sp{svc: "order", trace: "tC", span: "root", name: "POST /orders", kind: ptraceServer, attrs: map[string]any{"order_id": "ORD-78"}},
			)},
			{traces: traces(
				sp{svc: "fulfilment", trace: "tD", span: "cons", name: "orders process", kind: ptraceConsumer, links: [][2]string{{"tC", "root"}}},
			)},
		},
	},
	{
		// VIP (baggage) and canary traces get biz.keep=true on every span.
		name: "keep",
		steps: []step{{traces: traces(
			sp{svc: "gateway", trace: "vip", span: "root", name: "checkout", attrs: map[string]any{"baggage": "user_tier=vip"}},
			sp{svc: "order", trace: "vip", span: "c", parent: "root", name: "createOrder", attrs: map[string]any{"order_id": "ORD-80"}},
			sp{svc: "gateway", trace: "plain", span: "root", name: "checkout", attrs: map[string]any{"baggage": "user_tier=gold"}},
		)}},
	},
	{
		// the hold buffer is full: the oldest held trace leaves early, unchanged.
		name: "early_release",
		cfg:  func(c *Config) { c.MaxBufferedSpans = 2 },
		steps: []step{
			{traces: traces(sp{svc: "a", trace: "h1", span: "1", parent: "0", name: "first"})},
			{traces: traces(sp{svc: "a", trace: "h2", span: "1", parent: "0", name: "second"})},
			{traces: traces(sp{svc: "a", trace: "h3", span: "1", parent: "0", name: "third"}), advance: 3 * time.Second},
		},
	},
}

const (
	ptraceServer   = ptrace.SpanKindServer
	ptraceConsumer = ptrace.SpanKindConsumer
	ptraceProducer = ptrace.SpanKindProducer
	ptraceInternal = ptrace.SpanKindInternal
)

func TestGolden(t *testing.T) {
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "golden", gc.name)
			cfg := testConfig()
			if gc.cfg != nil {
				gc.cfg(cfg)
			}
			h := newHarness(t, cfg, component.TelemetrySettings{})
			inSpans, inLogs := 0, 0
			for i, st := range gc.steps {
				td := goldenInputTraces(t, filepath.Join(dir, fmt.Sprintf("step%d_traces.yaml", i)), st.traces)
				ld := goldenInputLogs(t, filepath.Join(dir, fmt.Sprintf("step%d_logs.yaml", i)), st.logs)
				inSpans += td.SpanCount()
				inLogs += ld.LogRecordCount()
				if td.ResourceSpans().Len() > 0 {
					require.NoError(t, h.p.ConsumeTraces(context.Background(), td))
				}
				if ld.ResourceLogs().Len() > 0 {
					require.NoError(t, h.p.ConsumeLogs(context.Background(), ld))
				}
				if st.advance > 0 {
					h.advance(st.advance)
				}
			}
			require.NoError(t, h.p.Shutdown(context.Background()))
			gotTraces, gotLogs := h.allTraces(), h.allLogs()
			require.Equal(t, inSpans, gotTraces.SpanCount(), "no span is dropped or duplicated")
			require.Equal(t, inLogs, gotLogs.LogRecordCount(), "no log is dropped or duplicated")

			tracesPath, logsPath := filepath.Join(dir, "expected_traces.yaml"), filepath.Join(dir, "expected_logs.yaml")
			if *goldentest.Update {
				require.NoError(t, goldentest.WriteTraces(tracesPath, gotTraces))
				require.NoError(t, goldentest.WriteLogs(logsPath, gotLogs))
				return
			}
			wantTraces, err := goldentest.ReadTraces(tracesPath)
			require.NoError(t, err)
			require.NoError(t, ptracetest.CompareTraces(wantTraces, gotTraces,
				ptracetest.IgnoreResourceSpansOrder(), ptracetest.IgnoreScopeSpansOrder(), ptracetest.IgnoreSpansOrder()))
			wantLogs, err := goldentest.ReadLogs(logsPath)
			require.NoError(t, err)
			require.NoError(t, plogtest.CompareLogs(wantLogs, gotLogs,
				plogtest.IgnoreResourceLogsOrder(), plogtest.IgnoreScopeLogsOrder(), plogtest.IgnoreLogRecordsOrder()))
		})
	}
}

// goldenInputTraces returns the input batch from its golden file, checking
// that the file still matches the case's definition (or writing it with -update).
func goldenInputTraces(t *testing.T, path string, def ptrace.Traces) ptrace.Traces {
	t.Helper()
	if def == (ptrace.Traces{}) {
		def = ptrace.NewTraces()
	}
	if *goldentest.Update {
		c := ptrace.NewTraces()
		def.CopyTo(c)
		def = c // the processor moves spans out of its input
		if def.ResourceSpans().Len() > 0 {
			require.NoError(t, goldentest.WriteTraces(path, def))
		}
		return def
	}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		require.Equal(t, 0, def.ResourceSpans().Len(), "%s is missing: run go test -update", path)
		return def
	}
	td, err := goldentest.ReadTraces(path)
	require.NoError(t, err)
	require.NoError(t, ptracetest.CompareTraces(def, td), "%s differs from its definition: run go test -update", path)
	return td
}

func goldenInputLogs(t *testing.T, path string, def plog.Logs) plog.Logs {
	t.Helper()
	if def == (plog.Logs{}) {
		def = plog.NewLogs()
	}
	if *goldentest.Update {
		c := plog.NewLogs()
		def.CopyTo(c)
		def = c
		if def.ResourceLogs().Len() > 0 {
			require.NoError(t, goldentest.WriteLogs(path, def))
		}
		return def
	}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		require.Equal(t, 0, def.ResourceLogs().Len(), "%s is missing: run go test -update", path)
		return def
	}
	ld, err := goldentest.ReadLogs(path)
	require.NoError(t, err)
	require.NoError(t, plogtest.CompareLogs(def, ld), "%s differs from its definition: run go test -update", path)
	return ld
}
