package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// startKafka runs an in-process Kafka-protocol cluster (franz-go's kfake)
// on a free loopback port with the agent's topics, 3 partitions each.
func startKafka(t *testing.T) string { return startKafkaWith(t) }

// startKafkaWith starts kfake with extra options (TLS, SASL).
func startKafkaWith(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	addr := freeAddr(t)
	var port int
	_, err := fmt.Sscan(portOf(addr), &port)
	require.NoError(t, err)
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.Ports(port), kfake.SeedTopics(3, "otelcol_biz_spans", "otelcol_biz_logs", "otelcol_biz_metrics")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// startJaeger runs Jaeger v2 (memory storage) on free loopback ports and
// returns its OTLP gRPC address and query API base URL.
func startJaeger(t *testing.T) (otlpGRPC, query string) {
	t.Helper()
	bin := backendBinary(t, "jaeger", "JAEGER_BIN")
	otlpGRPC, queryAddr, health := freeAddr(t), freeAddr(t), freeAddr(t)
	p := startProcess(t, "jaeger", t.TempDir(), []string{
		"JAEGER_OTLP_GRPC_ENDPOINT=" + otlpGRPC,
		"JAEGER_OTLP_HTTP_ENDPOINT=" + freeAddr(t),
		"JAEGER_QUERY_HTTP_ENDPOINT=" + queryAddr,
		"JAEGER_QUERY_GRPC_ENDPOINT=" + freeAddr(t),
		"JAEGER_HEALTH_ENDPOINT=" + health,
		"JAEGER_METRICS_PORT=" + portOf(freeAddr(t)),
	}, bin, "--config", filepath.Join(repoRoot(), "scripts", "backends", "jaeger", "jaeger-local.yaml"))
	p.waitHealthy(t, "http://"+health+"/status")
	return otlpGRPC, "http://" + queryAddr
}

type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		TraceID       string `json:"traceID"`
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		Duration      int64  `json:"duration"` // microseconds
		References    []struct {
			RefType string `json:"refType"`
			TraceID string `json:"traceID"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// jaegerSearch queries Jaeger's HTTP API for traces of service with tags.
func jaegerSearch(t *testing.T, base, service string, tags map[string]string) []jaegerTrace {
	t.Helper()
	tagJSON, err := json.Marshal(tags)
	require.NoError(t, err)
	return jaegerTraces(t, base, url.Values{"service": {service}, "tags": {string(tagJSON)}, "lookback": {"1h"}, "limit": {"20"}})
}

// jaegerTraces runs a trace search on Jaeger's HTTP API.
func jaegerTraces(t *testing.T, base string, q url.Values) []jaegerTrace {
	t.Helper()
	resp, err := http.Get(base + "/api/traces?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil // e.g. the service is not known yet
	}
	var r struct {
		Data []jaegerTrace `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &r), "%s", body)
	return r.Data
}

// stack is otelcol-biz's two roles from config/ with every backend, as
// DESIGN.md lays them out: apps -> agent (config/agent.yaml + the
// agent-local overlay) -> Kafka partitioned by trace id (kfake) -> gateway
// (config/gateway.yaml) -> Jaeger, Loki and Prometheus, all real processes
// on loopback, stopped by PID when the test ends.
type stack struct {
	agentGRPC, jaegerQuery, loki, prometheus string
}

