package durablekafkareceiver

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-biz/otelcol-biz/internal/ack"
	"github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver/internal/metadata"
)

// waitFor bounds every wait of these tests.
const waitFor, tick = 15 * time.Second, 5 * time.Millisecond

// newCluster is an in-process broker on 127.0.0.1 with the three default
// topics, each with the given partitions.
func newCluster(t *testing.T, partitions int32) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, defaultTracesTopic, defaultLogsTopic, defaultMetricsTopic),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// testConfig is fast to join and rebalance; commits happen only through
// commitNow unless a test sets commit_interval.
func testConfig(c *kfake.Cluster, group string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = c.ListenAddrs()
	cfg.GroupID = group
	cfg.InitialOffset = InitialOffsetEarliest
	cfg.SessionTimeout = 2 * time.Second
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.CommitInterval = time.Hour
	cfg.ErrorBackOff.InitialInterval = time.Millisecond
	cfg.ErrorBackOff.MaxInterval = 5 * time.Millisecond
	return cfg
}

// spanPayload is an OTLP request with one span whose span id encodes id.
func spanPayload(id uint64) []byte {
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var sid pcommon.SpanID
	binary.BigEndian.PutUint64(sid[:], id+1) // an all-zero span id is invalid
	s.SetSpanID(sid)
	s.SetName("op")
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		panic(err)
	}
	return b
}

func spanID(td ptrace.Traces) uint64 {
	sid := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SpanID()
	return binary.BigEndian.Uint64(sid[:]) - 1
}

// logPayload is an OTLP request with one log record whose body is id.
func logPayload(id uint64) []byte {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetInt(int64(id))
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		panic(err)
	}
	return b
}

// spanRecords puts span id i in partition i % partitions, so its offset
// is i / partitions.
func spanRecords(partitions int32, ids ...uint64) []*kgo.Record {
	recs := make([]*kgo.Record, len(ids))
	for i, id := range ids {
		recs[i] = &kgo.Record{Topic: defaultTracesTopic, Partition: int32(id % uint64(partitions)), Value: spanPayload(id)}
	}
	return recs
}

func ids(from, to uint64) []uint64 {
	var out []uint64
	for id := from; id < to; id++ {
		out = append(out, id)
	}
	return out
}

func produce(t *testing.T, c *kfake.Cluster, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}

// committed reads the group's committed offsets of topic, as a new
// member would find them.
func committed(t *testing.T, c *kfake.Cluster, group, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	require.NoError(t, err)
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// heldToken is a token a sink retained, as a holding stage does.
type heldToken struct {
	id  uint64
	tok *ack.Token
}

// sink is the next consumer: it counts deliveries per id and can retain
// tokens (a hold) or refuse attempts.
type sink struct {
	mu        sync.Mutex
	attempts  map[uint64]int
	delivered map[uint64]int
	order     []uint64
	held      []heldToken
	// hold retains the token of attempt n at id; refuse fails it.
	hold   func(id uint64, n int) bool
	refuse func(id uint64, n int) error
}

func newSink() *sink {
	return &sink{attempts: map[uint64]int{}, delivered: map[uint64]int{}}
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return s.consume(ctx, spanID(td))
}

func (s *sink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return s.consume(ctx, uint64(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Int()))
}

func (s *sink) consume(ctx context.Context, id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[id]++
	n := s.attempts[id]
	if s.hold != nil && s.hold(id, n) {
		tok := ack.FromContext(ctx)
		tok.Retain()
		s.held = append(s.held, heldToken{id: id, tok: tok})
	}
	if s.refuse != nil {
		if err := s.refuse(id, n); err != nil {
			return err
		}
	}
	s.delivered[id]++
	s.order = append(s.order, id)
	return nil
}

// release releases the held tokens of the ids match selects, with err.
func (s *sink) release(match func(id uint64) bool, err error) {
	s.mu.Lock()
	var out []heldToken
	keep := s.held[:0]
	for _, h := range s.held {
		if match(h.id) {
			out = append(out, h)
		} else {
			keep = append(keep, h)
		}
	}
	s.held = keep
	s.mu.Unlock()
	for _, h := range out { // outside the lock: done callbacks may run here
		h.tok.Release(err)
	}
}

func all(uint64) bool { return true }

func (s *sink) count(id uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered[id]
}

func (s *sink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered)
}

func (s *sink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

func (s *sink) deliveredIDs() map[uint64]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint64]int, len(s.delivered))
	for id, n := range s.delivered {
		out[id] = n
	}
	return out
}

// start creates and starts a traces receiver (or a logs one, asLogs).
func start(t *testing.T, cfg *Config, next *sink, set receiver.Settings, asLogs bool) *durableReceiver {
	t.Helper()
	var rcv component.Component
	var err error
	if asLogs {
		rcv, err = NewFactory().CreateLogs(context.Background(), set, cfg, next)
	} else {
		rcv, err = NewFactory().CreateTraces(context.Background(), set, cfg, next)
	}
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { // bounded: a failed test may leave tokens held
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		require.NoError(t, rcv.Shutdown(ctx))
	})
	return rcv.(*durableReceiver)
}

func startTraces(t *testing.T, cfg *Config, next *sink) *durableReceiver {
	return start(t, cfg, next, receivertest.NewNopSettings(metadata.Type), false)
}

// kill is a crash: the loops stop and the client leaves the group without
// Shutdown's final commit (revoked does not commit once stopping).
func (r *durableReceiver) kill() {
	if r.stop() {
		r.closeClient()
	}
}

// commitNow runs what the commit ticker runs.
func (r *durableReceiver) commitNow() {
	r.commit(context.Background(), r.client, r.openParts())
}

func (r *durableReceiver) assignedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.parts)
}

// recordsByOutcome sums receiver_durable_kafka_records per outcome.
func recordsByOutcome(t *testing.T, tel *componenttest.Telemetry) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, err := tel.GetMetric("otelcol_receiver_durable_kafka_records")
	if err != nil {
		return out
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		o, _ := dp.Attributes.Value(attribute.Key("outcome"))
		out[o.AsString()] += dp.Value
	}
	return out
}
