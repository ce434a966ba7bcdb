// Package rootcause is the engine behind the gnn_root_cause connector,
// shared with cmd/rcabench and cmd/gnntrain so that training, evaluation and
// the collector run one implementation: event-time windows of spans, logs
// and pod metrics; the per-window service graph with robust anomaly
// features, and blind spots (services whose spans never arrive, seen from
// their callers' CLIENT spans); the ranking methods (the message-passing
// graph network and the PageRank, TraceRCA-like and latency-z baselines);
// timeout cascades; and the report format.
package rootcause // import "github.com/otelcol-biz/otelcol-biz/internal/rootcause"
