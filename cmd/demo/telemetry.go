package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Export intervals. Spans leave every 200 ms so the demo's data shows up
// quickly and an async producer span reaches the collector before the
// consumer span that ends >= consumerLag later (biz_dye stitches a split
// trace only to a producer it has already seen).
const (
	spanBatchTimeout  = 200 * time.Millisecond
	logExportInterval = 500 * time.Millisecond
	metricInterval    = 5 * time.Second
)

// propagator carries the trace context and baggage over HTTP and Kafka-like
// message headers.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// telemetry is one service's own SDK: its providers carry a resource with
// that service's service.name, as if it ran in its own process.
type telemetry struct {
	name   string
	tp     *sdktrace.TracerProvider
	lp     *sdklog.LoggerProvider
	mp     *sdkmetric.MeterProvider
	tracer trace.Tracer
	slog   *slog.Logger   // OTLP logs with trace context, via the otelslog bridge
	otlog  otellog.Logger // raw OTel logger, for the inventory's plain-text lines
	http   *http.Client   // outgoing calls, instrumented
}

func newTelemetry(ctx context.Context, endpoint, service string) (*telemetry, error) {
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			attribute.String("service.name", service),
			attribute.String("service.namespace", "shop"),
			attribute.String("service.version", "1.4.2"),
		))
	if err != nil {
		return nil, err
	}
	te, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("%s trace exporter: %w", service, err)
	}
	le, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(endpoint), otlploggrpc.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("%s log exporter: %w", service, err)
	}
	me, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(endpoint), otlpmetricgrpc.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("%s metric exporter: %w", service, err)
	}
	t := &telemetry{name: service}
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(baggageToAttributes{}),
		sdktrace.WithBatcher(te, sdktrace.WithBatchTimeout(spanBatchTimeout)),
	)
	t.lp = sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(le, sdklog.WithExportInterval(logExportInterval))),
	)
	t.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(metricInterval))),
	)
	t.tracer = t.tp.Tracer("shop/" + service)
	t.slog = otelslog.NewLogger("shop/"+service, otelslog.WithLoggerProvider(t.lp))
	t.otlog = t.lp.Logger("c.e.shop.StockService")
	t.http = t.client()
	return t, nil
}

// shutdown flushes and stops the providers so nothing buffered is lost.
func (t *telemetry) shutdown(ctx context.Context) error {
	t.http.CloseIdleConnections()
	return errors.Join(
		t.tp.ForceFlush(ctx), t.lp.ForceFlush(ctx), t.mp.ForceFlush(ctx),
		t.tp.Shutdown(ctx), t.lp.Shutdown(ctx), t.mp.Shutdown(ctx),
	)
}

// server wraps h in otelhttp: server spans, W3C extraction and the
// http.server.request.duration histogram.
func (t *telemetry) server(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, t.name,
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithMeterProvider(t.mp),
		otelhttp.WithPropagators(propagator),
	)
}

// client returns an HTTP client that starts CLIENT spans and injects the
// trace context and baggage into outgoing requests.
func (t *telemetry) client() *http.Client {
	return &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport.(*http.Transport).Clone(),
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithMeterProvider(t.mp),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return r.Method + " " + r.URL.Path
		}),
	)}
}

// baggageToAttributes copies W3C baggage members (user_tier) onto every span
// started with them, so the collector can key on them: baggage itself is
// never exported.
type baggageToAttributes struct{}

func (baggageToAttributes) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	for _, m := range baggage.FromContext(parent).Members() {
		s.SetAttributes(attribute.String(m.Key(), m.Value()))
	}
}
func (baggageToAttributes) OnEnd(sdktrace.ReadOnlySpan)      {}
func (baggageToAttributes) Shutdown(context.Context) error   { return nil }
func (baggageToAttributes) ForceFlush(context.Context) error { return nil }
