package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver/internal/metadata"
)

// maxPollRecords bounds one poll, and so the records a partition keeps
// pending while it waits for room.
const maxPollRecords = 500

// maxDrainWait bounds Shutdown's wait for held records: the collector
// shuts down with no deadline, receivers first, so a stage that releases
// only in its own Shutdown would block it for ever. Records still held are
// read again later; the wait only saves duplicates.
const maxDrainWait = 30 * time.Second

// finalCommitGrace lets Shutdown commit what is done even when its context
// already ended: without it every record since the last periodic commit
// is read twice.
const finalCommitGrace = time.Second

// durableReceiver consumes one signal's topic in the consumer group with
// its own client and commits per partition only what no stage still holds.
type durableReceiver struct {
	set     receiver.Settings
	cfg     *Config
	topic   string
	handler handler
	tel     *telemetry
	use     usage

	invalidLog, refusedLog, fetchLog, commitLog *limitedLog

	client *kgo.Client
	runCtx context.Context // ends in Shutdown: loops, workers, retries
	cancel context.CancelFunc
	loops  sync.WaitGroup // poll and commit loops

	mu       sync.Mutex // guards parts and the lifecycle flags; taken before any partition's
	parts    map[int32]*partition
	started  bool
	stopping bool // from then on only Shutdown commits, once

	wakeMu     sync.Mutex
	woken      bool
	cancelPoll context.CancelFunc
}

func newReceiver(set receiver.Settings, cfg *Config, topic string, sig signal,
	newHandler func(*receiverhelper.ObsReport) handler,
) (*durableReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "kafka", ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	logger := set.Logger.With(zap.String("topic", topic))
	return &durableReceiver{
		set: set, cfg: cfg, topic: topic, handler: newHandler(obs), tel: newTelemetry(tb, sig),
		invalidLog: newLimitedLog(logger, "durable_kafka skipped records that cannot be decoded"),
		refusedLog: newLimitedLog(logger, "durable_kafka skipped records the pipeline refused"),
		fetchLog:   newLimitedLog(logger, "durable_kafka fetch failed"),
		commitLog:  newLimitedLog(logger, "durable_kafka offset commit failed; the next one retries"),
		parts:      map[int32]*partition{},
	}, nil
}

// Start creates the group consumer and starts the poll and commit loops;
// partition workers start as the group assigns partitions.
func (r *durableReceiver) Start(ctx context.Context, _ component.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("durable_kafka receiver already started")
	}
	opts, err := clientOpts(ctx, r.cfg, r.topic, r.set.Logger)
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost))
	if err = r.registerGauges(); err != nil {
		r.tel.tb.Shutdown()
		return err
	}
	// before the client: its group callbacks (which wait for r.mu) use it
	r.runCtx, r.cancel = context.WithCancel(context.Background())
	client, err := kgo.NewClient(opts...)
	if err != nil {
		r.cancel()
		r.tel.tb.Shutdown()
		return err
	}
	r.client, r.started = client, true
	r.loops.Add(2)
	go r.pollLoop(r.runCtx)
	go r.commitLoop(r.runCtx)
	return nil
}

// Shutdown stops fetching, waits (up to ctx, at most maxDrainWait) for the
// stages to release what they hold, commits the watermarks and leaves the
// group. A record still held then is read again by the next owner of its
// partition.
func (r *durableReceiver) Shutdown(ctx context.Context) error {
	if !r.stop() {
		return nil
	}
	drainCtx, cancelDrain := context.WithTimeout(ctx, maxDrainWait)
	n := r.use.live.wait(drainCtx)
	cancelDrain()
	if n > 0 {
		r.set.Logger.Warn("durable_kafka shut down with records still held by the pipeline; they will be read again",
			zap.String("topic", r.topic), zap.Int("records", n))
	}
	commitCtx, cancel := ctx, context.CancelFunc(func() {})
	if ctx.Err() != nil {
		commitCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finalCommitGrace)
	}
	r.commit(commitCtx, r.client, r.openParts())
	cancel()
	r.closeClient()
	return nil
}

// stop ends the loops and the workers; false when there is nothing to stop.
func (r *durableReceiver) stop() bool {
	r.mu.Lock()
	if !r.started || r.stopping {
		r.mu.Unlock()
		return false
	}
	r.stopping = true
	parts := r.partsLocked()
	r.mu.Unlock()
	r.cancel()
	r.loops.Wait()
	for _, p := range parts {
		<-p.exited
	}
	return true
}

