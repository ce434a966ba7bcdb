package durablekafkareceiver

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-biz/otelcol-biz/internal/nesting/nestingtest"
	"github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver/internal/metadatatest"
)

func newTestTelemetry(t *testing.T) *componenttest.Telemetry {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return tel
}

// TestPlainDelivery: every record is handed on once and the committed
// offsets reach the end of each partition (periodic commits).
func TestPlainDelivery(t *testing.T) {
	c := newCluster(t, 3)
	tel := newTestTelemetry(t)
	cfg := testConfig(c, "plain")
	cfg.CommitInterval = 20 * time.Millisecond
	next := newSink()
	start(t, cfg, next, metadatatest.NewSettings(tel), false)

	produce(t, c, spanRecords(3, ids(0, 60)...)...)
	require.Eventually(t, func() bool { return next.distinct() == 60 }, waitFor, tick)
	want := map[int32]int64{0: 20, 1: 20, 2: 20}
	require.Eventually(t, func() bool { return maps.Equal(want, committed(t, c, "plain", defaultTracesTopic)) }, waitFor, 50*time.Millisecond)
	assert.Equal(t, 60, next.total(), "each record handed on once")

	metadatatest.AssertEqualReceiverDurableKafkaRecords(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("signal", "traces"), attribute.String("outcome", "accepted")),
		Value:      60,
	}}, metricdatatest.IgnoreTimestamp())
	m, err := tel.GetMetric("otelcol_receiver_durable_kafka_commits")
	require.NoError(t, err)
	assert.Positive(t, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
}

// TestHeldRecordsHoldTheCommit: while a stage holds a record's token the
// committed offset stays at that record; releasing it lets the offset pass.
func TestHeldRecordsHoldTheCommit(t *testing.T) {
	type step struct {
		release []uint64
		want    int64
	}
	tests := []struct {
		name  string
		hold  []uint64
		steps []step
	}{
		{name: "none held", steps: []step{{want: 10}}},
		{name: "one held", hold: []uint64{3}, steps: []step{{want: 3}, {release: []uint64{3}, want: 10}}},
		{name: "first held", hold: []uint64{0}, steps: []step{{want: 0}, {release: []uint64{0}, want: 10}}},
		{name: "later released first", hold: []uint64{3, 7}, steps: []step{
			{want: 3}, {release: []uint64{7}, want: 3}, {release: []uint64{3}, want: 10},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 1)
			next := newSink()
			next.hold = func(id uint64, _ int) bool { return contains(tt.hold, id) }
			r := startTraces(t, testConfig(c, "held"), next)
			produce(t, c, spanRecords(1, ids(0, 10)...)...)
			require.Eventually(t, func() bool { return next.distinct() == 10 }, waitFor, tick)
			for _, s := range tt.steps {
				next.release(func(id uint64) bool { return contains(s.release, id) }, nil)
				require.Eventually(t, func() bool {
					r.commitNow()
					return committed(t, c, "held", defaultTracesTopic)[0] == s.want
				}, waitFor, 20*time.Millisecond)
				r.commitNow() // and it stays there
				assert.Equal(t, s.want, committed(t, c, "held", defaultTracesTopic)[0])
			}
		})
	}
}

func contains(s []uint64, id uint64) bool {
	for _, v := range s {
		if v == id {
			return true
		}
	}
	return false
}

