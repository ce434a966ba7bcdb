//go:generate mdatagen metadata.yaml

// Package requestguardextension implements the request_guard extension: an
// HTTP and gRPC server middleware for the OTLP receiver that refuses request
// bodies nesting deeper than max_depth before they are decoded. pdata's
// decoder recurses once per nested message with no limit of its own: one
// request with an attribute value nested a million levels deep overflows the
// goroutine stack and kills the process.
package requestguardextension // import "github.com/otelcol-biz/otelcol-biz/extension/requestguardextension"