// closeClient leaves the group (revoked runs for what is assigned, without
// committing: Shutdown did) and drops what the group never revoked.
func (r *durableReceiver) closeClient() {
	r.client.Close()
	r.mu.Lock()
	parts := r.partsLocked()
	clear(r.parts)
	r.mu.Unlock()
	for _, p := range parts {
		p.cancel()
		<-p.exited
		p.close(&r.use)
	}
	r.tel.tb.Shutdown()
}

func (r *durableReceiver) partsLocked() []*partition {
	parts := make([]*partition, 0, len(r.parts))
	for _, p := range r.parts {
		parts = append(parts, p)
	}
	return parts
}

func (r *durableReceiver) openParts() []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.partsLocked()
}

// assigned starts a worker per new partition and resumes fetching it: a
// pause outlives a revoke in the client.
func (r *durableReceiver) assigned(_ context.Context, cl *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return
	}
	for _, id := range m[r.topic] {
		if _, ok := r.parts[id]; ok {
			continue
		}
		p := newPartition(r.runCtx, id, r.tel.lagOpt(id))
		r.parts[id] = p
		go r.work(p)
	}
	cl.ResumeFetchPartitions(m)
}

// revoked commits the watermarks of partitions moving to another member and
// drops them. A record still held here is delivered by this process and
// read again by the new owner: a duplicate, never a loss.
func (r *durableReceiver) revoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	parts := r.detach(m[r.topic])
	offsets := r.closeParts(parts)
	r.mu.Lock()
	final := r.stopping // Shutdown committed already
	r.mu.Unlock()
	if final || len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SessionTimeout)
	defer cancel()
	r.commitOffsets(ctx, cl, offsets)
}

// lost drops partitions the group took away without a revoke (this member
// was fenced): committing is no longer ours.
func (r *durableReceiver) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.closeParts(r.detach(m[r.topic]))
}

func (r *durableReceiver) detach(ids []int32) []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []*partition
	for _, id := range ids {
		if p, ok := r.parts[id]; ok {
			parts = append(parts, p)
			delete(r.parts, id)
		}
	}
	return parts
}

// closeParts stops the workers of parts, closes them and returns their
// watermarks that passed the last commit.
func (r *durableReceiver) closeParts(parts []*partition) map[*partition]kgo.EpochOffset {
	for _, p := range parts {
		p.cancel()
	}
	offsets := map[*partition]kgo.EpochOffset{}
	for _, p := range parts {
		<-p.exited
		if wm, ok := p.close(&r.use); ok {
			offsets[p] = wm
		}
	}
	r.releaseBlocked()
	return offsets
}

// registerGauges observes the held records and bytes and each partition's
// lag at collection time.
func (r *durableReceiver) registerGauges() error {
	tb, opt := r.tel.tb, r.tel.signalOpt
	err := tb.RegisterReceiverDurableKafkaInflightRecordsCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(r.use.records.Load(), opt)
		return nil
	})
	if err == nil {
		err = tb.RegisterReceiverDurableKafkaInflightBytesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(r.use.bytes.Load(), opt)
			return nil
		})
	}
	if err == nil {
		err = tb.RegisterReceiverDurableKafkaLagCallback(func(_ context.Context, o metric.Int64Observer) error {
			for _, p := range r.openParts() {
				if lag, ok := p.lag(); ok {
					o.Observe(lag, p.lagOpt)
				}
			}
			return nil
		})
	}
	return err
}

// pollLoop fetches records and queues them for the partition workers. It
// alone moves the client's fetch positions (rewinds) and pauses, between
// polls, so no fetch of a partition is in its hands while they change.
func (r *durableReceiver) pollLoop(ctx context.Context) {
	defer r.loops.Done()
	for {
		r.applyState()
		fetches := r.poll(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(_ string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) { // a wake
				r.fetchLog.warn(zap.Int32("partition", partition), zap.Error(err))
			}
		})
		fetches.EachPartition(r.accept)
	}
}

func (r *durableReceiver) accept(fp kgo.FetchTopicPartition) {
	r.mu.Lock()
	p := r.parts[fp.Partition]
	r.mu.Unlock()
	if p != nil && fp.Topic == r.topic && p.accept(fp.Records, fp.HighWatermark) {
		p.signal()
	}
}

