//go:generate mdatagen metadata.yaml

// Package gnnrootcause implements the gnn_root_cause connector: spans and
// logs in, every event-time window it builds the service dependency graph
// with per-service features, compares them with robust baselines and ranks
// the likely root-cause services; reports go out as log records, scores as
// metrics.
package gnnrootcause // import "github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"