// TestCrashRedeliversWhatWasNotReleased: receiver A holds tokens and stops
// (kill: a crash, nothing more committed; or Shutdown whose context already
// ended: one final commit); receiver B of the same group hands on every
// record A did not release: nothing is lost, and the duplicates are only
// records from the committed watermark on.
func TestCrashRedeliversWhatWasNotReleased(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		stop   func(*durableReceiver)
		wantWM map[int32]int64
	}{
		{name: "kill", stop: (*durableReceiver).kill, wantWM: map[int32]int64{0: 15, 1: 5}},
		{
			name:   "shutdown with ended context",
			stop:   func(r *durableReceiver) { require.NoError(t, r.Shutdown(ended)) },
			wantWM: map[int32]int64{0: 15, 1: 12},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const partitions = 2
			c := newCluster(t, partitions)
			held := []uint64{10, 11, 25, 30} // offsets 5 (p0), 5 (p1), 12 (p1), 15 (p0)
			a := newSink()
			a.hold = func(id uint64, _ int) bool { return contains(held, id) }
			ra := startTraces(t, testConfig(c, "crash"), a)
			produce(t, c, spanRecords(partitions, ids(0, 40)...)...)
			require.Eventually(t, func() bool { return a.distinct() == 40 }, waitFor, tick)
			a.release(func(id uint64) bool { return id == 10 }, nil)
			require.Eventually(t, func() bool {
				ra.commitNow()
				return maps.Equal(map[int32]int64{0: 15, 1: 5}, committed(t, c, "crash", defaultTracesTopic))
			}, waitFor, 20*time.Millisecond)
			a.release(func(id uint64) bool { return id == 11 }, nil) // p1 may go to 12, not yet committed

			tt.stop(ra)
			wm := committed(t, c, "crash", defaultTracesTopic)
			assert.Equal(t, tt.wantWM, wm, "nothing committed past a held record")

			b := newSink()
			startTraces(t, testConfig(c, "crash"), b)
			var want []uint64 // at or after the watermark of its partition
			for _, id := range ids(0, 40) {
				if int64(id/partitions) >= wm[int32(id%partitions)] {
					want = append(want, id)
				}
			}
			require.Eventually(t, func() bool { return b.distinct() == len(want) }, waitFor, tick)
			got := b.deliveredIDs()
			for _, id := range want {
				assert.Equal(t, 1, got[id], "record %d handed on again once", id)
			}
			assert.Len(t, got, len(want), "nothing before the watermark again")
			for _, id := range []uint64{25, 30} {
				assert.Contains(t, got, id, "held record %d not lost", id)
			}
			a.release(all, nil) // too late: A's callbacks are void
		})
	}
}

// TestAsyncFailureRewinds: a stage releases a held token as failed after
// the Consume call returned nil; the partition is rewound to that record,
// which (and every later one) is handed on again.
func TestAsyncFailureRewinds(t *testing.T) {
	c := newCluster(t, 1)
	tel := newTestTelemetry(t)
	next := newSink()
	next.hold = func(id uint64, n int) bool { return id == 4 && n == 1 }
	r := start(t, testConfig(c, "rewind"), next, metadatatest.NewSettings(tel), false)
	produce(t, c, spanRecords(1, ids(0, 10)...)...)
	require.Eventually(t, func() bool { return next.total() == 10 }, waitFor, tick)

	next.release(func(uint64) bool { return true }, errors.New("export failed"))
	require.Eventually(t, func() bool { return next.total() == 16 }, waitFor, tick)
	for _, id := range ids(0, 10) {
		want := 1
		if id >= 4 {
			want = 2
		}
		assert.Equal(t, want, next.count(id), "record %d", id)
	}
	require.Eventually(t, func() bool {
		r.commitNow()
		return committed(t, c, "rewind", defaultTracesTopic)[0] == 10
	}, waitFor, 20*time.Millisecond)
	got := recordsByOutcome(t, tel)
	assert.Equal(t, int64(16), got["accepted"])
	assert.Equal(t, int64(6), got["redelivered"])
}

