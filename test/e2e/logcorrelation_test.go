package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestLogCorrelation: a plain-text log line with the trace id in an MDC
// bracket (sent over OTLP/HTTP without any trace context) leaves the
// embedded default pipeline with the trace's ids (log_correlation) and the
// order key of the trace's span (biz_dye).
func TestLogCorrelation(t *testing.T) {
	dir := t.TempDir()
	ep, env := localEnv(t, "BIZ_DYE_WAIT=500ms")
	httpAddr, healthAddr := ep.http, ep.health
	col := startCollector(t, dir, env)
	col.waitHealthy(t, "http://"+healthAddr+"/")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spanExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure())
	require.NoError(t, err)
	logExp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(httpAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)
	res := resource.NewSchemaless(attribute.String("service.name", "payment"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanExp), sdktrace.WithResource(res))
	_, span := tp.Tracer("e2e").Start(ctx, "charge")
	span.SetAttributes(attribute.String("order_id", "ORD-7"))
	sc := span.SpanContext()
	span.End()
	require.NoError(t, tp.Shutdown(ctx))

	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)), sdklog.WithResource(res))
	var rec otellog.Record
	line := fmt.Sprintf("12:00:01.123 [http-nio-8080-exec-1] [payment,%s,%s] INFO c.e.shop.PaymentService - charged", sc.TraceID(), sc.SpanID())
	rec.SetBody(otellog.StringValue(line))
	lp.Logger("logback").Emit(context.Background(), rec) // no trace context: the ids are only in the text
	require.NoError(t, lp.Shutdown(ctx))

	var got plog.LogRecord
	require.Eventually(t, func() bool {
		forEachLine(t, filepath.Join(dir, "data", "logs.json"), func(b []byte) {
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
			require.NoError(t, err)
			eachLog(ld, func(r plog.LogRecord) {
				if r.Body().AsString() == line {
					got = r
				}
			})
		})
		return got != (plog.LogRecord{})
	}, 30*time.Second, 200*time.Millisecond)
	assert.Equal(t, sc.TraceID().String(), got.TraceID().String())
	assert.Equal(t, sc.SpanID().String(), got.SpanID().String())
	v, ok := got.Attributes().Get("biz.order_id")
	require.True(t, ok, "the correlated log is dyed with its trace's order")
	assert.Equal(t, "ORD-7", v.Str())
}
