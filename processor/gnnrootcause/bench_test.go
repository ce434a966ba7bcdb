package gnnrootcause

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause/internal/metadata"
)

// BenchmarkConsumeTracesLatency is the latency of single ConsumeTraces
// calls while windows close, under a steady load the ranking keeps up
// with: four producers send a batch every 4 ms each (1,000 batches a
// second; ns/op is that pace), each batch 30 traces, 210 spans over 150
// services, moving event time by a second, so every 30th batch closes a
// window of about 6,300 spans. It reports the calls' median, 99th
// percentile and maximum.
func BenchmarkConsumeTracesLatency(b *testing.B) {
	const producers = 4
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	cfg.IdleFlush = 0
	c, err := NewFactory().CreateTracesToLogs(ctx, connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err = c.Start(ctx, componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for p := range producers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 7))
			tick := time.NewTicker(producers * time.Millisecond)
			defer tick.Stop()
			for i := p; i < b.N; i += producers {
				<-tick.C
				td := meshTraffic(rng, t0.Add(time.Duration(i)*time.Second), 30, 150)
				began := time.Now()
				if err := c.ConsumeTraces(ctx, td); err != nil {
					b.Error(err)
				}
				lat[i] = time.Since(began)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := c.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1]), "max-ns")
}

// meshTraffic builds n traces ending around at, each a chain of four calls
// through services picked at random among services: an entry span per
// service and an exit span per call.
func meshTraffic(rng *rand.Rand, at time.Time, n, services int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := map[int]ptrace.SpanSlice{}
	spans := func(svc int) ptrace.SpanSlice {
		s, ok := ss[svc]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%03d", svc))
			s = rs.ScopeSpans().AppendEmpty().Spans()
			ss[svc] = s
		}
		return s
	}
	for i := range n {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], uint64(i))
		end := at.Add(time.Duration(i) * time.Millisecond)
		start := end.Add(-100 * time.Millisecond)
		var parent pcommon.SpanID
		for hop := range 4 {
			svc := rng.IntN(services)
			entry := spans(svc).AppendEmpty()
			entry.SetTraceID(tid)
			entry.SetSpanID(pcommon.SpanID{byte(hop), 1, byte(i), byte(i >> 8)})
			entry.SetParentSpanID(parent)
			entry.SetName("/api")
			entry.SetKind(ptrace.SpanKindServer)
			entry.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			entry.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
			if hop == 3 {
				break
			}
			exit := spans(svc).AppendEmpty()
			exit.SetTraceID(tid)
			exit.SetSpanID(pcommon.SpanID{byte(hop), 2, byte(i), byte(i >> 8)})
			exit.SetParentSpanID(entry.SpanID())
			exit.SetName("HTTP GET")
			exit.SetKind(ptrace.SpanKindClient)
			start = start.Add(time.Duration(5+rng.IntN(10)) * time.Millisecond)
			end = end.Add(-time.Duration(5+rng.IntN(10)) * time.Millisecond)
			exit.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			exit.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
			parent = exit.SpanID()
			start, end = start.Add(time.Millisecond), end.Add(-time.Millisecond)
		}
	}
	return td
}
