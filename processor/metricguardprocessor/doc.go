//go:generate mdatagen metadata.yaml

// Package metricguardprocessor implements the metric_guard processor: metric
// data points that break the OTLP data model in ways exporters cannot take (a
// histogram whose bucket counts do not fit its bounds (or that has none), non-increasing or
// non-finite bounds, counts that do not add up, an exponential scale out of
// range, a quantile outside [0, 1]) are dropped and counted, before they reach
// the Prometheus exporter, which panics on some of them.
package metricguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor"
