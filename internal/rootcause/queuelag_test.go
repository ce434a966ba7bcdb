package rootcause

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// kafkaTraffic builds n traces over [at, at+spread): gateway calls order
// (SERVER), which publishes to a topic (a PRODUCER span that ends at the
// broker's ack, 2 ms) and answers; ledger consumes the message lagMs after
// the ack (CONSUMER) and works selfMs.
func kafkaTraffic(rng *rand.Rand, at time.Time, spread time.Duration, n int, lagMs, selfMs float64) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := map[string]ptrace.SpanSlice{}
	for _, svc := range []string{"gateway", "order", "ledger"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		spans[svc] = rs.ScopeSpans().AppendEmpty().Spans()
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	add := func(svc string, tid pcommon.TraceID, parent pcommon.SpanID, name string, kind ptrace.SpanKind, start, end time.Time) pcommon.SpanID {
		s := spans[svc].AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(spanID(rng))
		s.SetParentSpanID(parent)
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		return s.SpanID()
	}
	for i := range n {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
		start := at.Add(time.Duration(float64(spread) * float64(i) / float64(n)))
		orderStart := start.Add(ms(1))
		pubStart := orderStart.Add(ms(3 + rng.Float64()))
		ack := pubStart.Add(ms(2 + rng.Float64()))
		orderEnd := ack.Add(ms(1 + rng.Float64()))
		gwExit := add("gateway", tid, pcommon.SpanID{}, "/*", ptrace.SpanKindServer, start, orderEnd.Add(ms(2)))
		call := add("gateway", tid, gwExit, "POST /order", ptrace.SpanKindClient, start.Add(ms(0.5)), orderEnd.Add(ms(1)))
		order := add("order", tid, call, "POST /order", ptrace.SpanKindServer, orderStart, orderEnd)
		pub := add("order", tid, order, "orders publish", ptrace.SpanKindProducer, pubStart, ack)
		consume := ack.Add(ms(lagMs * (0.7 + 0.6*rng.Float64())))
		add("ledger", tid, pub, "orders process", ptrace.SpanKindConsumer, consume, consume.Add(ms(selfMs*(0.8+0.4*rng.Float64()))))
	}
	return td
}

// TestQueueLag: a message's gap is its queue lag, so a delay into a Kafka
// consumer (its messages wait longer in the topic) is the consumer's gap
// in, while the producer, which waits for the broker's ack only, sees
// nothing; slower work in the consumer is its self time, not lag.
func TestQueueLag(t *testing.T) {
	const fault = 10
	tests := []struct {
		name          string
		lagMs, selfMs float64 // from the fault on (before: 4 ms lag, 5 ms work)
		gapIn         bool    // ledger's gap in stands out
	}{
		{name: "steady", lagMs: 4, selfMs: 5},
		{name: "delayed consumer", lagMs: 300, selfMs: 5, gapIn: true},
		{name: "slower consumer work", lagMs: 4, selfMs: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEngine(t, LatencyZ{}, func(c *Config) { c.MinAnomaly = 0 })
			rng := rand.New(rand.NewPCG(3, 9))
			var rs []Result
			for w := range fault + 3 {
				lag, self := 4.0, 5.0
				if w >= fault {
					lag, self = tt.lagMs, tt.selfMs
				}
				e.AddTraces(kafkaTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 25*time.Second, 60, lag, self))
				rs = append(rs, e.Advance(false)...)
			}
			rs = append(rs, e.Advance(true)...)
			for _, r := range rs[fault : fault+2] {
				g := r.Graph
				ledger, order := g.Nodes[g.Index("ledger")], g.Nodes[g.Index("order")]
				if tt.gapIn {
					assert.Greater(t, ledger.X[FeatGapIn], 10.0, "ledger's queue lag")
					assert.Equal(t, "ledger", r.Report.Candidates[0].Service)
				} else {
					assert.Less(t, ledger.X[FeatGapIn], 3.0, "ledger's queue lag")
				}
				assert.Less(t, order.X[FeatGapOut], 3.0, "the producer waits for the ack only")
				assert.Less(t, order.X[FeatSelfTime], 3.0)
			}
		})
	}
}
