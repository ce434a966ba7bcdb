package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// lokiCollectorConfig: OTLP in; logs -> log_correlation -> biz_dye -> the
// exporter under test; traces -> biz_dye (so the logs' trace is dyed).
const lokiCollectorConfig = `
extensions:
  healthcheckv2:
    use_v2: true
    http: {endpoint: "%[1]s", status: {enabled: true, path: /}, config: {enabled: false}}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "%[2]s"}
processors:
  log_correlation:
  biz_dye:
    keys:
      - name: order_id
        from: [{attribute: order_id}]
    wait: 500ms
exporters:
  debug:
    verbosity: basic
  %[3]s
service:
  extensions: [healthcheckv2]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [biz_dye]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [log_correlation, biz_dye]
      exporters: [%[4]s]
`

// TestLokiDelivery sends a trace and a plain-text log line (trace id only in
// its MDC bracket) through otelcol-biz to a real Loki, once through our
// `loki` push exporter and once through `otlp_http` to Loki's native OTLP
// endpoint, and reads them back through Loki's query API: the line is found
// by `{service_name="..."} | trace_id="<id>"`, carries span_id and
// biz_order_id as structured metadata, and none of those are index labels.
func TestLokiDelivery(t *testing.T) {
	loki := startLoki(t)
	tests := []struct {
		name, service, exporter, exporterID string
	}{
		{
			name: "loki push exporter", service: "payment-push", exporterID: "loki",
			exporter: `loki:
    endpoint: "%s/loki/api/v1/push"
    tenant_id: shop
    labels:
      resource: {service.name: service_name}
      severity: level
    sending_queue: {enabled: false}`,
		},
		{
			name: "otlp_http to Loki OTLP", service: "payment-otlp", exporterID: "otlp_http/loki",
			exporter: `otlp_http/loki:
    endpoint: "%s/otlp"
    sending_queue: {enabled: false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			grpcAddr, healthAddr := freeAddr(t), freeAddr(t)
			cfg := fmt.Sprintf(lokiCollectorConfig, healthAddr, grpcAddr, fmt.Sprintf(tt.exporter, loki), tt.exporterID)
			cfgPath := filepath.Join(dir, "config.yaml")
			require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
			col := startCollector(t, dir, nil, "--config="+cfgPath)
			col.waitHealthy(t, "http://"+healthAddr+"/")

			traceID, spanID, line := sendOrderTraceAndLog(t, grpcAddr, tt.service, "ORD-"+tt.service)

			query := fmt.Sprintf(`{service_name=%q} | trace_id=%q`, tt.service, traceID)
			var streams []lokiStream
			require.Eventually(t, func() bool {
				streams = lokiQuery(t, loki, query)
				return len(streams) > 0
			}, 60*time.Second, 500*time.Millisecond, "query %s found nothing", query)
			require.Len(t, streams, 1)
			assert.Equal(t, []string{line}, streams[0].Lines)
			md := streams[0].Labels
			assert.Equal(t, traceID, md["trace_id"])
			assert.Equal(t, spanID, md["span_id"])
			assert.Equal(t, "ORD-"+tt.service, md["biz_order_id"])

			// the business key is queryable as a line filter on its own
			byOrder := lokiQuery(t, loki, fmt.Sprintf(`{service_name=%q} | biz_order_id=%q`, tt.service, "ORD-"+tt.service))
			require.Len(t, byOrder, 1)

			names := lokiLabelNames(t, loki)
			assert.Contains(t, names, "service_name")
			for _, n := range []string{"trace_id", "span_id", "biz_order_id"} {
				assert.False(t, slices.Contains(names, n), "%s must be structured metadata, not an index label (labels: %v)", n, names)
			}
		})
	}
}

// sendOrderTraceAndLog sends, over OTLP gRPC, a span with order_id and then
// a log line that carries the span's ids only in its text (logback MDC).
func sendOrderTraceAndLog(t *testing.T, grpcAddr, service, orderID string) (traceID, spanID, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spanExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	logExp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(grpcAddr), otlploggrpc.WithInsecure())
	require.NoError(t, err)
	res := resource.NewSchemaless(attribute.String("service.name", service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanExp), sdktrace.WithResource(res))
	_, span := tp.Tracer("e2e").Start(ctx, "charge")
	span.SetAttributes(attribute.String("order_id", orderID))
	sc := span.SpanContext()
	span.End()
	require.NoError(t, tp.Shutdown(ctx))

	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)), sdklog.WithResource(res))
	line = fmt.Sprintf("12:00:01.123 [main] [%s,%s] INFO c.e.shop.PaymentService - charged %s", sc.TraceID(), sc.SpanID(), strings.ToLower(orderID))
	var rec otellog.Record
	rec.SetBody(otellog.StringValue(line))
	rec.SetSeverity(otellog.SeverityInfo)
	rec.SetSeverityText("INFO")
	rec.SetTimestamp(time.Now())
	lp.Logger("logback").Emit(context.Background(), rec)
	require.NoError(t, lp.Shutdown(ctx))
	return sc.TraceID().String(), sc.SpanID().String(), line
}
