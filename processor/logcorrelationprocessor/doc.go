//go:generate mdatagen metadata.yaml

// Package logcorrelationprocessor implements the log_correlation processor:
// trace and span ids written inside log bodies (MDC brackets, key=value
// pairs, JSON fields, W3C traceparent strings, 64-bit Jaeger/B3 ids) or in
// log attributes become the log record's own TraceID and SpanID.
package logcorrelationprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor"
