package spanguardprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor/internal/metadata"
)

// cleanBatch: 2 resources x 2 scopes x 25 sound spans, as an agent batches them.
func cleanBatch() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		for s := range 2 {
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for i := range 25 {
				sid := pcommon.SpanID{byte(r), byte(s), byte(i), 1, 1, 1, 1, 1}
				appendSpan(spans, traceID, sid, at(-time.Duration(i+2)*time.Millisecond), at(-time.Millisecond))
			}
		}
	}
	return td
}

// BenchmarkProcessTracesClean: the guard's own cost on sound spans, which it
// only reads (the batch is reused).
func BenchmarkProcessTracesClean(b *testing.B) {
	g, err := newGuard(processortest.NewNopSettings(metadata.Type).TelemetrySettings, &Config{MaxDuration: defaultMaxDuration}, clockwork.NewRealClock())
	require.NoError(b, err)
	td := cleanBatch()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.processTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}

// BenchmarkConsumeTracesClean: the same through processorhelper into a nop
// consumer; its allocations are processorhelper's own (a processor that
// returns the batch as it is makes the same 5).
func BenchmarkConsumeTracesClean(b *testing.B) {
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(b, err)
	td := cleanBatch()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
}