// startStack starts the stack; gatewayEnv adds or overrides gateway env vars.
func startStack(t *testing.T, gatewayEnv ...string) stack {
	t.Helper()
	// The collectors' own counters, scraped when a test fails while both
	// still run (the cleanup registered last runs first) and printed after
	// every process's output, so they end the log: they show where the data
	// stopped (agent receiver, Kafka, biz_dye, tail sampling, an exporter).
	var counters strings.Builder
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pipeline counters when the test failed:\n%s", counters.String())
		}
	})
	jaegerOTLP, jaegerQuery := startJaeger(t)
	loki := startLoki(t)
	kafka := startKafka(t)

	gwHealth, gwProm, gwTelemetry := freeAddr(t), freeAddr(t), freeAddr(t)
	prom := startPrometheus(t, gwProm)
	gateway := startCollector(t, t.TempDir(), append([]string{
		"BIZ_KAFKA_BROKERS=" + kafka,
		"BIZ_KAFKA_INITIAL_OFFSET=earliest",
		"BIZ_JAEGER_OTLP_ENDPOINT=" + jaegerOTLP,
		"BIZ_LOKI_OTLP_ENDPOINT=" + loki + "/otlp",
		"BIZ_OTLP_GRPC_ENDPOINT=" + freeAddr(t),
		"BIZ_OTLP_HTTP_ENDPOINT=" + freeAddr(t),
		"BIZ_PROMETHEUS_ENDPOINT=" + gwProm,
		"BIZ_HEALTH_ENDPOINT=" + gwHealth,
		"BIZ_SPANMETRICS_FLUSH_INTERVAL=1s",
		"BIZ_PPROF_ENDPOINT=" + freeAddr(t),
		"BIZ_TELEMETRY_PORT=" + portOf(gwTelemetry),
		"BIZ_STATE_DIR=" + t.TempDir(),
		"BIZ_TAIL_DECISION_WAIT=2s",
		"BIZ_DYE_WAIT=2s",
	}, gatewayEnv...), "--config="+filepath.Join(repoRoot(), "config", "gateway.yaml"))
	gateway.waitHealthy(t, "http://"+gwHealth+"/")

	agentGRPC, agentHealth, agentTelemetry := freeAddr(t), freeAddr(t), freeAddr(t)
	agentDir := t.TempDir()
	agent := startCollector(t, agentDir, []string{
		"BIZ_KAFKA_BROKERS=" + kafka,
		"BIZ_OTLP_GRPC_ENDPOINT=" + agentGRPC,
		"BIZ_OTLP_HTTP_ENDPOINT=" + freeAddr(t),
		"BIZ_HEALTH_ENDPOINT=" + agentHealth,
		"BIZ_PPROF_ENDPOINT=" + freeAddr(t),
		"BIZ_TELEMETRY_PORT=" + portOf(agentTelemetry),
		"BIZ_QUEUE_DIR=" + filepath.Join(agentDir, "queue"),
		"BIZ_CHECKPOINT_DIR=" + filepath.Join(agentDir, "checkpoints"),
		"BIZ_POD_LOG_DIR=" + filepath.Join(agentDir, "pods"),
	}, "--config="+filepath.Join(repoRoot(), "config", "agent.yaml"), "--config="+filepath.Join(repoRoot(), "config", "overlays", "agent-local.yaml"))
	agent.waitHealthy(t, "http://"+agentHealth+"/")
	t.Cleanup(func() {
		if t.Failed() {
			fmt.Fprintf(&counters, "agent:\n%sgateway:\n%s", pipelineCounters(agentTelemetry), pipelineCounters(gwTelemetry))
		}
	})
	return stack{agentGRPC: agentGRPC, jaegerQuery: jaegerQuery, loki: loki, prometheus: prom}
}

// pipelineCounters returns the data counters among a collector's own
// metrics (receivers, processors, exporters, Kafka, biz_dye, tail sampling),
// one "name{labels} value" line each.
func pipelineCounters(telemetryAddr string) string {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + telemetryAddr + "/metrics")
	if err != nil {
		return "  " + err.Error() + "\n"
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var b strings.Builder
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "otelcol_") || containsAny(line, "_bucket{", "_bytes", "latency", "capacity", "in_flight", "connects", "execution_", "partition_start") {
			continue
		}
		if containsAny(line, "_spans", "_log_records", "_items", "kafka", "biz_dye", "tail_sampling") {
			b.WriteString("  " + line + "\n")
		}
	}
	return b.String()
}