// TestSyncErrors: a retryable refusal is retried with backoff while the
// partition waits (nothing skipped, order kept); a permanent one, or a
// backoff that runs out, skips the record and counts it.
func TestSyncErrors(t *testing.T) {
	busy := errors.New("memory limit reached")
	tests := []struct {
		name         string
		maxElapsed   time.Duration
		hold         func(id uint64, n int) bool
		refuse       func(id uint64, n int) error
		wantAttempts int // at id 4
		wantRefused  int64
	}{
		{
			name:         "retryable",
			refuse:       func(id uint64, n int) error { return errIf(id == 4 && n <= 3, busy) },
			wantAttempts: 4,
		},
		{
			name:         "retained then refused",
			hold:         func(id uint64, n int) bool { return id == 4 && n == 1 },
			refuse:       func(id uint64, n int) error { return errIf(id == 4 && n == 1, busy) },
			wantAttempts: 2,
		},
		{
			name: "permanent",
			refuse: func(id uint64, _ int) error {
				return errIf(id == 4, consumererror.NewPermanent(errors.New("bad data")))
			},
			wantAttempts: 1,
			wantRefused:  1,
		},
		{
			name:         "backoff runs out",
			maxElapsed:   20 * time.Millisecond,
			refuse:       func(id uint64, _ int) error { return errIf(id == 4, busy) },
			wantAttempts: -1, // some
			wantRefused:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 1)
			tel := newTestTelemetry(t)
			cfg := testConfig(c, "sync")
			cfg.ErrorBackOff.MaxElapsedTime = tt.maxElapsed
			next := newSink()
			next.hold, next.refuse = tt.hold, tt.refuse
			r := start(t, cfg, next, metadatatest.NewSettings(tel), false)
			produce(t, c, spanRecords(1, ids(0, 10)...)...)
			wantDelivered := 10 - int(tt.wantRefused)
			require.Eventually(t, func() bool { return next.total() == wantDelivered }, waitFor, tick)
			next.release(all, errors.New("late failure of a refused attempt"))
			require.Eventually(t, func() bool {
				r.commitNow()
				return committed(t, c, "sync", defaultTracesTopic)[0] == 10
			}, waitFor, 20*time.Millisecond)

			next.mu.Lock()
			assert.IsIncreasing(t, next.order, "the partition waited for the refused record")
			if tt.wantAttempts > 0 {
				assert.Equal(t, tt.wantAttempts, next.attempts[4])
			}
			next.mu.Unlock()
			assert.Equal(t, wantDelivered, next.total(), "nothing handed on twice")
			got := recordsByOutcome(t, tel)
			assert.Equal(t, tt.wantRefused, got["refused"])
			assert.Zero(t, got["redelivered"], "a superseded attempt's token cannot rewind")
		})
	}
}

func errIf(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}

// TestInvalidRecords: a payload that does not decode, or nests deeper than
// max_depth, is skipped and counted; the next record goes on.
func TestInvalidRecords(t *testing.T) {
	valid := logPayload(0)
	tests := []struct {
		name    string
		payload []byte
	}{
		{name: "garbage", payload: []byte("not protobuf at all")},
		{name: "truncated", payload: valid[:len(valid)-3]},
		{name: "deeper than max_depth", payload: nestingtest.DeepLogsRequest(defaultMaxDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 1)
			tel := newTestTelemetry(t)
			next := newSink()
			r := start(t, testConfig(c, "invalid"), next, metadatatest.NewSettings(tel), true)
			produce(t, c,
				&kgo.Record{Topic: defaultLogsTopic, Value: logPayload(0)},
				&kgo.Record{Topic: defaultLogsTopic, Value: tt.payload},
				&kgo.Record{Topic: defaultLogsTopic, Value: logPayload(2)})
			require.Eventually(t, func() bool { return next.count(2) == 1 }, waitFor, tick)
			assert.Equal(t, 2, next.total())
			require.Eventually(t, func() bool {
				r.commitNow()
				return committed(t, c, "invalid", defaultLogsTopic)[0] == 3
			}, waitFor, 20*time.Millisecond)
			got := recordsByOutcome(t, tel)
			assert.Equal(t, int64(1), got["invalid"])
			assert.Equal(t, int64(2), got["accepted"])
		})
	}
}

