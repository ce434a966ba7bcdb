package logcorrelationprocessor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-biz/otelcol-biz/internal/goldentest"
	"github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor/internal/metadata"
	"github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor/internal/metadatatest"
)

const (
	w3cTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	w3cSpan  = "00f067aa0ba902b7"
)

// lines are the default layouts of real logging libraries, with the id
// each must yield ("" = none).
var lines = []struct {
	name, body         string
	attrs              map[string]any
	mapBody            map[string]any
	wantTrace, wantSpn string
	wantFlags          uint32
	source             string
}{
	{
		name:      "logback MDC, trace id only (%X{traceId} in brackets)",
		body:      "12:00:01.123 [main] [" + w3cTrace + "] INFO  c.e.shop.OrderService - order created",
		wantTrace: w3cTrace, source: "mdc",
	},
	{
		name:      "logback/Sleuth MDC [app,traceId,spanId]",
		body:      "2026-11-21 12:00:01.123  INFO [order-service," + w3cTrace + "," + w3cSpan + "] 4242 --- [nio-8080-exec-1] c.e.shop.OrderController : created order ORD-42",
		wantTrace: w3cTrace, wantSpn: w3cSpan, source: "mdc",
	},
	{
		name:      "log4j2 with the OTel Java agent's MDC keys",
		body:      "2026-11-21 12:00:01,123 INFO  [http-nio-8080-exec-1] c.e.shop.PaymentService: charged trace_id=" + w3cTrace + " span_id=" + w3cSpan + " trace_flags=01",
		wantTrace: w3cTrace, wantSpn: w3cSpan, wantFlags: 1, source: "key_value",
	},
	{
		name:      "zap production JSON (otelzap fields)",
		body:      `{"level":"info","ts":1763726401.123,"caller":"payment/charge.go:57","msg":"charged","trace_id":"` + w3cTrace + `","span_id":"` + w3cSpan + `","trace_flags":"01"}`,
		wantTrace: w3cTrace, wantSpn: w3cSpan, wantFlags: 1, source: "json",
	},
	{
		name:      "slog JSON handler",
		body:      `{"time":"2026-11-21T12:00:01.123456789Z","level":"INFO","msg":"reserved stock","sku":"SKU-9","traceID":"` + w3cTrace + `","spanID":"` + w3cSpan + `"}`,
		wantTrace: w3cTrace, wantSpn: w3cSpan, source: "json",
	},
	{
		name:      "zerolog, upper-case ids",
		body:      `{"level":"info","traceId":"4BF92F3577B34DA6A3CE929D0E0E4736","spanId":"00F067AA0BA902B7","time":"2026-11-21T12:00:01Z","message":"shipped"}`,
		wantTrace: w3cTrace, wantSpn: w3cSpan, source: "json",
	},
	{
		name:      "access log with a W3C traceparent",
		body:      `127.0.0.1 - - [21/Nov/2026:12:00:01 +0000] "GET /api/orders/ORD-42 HTTP/1.1" 200 512 "-" "curl/8.5" traceparent=00-` + w3cTrace + "-" + w3cSpan + "-01",
		wantTrace: w3cTrace, wantSpn: w3cSpan, wantFlags: 1, source: "traceparent",
	},
	{
		name:      "Jaeger 64-bit id, left-padded",
		body:      "INFO reporter: span reported trace_id=463ac35c9f6413ad span_id=463ac35c9f6413ad",
		wantTrace: "0000000000000000463ac35c9f6413ad", wantSpn: "463ac35c9f6413ad", source: "key_value",
	},
	{
		name:      "B3 headers dumped with ': '",
		body:      "DEBUG headers X-B3-TraceId: 463ac35c9f6413ad48485a3953bb6124 X-B3-SpanId: a2fb4a1d1a96d312 X-B3-Sampled: 1",
		wantTrace: "463ac35c9f6413ad48485a3953bb6124", wantSpn: "a2fb4a1d1a96d312", source: "key_value",
	},
	{
		name:      "uber-trace-id header",
		body:      "uber-trace-id=463ac35c9f6413ad:463ac35c9f6413ad:0:1 GET /api/stock",
		wantTrace: "0000000000000000463ac35c9f6413ad", source: "key_value",
	},
	{
		name:   "no id",
		body:   "2026-11-21 12:00:01 INFO [main] GET /health 200 0.4ms",
		source: "",
	},
	{
		name:   "all-zero id is refused",
		body:   "WARN trace_id=00000000000000000000000000000000 span_id=" + w3cSpan,
		source: "",
	},
	{
		name:   "30-hex id is refused",
		body:   "WARN trace_id=4bf92f3577b34da6a3ce929d0e0e47 done",
		source: "",
	},
	{
		name:   "40-hex (not an id) is refused",
		body:   "commit=" + w3cTrace + "abcdefab trace_id=" + w3cTrace + "abcdefab",
		source: "",
	},
	{
		name:      "attribute",
		body:      "charged",
		attrs:     map[string]any{"traceId": w3cTrace, "spanId": w3cSpan},
		wantTrace: w3cTrace, wantSpn: w3cSpan, source: "attribute",
	},
	{
		name:      "map body (parsed JSON)",
		mapBody:   map[string]any{"msg": "charged", "trace.id": w3cTrace, "span.id": w3cSpan},
		wantTrace: w3cTrace, wantSpn: w3cSpan, source: "json",
	},
	{
		name:      "custom pattern",
		body:      "payment ok tid:" + w3cTrace + "|sid:" + w3cSpan,
		wantTrace: w3cTrace, wantSpn: w3cSpan, source: "custom",
	},
}

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Custom = []CustomConfig{{Pattern: `tid:(?P<trace_id>[0-9a-f]{32})\|sid:(?P<span_id>[0-9a-f]{16})`}}
	return cfg
}