func containsAny(s string, parts ...string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// TestAgentGatewayStack: one canary order flow split by a lost Kafka header
// (and a second one whose consumer is sent before its producer); through the
// backends' own APIs, both traces are found by biz.order_id in Jaeger (the
// consumer trace linked back to the producer span), the payment log in Loki
// by trace id with the order key, and the span metrics in Prometheus.
func TestAgentGatewayStack(t *testing.T) {
	// only the policies keep traces: biz.keep (canary), errors, slow. The
	// consumer sent before its producer is held up to BIZ_DYE_WAIT: the two
	// take different Kafka partitions, and on a loaded CI machine the
	// producer reached the gateway more than the default 2 s later. The
	// canary key is on the root span, which ends last: tail_sampling decides
	// on the whole trace only if the root arrives within its decision_wait of
	// the first span, so decision_wait is sized above biz_dye's wait, as the
	// biz_dye README advises.
	st := startStack(t, "BIZ_SAMPLING_PERCENT=0", "BIZ_DYE_WAIT=10s", "BIZ_TAIL_DECISION_WAIT=12s")
	agentGRPC, jaegerQuery, loki, prom := st.agentGRPC, st.jaegerQuery, st.loki, st.prometheus

	orderID, producer, logLine := sendOrder(t, agentGRPC)
	// Jaeger: the order's flow by its business key. The consumer runs after
	// the order was published, as in the shop: it is sent once the gateway has
	// the producer trace (Kafka partitions are consumed independently, so a
	// consumer trace reaching the gateway first would find nothing to link).
	var orderTraces, fulfilmentTraces []jaegerTrace
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		orderTraces = jaegerSearch(t, jaegerQuery, "order", map[string]string{"biz.order_id": orderID})
		assert.Len(c, orderTraces, 1)
	}, 90*time.Second, time.Second, "Jaeger search by biz.order_id=%s in service order", orderID)
	consumer := sendLostHeaderConsumer(t, agentGRPC, orderID)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		fulfilmentTraces = jaegerSearch(t, jaegerQuery, "fulfilment", map[string]string{"biz.order_id": orderID})
		assert.Len(c, fulfilmentTraces, 1)
	}, 90*time.Second, time.Second, "Jaeger search by biz.order_id=%s in service fulfilment", orderID)
	assert.Equal(t, producer.TraceID().String(), orderTraces[0].TraceID)
	assert.Len(t, orderTraces[0].Spans, 3, "gateway, order and the Kafka publish span")
	split := fulfilmentTraces[0]
	assert.Equal(t, consumer.TraceID().String(), split.TraceID)
	assert.True(t, linksTo(split, producer), "the consumer trace split off by the lost header links back to the producer span")

	// The same split, but the consumer's trace is sent first: biz_dye holds
	// it up to wait until the producer's trace reaches the gateway.
	orderID2 := orderID + "-B"
	consumer2 := sendLostHeaderConsumer(t, agentGRPC, orderID2)
	producer2 := sendOrderWithID(t, agentGRPC, orderID2)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		fulfilmentTraces = jaegerSearch(t, jaegerQuery, "fulfilment", map[string]string{"biz.order_id": orderID2})
		assert.Len(c, fulfilmentTraces, 1)
	}, 90*time.Second, time.Second, "Jaeger search by biz.order_id=%s in service fulfilment", orderID2)
	assert.Equal(t, consumer2.TraceID().String(), fulfilmentTraces[0].TraceID)
	assert.True(t, linksTo(fulfilmentTraces[0], producer2), "consumer sent before its producer is still linked back")

	// Loki: the payment log, found by its trace id, with the order key
	query := fmt.Sprintf(`{service_name="payment"} | trace_id=%q`, producer.TraceID().String())
	var streams []lokiStream
	require.Eventually(t, func() bool {
		streams = lokiQuery(t, loki, query)
		return len(streams) > 0
	}, 60*time.Second, time.Second, "Loki query %s", query)
	assert.Equal(t, []string{logLine}, streams[0].Lines)
	assert.Equal(t, orderID, streams[0].Labels["biz_order_id"])

	// Prometheus: the gateway's span metrics, scraped from its prometheus
	// exporter (span_metrics -> bucket_tuner), answer a latency query
	q := `histogram_quantile(0.99, sum by (le) (traces_span_metrics_duration_seconds_bucket{service_name="order"}))`
	require.Eventually(t, func() bool {
		v := promQuery(t, prom, q)
		return len(v) == 1 && v[0] > 0
	}, 60*time.Second, time.Second, "Prometheus: %s", q)
}

