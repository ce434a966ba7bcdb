//go:generate mdatagen metadata.yaml

// Package spanguardprocessor implements the span_guard processor: spans whose
// timestamps or ids no consumer can use are repaired (an end before the
// start, a zero start or end, optionally a duration beyond max_duration) or
// dropped (an all-zero trace or span id) and counted, before span_metrics
// adds a 56-year duration to a histogram or a backend gets a span it cannot
// place.
package spanguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor"