func record(ld plog.Logs, body string, mapBody, attrs map[string]any) plog.LogRecord {
	r := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	if mapBody != nil {
		require.NoError(nil, r.Body().SetEmptyMap().FromRaw(mapBody))
	} else {
		r.Body().SetStr(body)
	}
	if attrs != nil {
		_ = r.Attributes().FromRaw(attrs)
	}
	return r
}

func TestRealLayouts(t *testing.T) {
	c, err := newCorrelator(componenttest.NewNopTelemetrySettings(), testConfig())
	require.NoError(t, err)
	for _, tt := range lines {
		t.Run(tt.name, func(t *testing.T) {
			ld := plog.NewLogs()
			r := record(ld, tt.body, tt.mapBody, tt.attrs)
			var n counts
			c.correlate(r, &n)
			if tt.wantTrace == "" {
				assert.True(t, r.TraceID().IsEmpty(), "no trace id may be set, got %s", r.TraceID())
				assert.True(t, r.SpanID().IsEmpty())
				return
			}
			assert.Equal(t, tt.wantTrace, r.TraceID().String())
			if tt.wantSpn != "" {
				assert.Equal(t, tt.wantSpn, r.SpanID().String())
			} else {
				assert.True(t, r.SpanID().IsEmpty())
			}
			assert.Equal(t, plog.LogRecordFlags(tt.wantFlags), r.Flags())
			for i, v := range n.correlated {
				if sourceNames[i] == tt.source {
					assert.Equal(t, int64(1), v, "source %s", tt.source)
				} else {
					assert.Zero(t, v, "source %s", sourceNames[i])
				}
			}
		})
	}
}

func TestOverwriteAndRemoveFromBody(t *testing.T) {
	existing := pcommon.TraceID{1}
	tests := []struct {
		name      string
		overwrite bool
		remove    bool
		wantTrace string
		wantBody  string
	}{
		{name: "keep the record's own id", wantTrace: existing.String(), wantBody: "charged trace_id=" + w3cTrace + " ok"},
		{name: "overwrite", overwrite: true, wantTrace: w3cTrace, wantBody: "charged trace_id=" + w3cTrace + " ok"},
		{name: "overwrite and remove from body", overwrite: true, remove: true, wantTrace: w3cTrace, wantBody: "charged ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Overwrite, cfg.RemoveFromBody = tt.overwrite, tt.remove
			c, err := newCorrelator(componenttest.NewNopTelemetrySettings(), cfg)
			require.NoError(t, err)
			ld := plog.NewLogs()
			r := record(ld, "charged trace_id="+w3cTrace+" ok", nil, nil)
			r.SetTraceID(existing)
			var n counts
			c.correlate(r, &n)
			assert.Equal(t, tt.wantTrace, r.TraceID().String())
			assert.Equal(t, tt.wantBody, r.Body().Str())
		})
	}
}

// TestGolden runs every layout through the factory-built processor:
// testdata/golden/input.yaml -> expected.yaml (go test -update rewrites).
func TestGolden(t *testing.T) {
	ld := plog.NewLogs()
	for _, tt := range lines {
		record(ld, tt.body, tt.mapBody, tt.attrs).Attributes().PutStr("case", tt.name)
	}
	in, want := filepath.Join("testdata", "golden", "input.yaml"), filepath.Join("testdata", "golden", "expected.yaml")
	if *goldentest.Update {
		require.NoError(t, goldentest.WriteLogs(in, ld))
	}
	input, err := goldentest.ReadLogs(in)
	require.NoError(t, err)
	require.NoError(t, plogtest.CompareLogs(ld, input), "input.yaml differs from the cases: run go test -update")

	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), testConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeLogs(context.Background(), input))
	require.NoError(t, p.Shutdown(context.Background()))
	got := sink.AllLogs()[0]
	if *goldentest.Update {
		require.NoError(t, goldentest.WriteLogs(want, got))
	}
	expected, err := goldentest.ReadLogs(want)
	require.NoError(t, err)
	require.NoError(t, plogtest.CompareLogs(expected, got))
}

func TestTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), testConfig(), sink)
	require.NoError(t, err)
	ld := plog.NewLogs()
	for _, l := range lines {
		record(ld, l.body, l.mapBody, l.attrs)
	}
	kept := record(ld, "x trace_id="+w3cTrace, nil, nil)
	kept.SetTraceID(pcommon.TraceID{9})
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))

	ignore := metricdatatest.IgnoreTimestamp()
	src := func(n int64, s string) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Value: n, Attributes: attribute.NewSet(attribute.String("source", s))}
	}
	metadatatest.AssertEqualProcessorLogCorrelationRecordsCorrelated(t, tt, []metricdata.DataPoint[int64]{
		src(1, "attribute"), src(1, "traceparent"), src(4, "key_value"), src(4, "json"), src(2, "mdc"), src(1, "custom"),
	}, ignore)
	metadatatest.AssertEqualProcessorLogCorrelationRecordsKept(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, ignore)
	metadatatest.AssertEqualProcessorLogCorrelationInvalidIds(t, tt, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "malformed"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "all_zero"))},
	}, ignore)
}
