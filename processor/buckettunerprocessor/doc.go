//go:generate mdatagen metadata.yaml

// Package buckettunerprocessor implements the bucket_tuner processor:
// exponential and explicit latency histograms are rewritten onto explicit
// boundaries chosen (or configured) for accurate histogram_quantile results
// at the quantiles that matter, stable across restarts.
package buckettunerprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor"
