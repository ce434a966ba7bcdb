//go:generate mdatagen metadata.yaml

// Package bizdyeprocessor implements the biz_dye processor: business keys
// (order_id, user_id, sku, tenant, canary...) found on any span of a trace are
// stamped on every span and log of that trace, traces split by a lost async
// context are linked back together, and broken hops are counted per service
// pair.
package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"