// applyState applies the partitions' pending rewinds and pauses. Holding
// r.mu keeps revokes out: the client sees no change for a partition it
// just took away (franz-go calls the group callbacks without its locks).
func (r *durableReceiver) applyState() {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rewinds map[int32]kgo.EpochOffset
	var pause, resume []int32
	for id, p := range r.parts {
		rewind, doPause, doResume := p.plan(r.cfg.MaxInflightRecords)
		if rewind != nil {
			if rewinds == nil {
				rewinds = map[int32]kgo.EpochOffset{}
			}
			rewinds[id] = *rewind
		}
		if doPause {
			pause = append(pause, id)
		}
		if doResume {
			resume = append(resume, id)
		}
	}
	if rewinds != nil {
		// also drops every buffered fetch: the next poll starts at the rewinds
		r.client.SetOffsets(map[string]map[int32]kgo.EpochOffset{r.topic: rewinds})
	}
	if pause != nil {
		r.client.PauseFetchPartitions(map[string][]int32{r.topic: pause})
	}
	if resume != nil {
		r.client.ResumeFetchPartitions(map[string][]int32{r.topic: resume})
	}
}

// poll waits for records, for ctx, or for a wake (a rewind to apply, a
// partition to resume).
func (r *durableReceiver) poll(ctx context.Context) kgo.Fetches {
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.wakeMu.Lock()
	if r.woken { // woken since the last poll: apply the state again first
		cancel()
	}
	r.woken, r.cancelPoll = false, cancel
	r.wakeMu.Unlock()
	fetches := r.client.PollRecords(pollCtx, maxPollRecords)
	r.wakeMu.Lock()
	r.cancelPoll = nil
	r.wakeMu.Unlock()
	return fetches
}

// wake makes the poll loop apply the partitions' state now.
func (r *durableReceiver) wake() {
	r.wakeMu.Lock()
	r.woken = true
	if r.cancelPoll != nil {
		r.cancelPoll()
	}
	r.wakeMu.Unlock()
}

// releaseBlocked wakes every worker after bytes were released while one
// waited for max_inflight_bytes.
func (r *durableReceiver) releaseBlocked() {
	if !r.use.blocked.Swap(false) {
		return
	}
	for _, p := range r.openParts() {
		p.signal()
	}
}

func (r *durableReceiver) commitLoop(ctx context.Context) {
	defer r.loops.Done()
	t := time.NewTicker(r.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.commit(ctx, r.client, r.openParts())
		}
	}
}

// commit commits the watermarks of parts that advanced since their last
// commit.
func (r *durableReceiver) commit(ctx context.Context, cl *kgo.Client, parts []*partition) {
	offsets := map[*partition]kgo.EpochOffset{}
	for _, p := range parts {
		if wm, ok := p.commitPoint(); ok {
			offsets[p] = wm
		}
	}
	if len(offsets) > 0 {
		r.commitOffsets(ctx, cl, offsets)
	}
}

func (r *durableReceiver) commitOffsets(ctx context.Context, cl *kgo.Client, offsets map[*partition]kgo.EpochOffset) {
	req := make(map[int32]kgo.EpochOffset, len(offsets))
	for p, o := range offsets {
		req[p.id] = o
	}
	var failed map[int32]error
	var reqErr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{r.topic: req},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			reqErr = err
			if err == nil {
				failed = partitionErrors(resp)
			}
		})
	if reqErr == nil && len(failed) == 0 {
		r.tel.tb.ReceiverDurableKafkaCommits.Add(context.Background(), 1, r.tel.signalOpt)
	} else {
		r.tel.tb.ReceiverDurableKafkaCommitFailures.Add(context.Background(), 1, r.tel.signalOpt)
		r.commitLog.warn(zap.Error(errors.Join(reqErr, joinErrors(failed))))
	}
	if reqErr != nil {
		return
	}
	for p, o := range offsets {
		if failed[p.id] == nil {
			p.committedTo(o.Offset)
		}
	}
}

// partitionErrors are the partitions a commit response refused.
func partitionErrors(resp *kmsg.OffsetCommitResponse) map[int32]error {
	var failed map[int32]error
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				if failed == nil {
					failed = map[int32]error{}
				}
				failed[p.Partition] = err
			}
		}
	}
	return failed
}

func joinErrors(m map[int32]error) error {
	var errs []error
	for id, err := range m {
		errs = append(errs, fmt.Errorf("partition %d: %w", id, err))
	}
	return errors.Join(errs...)
}