func agentClients(t *testing.T, ctx context.Context, agentGRPC string) (sdktrace.SpanExporter, sdklog.Exporter) {
	t.Helper()
	spanExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(agentGRPC), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	logExp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(agentGRPC), otlploggrpc.WithInsecure())
	require.NoError(t, err)
	return spanExp, logExp
}

func tracerProvider(exp sdktrace.SpanExporter, svc string) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", svc))))
}

// linksTo reports whether a span of tr links (references) span sc.
func linksTo(tr jaegerTrace, sc trace.SpanContext) bool {
	for _, s := range tr.Spans {
		for _, ref := range s.References {
			if ref.TraceID == sc.TraceID().String() && ref.SpanID == sc.SpanID().String() {
				return true
			}
		}
	}
	return false
}

// sendOrder sends one canary order through the agent: gateway -> order
// (order_id) -> Kafka publish, and a payment log written with the trace ids
// in its text.
func sendOrder(t *testing.T, agentGRPC string) (orderID string, producer trace.SpanContext, logLine string) {
	t.Helper()
	orderID = fmt.Sprintf("ORD-%d", time.Now().UnixNano()%1_000_000)
	producer, logLine = sendOrderFlow(t, agentGRPC, orderID)
	return orderID, producer, logLine
}

// sendOrderWithID sends the order flow for a given order id.
func sendOrderWithID(t *testing.T, agentGRPC, orderID string) trace.SpanContext {
	t.Helper()
	producer, _ := sendOrderFlow(t, agentGRPC, orderID)
	return producer
}

func sendOrderFlow(t *testing.T, agentGRPC, orderID string) (producer trace.SpanContext, logLine string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spanExp, logExp := agentClients(t, ctx, agentGRPC)
	gw, order := tracerProvider(spanExp, "gateway"), tracerProvider(spanExp, "order")

	rootCtx, root := gw.Tracer("shop").Start(ctx, "POST /api/checkout", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.Bool("canary", true)))
	orderCtx, orderSpan := order.Tracer("shop").Start(rootCtx, "createOrder", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("order_id", orderID)))
	_, publish := order.Tracer("shop").Start(orderCtx, "orders publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.kafka.message.key", orderID)))
	producer = publish.SpanContext()
	publish.End()

	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "payment"))))
	logLine = fmt.Sprintf("12:00:01.123 [http-nio-8080-exec-3] [payment,%s,%s] INFO c.e.shop.PaymentService - charged", producer.TraceID(), orderSpan.SpanContext().SpanID())
	var rec otellog.Record
	rec.SetBody(otellog.StringValue(logLine))
	rec.SetSeverity(otellog.SeverityInfo)
	rec.SetTimestamp(time.Now())
	lp.Logger("logback").Emit(context.Background(), rec)

	orderSpan.End()
	root.End()
	for _, tp := range []*sdktrace.TracerProvider{gw, order} {
		require.NoError(t, tp.Shutdown(ctx))
	}
	require.NoError(t, lp.Shutdown(ctx))
	return producer, logLine
}

// sendLostHeaderConsumer sends the fulfilment consumer of that order whose
// Kafka headers were lost: a new trace carrying the same message key.
func sendLostHeaderConsumer(t *testing.T, agentGRPC, orderID string) trace.SpanContext {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spanExp, logExp := agentClients(t, ctx, agentGRPC)
	require.NoError(t, logExp.Shutdown(ctx)) // this service only sends spans
	fulfilment := tracerProvider(spanExp, "fulfilment")
	consCtx, cons := fulfilment.Tracer("shop").Start(context.Background(), "orders process", trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("messaging.kafka.message.key", orderID)))
	_, ship := fulfilment.Tracer("shop").Start(consCtx, "ship")
	ship.End()
	cons.End()
	require.NoError(t, fulfilment.Shutdown(ctx))
	return cons.SpanContext()
}