// TestInflightBound: with every token held, a partition stops at
// max_inflight_records (or the signal at max_inflight_bytes), its fetching
// paused, and goes on as tokens are released.
func TestInflightBound(t *testing.T) {
	size := int64(len(spanPayload(0)))
	tests := []struct {
		name     string
		records  int
		bytes    int64
		wantHeld int
	}{
		{name: "max_inflight_records", records: 5, bytes: 1 << 20, wantHeld: 5},
		{name: "max_inflight_bytes", records: 100, bytes: 3 * size, wantHeld: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 1)
			cfg := testConfig(c, "bound")
			cfg.MaxInflightRecords, cfg.MaxInflightBytes = tt.records, tt.bytes
			next := newSink()
			next.hold = func(uint64, int) bool { return true }
			r := startTraces(t, cfg, next)
			produce(t, c, spanRecords(1, ids(0, 20)...)...)

			require.Eventually(t, func() bool { return next.total() == tt.wantHeld }, waitFor, tick)
			require.Eventually(t, func() bool {
				return contains32(r.client.PauseFetchPartitions(nil)[defaultTracesTopic], 0)
			}, waitFor, tick, "fetching paused")
			assert.Never(t, func() bool { return next.total() > tt.wantHeld }, 200*time.Millisecond, 10*time.Millisecond)
			assert.Equal(t, int64(tt.wantHeld), r.use.records.Load())

			require.Eventually(t, func() bool {
				next.release(all, nil)
				return next.distinct() == 20
			}, waitFor, tick)
			assert.Equal(t, 20, next.total(), "each once")
			require.Eventually(t, func() bool {
				return !contains32(r.client.PauseFetchPartitions(nil)[defaultTracesTopic], 0)
			}, waitFor, tick, "fetching resumed")
		})
	}
}

func contains32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestTwoReceiversShareAndTakeOver: a second receiver of the group takes
// half the partitions, whose watermarks the first commits on revoke (no
// record read twice); when the first stops while holding records, the
// second takes its partitions over and hands on everything it had not
// released.
func TestTwoReceiversShareAndTakeOver(t *testing.T) {
	c := newCluster(t, 4)
	a := newSink()
	a.hold = func(id uint64, _ int) bool { return id >= 40 }
	ra := startTraces(t, testConfig(c, "pair"), a)
	require.Eventually(t, func() bool { return ra.assignedCount() == 4 }, waitFor, tick)
	produce(t, c, spanRecords(4, ids(0, 40)...)...)
	require.Eventually(t, func() bool { return a.distinct() == 40 }, waitFor, tick)

	b := newSink()
	rb := startTraces(t, testConfig(c, "pair"), b)
	require.Eventually(t, func() bool { return ra.assignedCount() == 2 && rb.assignedCount() == 2 }, waitFor, tick)
	produce(t, c, spanRecords(4, ids(40, 80)...)...)
	require.Eventually(t, func() bool { return a.distinct()+b.distinct() == 80 }, waitFor, tick)
	assert.Equal(t, 20, b.total(), "B read its partitions from A's revoke commit: nothing twice")
	fromA := a.deliveredIDs()
	for id := range b.deliveredIDs() {
		assert.GreaterOrEqual(t, id, uint64(40))
		assert.NotContains(t, fromA, id, "record %d handed on by both", id)
	}

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, ra.Shutdown(ended)) // A still holds its 20 of 40..79
	require.Eventually(t, func() bool { return rb.assignedCount() == 4 }, waitFor, tick)
	require.Eventually(t, func() bool { return b.distinct() == 40 }, waitFor, tick, "B handed on what A held")
	for _, id := range ids(40, 80) {
		assert.Equal(t, 1, b.count(id), "record %d", id)
	}

	produce(t, c, spanRecords(4, ids(80, 100)...)...)
	require.Eventually(t, func() bool { return b.distinct() == 60 }, waitFor, tick)
	a.release(all, nil)
}
