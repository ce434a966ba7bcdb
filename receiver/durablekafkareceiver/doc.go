//go:generate mdatagen metadata.yaml

// Package durablekafkareceiver implements the durable_kafka receiver: it
// reads OTLP protobuf from Kafka with at-least-once delivery through stages
// that hold data past their Consume call. Each record travels with an
// ack.Token (internal/ack); a partition's offset is committed only up to the
// oldest record some stage still holds, so a crash re-reads every record
// that was not handed on.
package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"
