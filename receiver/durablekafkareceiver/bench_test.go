package durablekafkareceiver

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver/internal/metadata"
)

// BenchmarkDeliverRecord is the per-record path without a broker: queue,
// ledger, depth check, decode of a one-span request, token, hand-on to a
// consumer that keeps nothing, completion.
func BenchmarkDeliverRecord(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	rcv, err := NewFactory().CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	r := rcv.(*durableReceiver)
	p := newPartition(context.Background(), 0, r.tel.lagOpt(0))
	value := spanPayload(1)
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		p.accept([]*kgo.Record{{Offset: off, Value: value}}, off+1)
		r.deliver(p, p.take(cfg.MaxInflightRecords, cfg.MaxInflightBytes, &r.use))
		off++
	}
	if wm := p.led.watermark().Offset; wm != off {
		b.Fatalf("watermark %d after %d records", wm, off)
	}
}
