package main

import (
	"context"
	"hash/fnv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// kafkaSender writes what the agent's kafka exporter writes: OTLP protobuf,
// one record per trace keyed by its hex trace id (partition_traces_by_id,
// partition_logs_by_trace_id), lz4, sarama-compatible key hashing.
type kafkaSender struct {
	client      *kgo.Client
	spansTopic  string
	logsTopic   string
	tracesCodec ptrace.ProtoMarshaler
	logsCodec   plog.ProtoMarshaler
}

func newKafkaSender(brokers []string, prefix string) (*kafkaSender, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("loadgen"),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RecordDeliveryTimeout(requestTimeout),
	)
	if err != nil {
		return nil, err
	}
	return &kafkaSender{client: cl, spansTopic: prefix + "_spans", logsTopic: prefix + "_logs"}, nil
}

func fnv32a(b []byte) uint32 {
	h := fnv.New32a()
	_, _ = h.Write(b)
	return h.Sum32()
}

func (s *kafkaSender) close() error {
	s.client.Close()
	return nil
}

// send produces one record per trace (spans) and per trace (logs) and waits
// for the broker's acknowledgements.
func (s *kafkaSender) send(ctx context.Context, b *batch) outcome {
	var recs []*kgo.Record
	var counts []int
	var logRec []bool
	for _, part := range splitTraces(b.traces) {
		buf, err := s.tracesCodec.MarshalTraces(part.traces)
		if err != nil {
			return outcome{spansRefused: int64(b.spans), logsRefused: int64(b.records), err: err}
		}
		recs = append(recs, &kgo.Record{Topic: s.spansTopic, Key: part.key, Value: buf})
		counts, logRec = append(counts, part.traces.SpanCount()), append(logRec, false)
	}
	for _, part := range splitLogs(b.logs) {
		buf, err := s.logsCodec.MarshalLogs(part.logs)
		if err != nil {
			return outcome{spansRefused: int64(b.spans), logsRefused: int64(b.records), err: err}
		}
		recs = append(recs, &kgo.Record{Topic: s.logsTopic, Key: part.key, Value: buf})
		counts, logRec = append(counts, part.logs.LogRecordCount()), append(logRec, true)
	}
	var o outcome
	for i, r := range s.client.ProduceSync(ctx, recs...) {
		n := int64(counts[i])
		switch {
		case r.Err != nil && stopping(ctx):
		case r.Err != nil && logRec[i]:
			o.logsRefused, o.err = o.logsRefused+n, r.Err
		case r.Err != nil:
			o.spansRefused, o.err = o.spansRefused+n, r.Err
		case logRec[i]:
			o.logsOK += n
		default:
			o.spansOK += n
		}
	}
	return o
}

type tracePart struct {
	key    []byte
	traces ptrace.Traces
}

// splitTraces cuts td into one Traces per trace id, keeping each span's
// resource and scope, in first-seen order.
func splitTraces(td ptrace.Traces) []tracePart {
	type scopeKey struct {
		id            pcommon.TraceID
		resource, scp int
	}
	var parts []tracePart
	index := map[pcommon.TraceID]int{}
	scopes := map[scopeKey]ptrace.SpanSlice{}
	for ri := 0; ri < td.ResourceSpans().Len(); ri++ {
		rs := td.ResourceSpans().At(ri)
		for si := 0; si < rs.ScopeSpans().Len(); si++ {
			ss := rs.ScopeSpans().At(si)
			for k := 0; k < ss.Spans().Len(); k++ {
				span := ss.Spans().At(k)
				id := span.TraceID()
				p, ok := index[id]
				if !ok {
					p = len(parts)
					index[id] = p
					parts = append(parts, tracePart{key: []byte(id.String()), traces: ptrace.NewTraces()})
				}
				sk := scopeKey{id, ri, si}
				dst, ok := scopes[sk]
				if !ok {
					nrs := parts[p].traces.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(nrs.Resource())
					nss := nrs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(nss.Scope())
					dst = nss.Spans()
					scopes[sk] = dst
				}
				span.CopyTo(dst.AppendEmpty())
			}
		}
	}
	return parts
}

type logPart struct {
	key  []byte
	logs plog.Logs
}

// splitLogs is splitTraces for log records, by their trace id.
func splitLogs(ld plog.Logs) []logPart {
	type scopeKey struct {
		id            pcommon.TraceID
		resource, scp int
	}
	var parts []logPart
	index := map[pcommon.TraceID]int{}
	scopes := map[scopeKey]plog.LogRecordSlice{}
	for ri := 0; ri < ld.ResourceLogs().Len(); ri++ {
		rl := ld.ResourceLogs().At(ri)
		for si := 0; si < rl.ScopeLogs().Len(); si++ {
			sl := rl.ScopeLogs().At(si)
			for k := 0; k < sl.LogRecords().Len(); k++ {
				rec := sl.LogRecords().At(k)
				id := rec.TraceID()
				p, ok := index[id]
				if !ok {
					p = len(parts)
					index[id] = p
					parts = append(parts, logPart{key: []byte(id.String()), logs: plog.NewLogs()})
				}
				sk := scopeKey{id, ri, si}
				dst, ok := scopes[sk]
				if !ok {
					nrl := parts[p].logs.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(nrl.Resource())
					nsl := nrl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(nsl.Scope())
					dst = nsl.LogRecords()
					scopes[sk] = dst
				}
				rec.CopyTo(dst.AppendEmpty())
			}
		}
	}
	return parts
}
