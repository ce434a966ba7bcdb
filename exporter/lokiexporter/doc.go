//go:generate mdatagen metadata.yaml

// Package lokiexporter implements the loki exporter: log records pushed to
// Loki's push API (/loki/api/v1/push, snappy protobuf or JSON) with stream
// labels from an allowlist of attributes and trace ids and business keys as
// structured metadata.
package lokiexporter // import "github.com/otelcol-biz/otelcol-biz/exporter/lokiexporter"
