package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestBizDye runs the binary on its embedded default (biz_dye in the traces
// and logs pipelines) and checks, in the file exporter's output, that:
//   - order_id set on a child span reaches every span of the trace, including
//     the root exported after it, and the trace's log record;
//   - user.id is hashed, and the clear value removed (drop_source);
//   - a consumer trace split off by a lost Kafka header is linked back to the
//     producer span and carries the order's keys.
func TestBizDye(t *testing.T) {
	dir := t.TempDir()
	ep, env := localEnv(t, "BIZ_DYE_SALT=e2e", "BIZ_DYE_WAIT=500ms")
	grpcAddr, healthAddr := ep.grpc, ep.health
	col := startCollector(t, dir, env)
	col.waitHealthy(t, "http://"+healthAddr+"/")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spanExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	logExp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(grpcAddr), otlploggrpc.WithInsecure())
	require.NoError(t, err)
	provider := func(svc string) *sdktrace.TracerProvider {
		return sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanExp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", svc))))
	}
	gateway, order, fulfilment := provider("gateway"), provider("order"), provider("fulfilment")

	// gateway -> order: order_id is set on the order span, which ends (and is
	// exported) before the gateway's root.
	rootCtx, root := gateway.Tracer("e2e").Start(ctx, "POST /checkout",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("user.id", "alice")))
	orderCtx, orderSpan := order.Tracer("e2e").Start(rootCtx, "createOrder",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("order_id", "ORD-42")))
	_, publish := order.Tracer("e2e").Start(orderCtx, "orders publish",
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attribute.String("messaging.kafka.message.key", "ORD-42")))
	publish.End()

	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "order"))))
	var rec otellog.Record
	rec.SetBody(otellog.StringValue("order created"))
	lp.Logger("e2e").Emit(orderCtx, rec)

	orderSpan.End()
	root.End()
	checkoutTrace := root.SpanContext().TraceID()

	// The consumer lost the Kafka headers: a new trace with the same key.
	consCtx, consumerSpan := fulfilment.Tracer("e2e").Start(context.Background(), "orders process",
		trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.kafka.message.key", "ORD-42")))
	_, ship := fulfilment.Tracer("e2e").Start(consCtx, "ship")
	ship.End()
	consumerSpan.End()
	splitTrace := consumerSpan.SpanContext().TraceID()

	for _, tp := range []*sdktrace.TracerProvider{gateway, order, fulfilment} {
		require.NoError(t, tp.Shutdown(ctx))
	}
	require.NoError(t, lp.Shutdown(ctx))

	var spans map[string]ptrace.Span
	var logRec plog.LogRecord
	require.Eventually(t, func() bool {
		spans = map[string]ptrace.Span{}
		forEachLine(t, filepath.Join(dir, "data", "traces.json"), func(line []byte) {
			td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
			require.NoError(t, err)
			eachSpan(td, func(s ptrace.Span) { spans[s.Name()] = s })
		})
		logRec = plog.LogRecord{}
		forEachLine(t, filepath.Join(dir, "data", "logs.json"), func(line []byte) {
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
			require.NoError(t, err)
			eachLog(ld, func(r plog.LogRecord) {
				if r.Body().AsString() == "order created" {
					logRec = r
				}
			})
		})
		return len(spans) == 5 && logRec != (plog.LogRecord{})
	}, 30*time.Second, 200*time.Millisecond)

	for _, name := range []string{"POST /checkout", "createOrder", "orders publish", "orders process", "ship"} {
		s := spans[name]
		assert.Equal(t, "ORD-42", str(s.Attributes(), "biz.order_id"), "span %q", name)
	}
	assert.Equal(t, checkoutTrace.String(), spans["createOrder"].TraceID().String())
	assert.Equal(t, "ORD-42", str(logRec.Attributes(), "biz.order_id"), "the trace's log is dyed")
	assert.Len(t, str(spans["POST /checkout"].Attributes(), "biz.user_id"), 64, "user.id is hashed")
	assert.NotContains(t, str(spans["POST /checkout"].Attributes(), "biz.user_id"), "alice")
	_, clear := spans["POST /checkout"].Attributes().Get("user.id")
	assert.False(t, clear, "drop_source removed the clear user.id")

	// the split consumer trace links back to the producer span
	cons := spans["orders process"]
	assert.Equal(t, splitTrace.String(), cons.TraceID().String())
	require.Equal(t, 1, cons.Links().Len())
	link := cons.Links().At(0)
	assert.Equal(t, checkoutTrace.String(), link.TraceID().String())
	assert.Equal(t, spans["orders publish"].SpanID(), link.SpanID())
	assert.Equal(t, "order_id", str(link.Attributes(), "biz.link.key"))
	assert.Contains(t, str(spans["ship"].Attributes(), "biz.linked_trace_ids"), checkoutTrace.String())
}

// str is attribute k of m as a string, "" when it is absent.
func str(m pcommon.Map, k string) string {
	v, ok := m.Get(k)
	if !ok {
		return ""
	}
	return v.AsString()
}
