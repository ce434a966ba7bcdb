package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-biz/otelcol-biz/internal/ack"
	"github.com/otelcol-biz/otelcol-biz/internal/storageclient"
	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadata"
)

// bizDye is one biz_dye instance, shared by the traces and logs pipelines
// that use the same component id.
//
// A batch goes through scan -> decide -> hold -> stamp. Scanning for key
// values (the costly part) and stamping run without a lock on the batch's
// pooled scratch; one mutex guards the registry, the producer index, the
// hold buffer and the orphan tracker for the short decide and hold step.
// One goroutine, started in Start, releases expired holds and sweeps the
// tables.
type bizDye struct {
	cfg    *Config
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	st     *stamper
	smp    *sampler // nil without `sampling`
	hold   time.Duration
	clock  clockwork.Clock
	epoch  time.Time

	nextTraces consumer.Traces
	nextLogs   consumer.Logs

	scratch sync.Pool // *batchScratch

	mu       sync.Mutex
	reg      *traceRegistry
	dec      *decider // merges batches into reg and the producer index
	held     *holdBuffer
	rel      spanRelease // the encoded spans of the held traces being released
	orphans  *orphanTracker
	services *serviceNames

	id     component.ID
	client storage.Client // registry persistence, when `storage` is set

	stop chan struct{}
	done chan struct{}
}

func newBizDye(id component.ID, set component.TelemetrySettings, cfg *Config, clock clockwork.Clock) (*bizDye, error) {
	tel, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	if cfg.HashSalt == "" {
		for _, k := range cfg.Keys {
			if k.Hash {
				set.Logger.Warn("biz_dye: 'hash_salt' is empty: a hashed key is the plain SHA-256 of its value, "+
					"which anyone can reverse by hashing candidate values (user ids are few); set hash_salt from a secret",
					zap.String("key", k.Name))
				break
			}
		}
	}
	ext := newExtractor(cfg)
	st := newStamper(cfg, ext)
	reg := newTraceRegistry(cfg.MaxTraces, cfg.Keys)
	services := newServiceNames(cfg.MaxServices)
	p := &bizDye{
		id:     id,
		cfg:    cfg,
		logger: set.Logger,
		tel:    tel,
		st:     st,
		clock:  clock,
		epoch:  clock.Now(),
		reg:    reg,
		dec: &decider{
			reg:       reg,
			producers: newProducerIndex(cfg.MaxAsyncProducers, cfg.Keys),
			services:  services,
			st:        st,
			maxValues: cfg.MaxValuesPerKey,
			linkAsync: cfg.LinkAsync,
		},
		held:     newHoldBuffer(),
		hold:     cfg.Wait,
		orphans:  newOrphanTracker(cfg.MaxPendingParents),
		services: services,
	}
	if sc := cfg.Sampling.Get(); sc != nil {
		p.smp, p.hold, p.dec.sampling = newSampler(sc), sc.DecisionWait, true
		p.held.encode = true
	}
	p.scratch.New = func() any { return newBatchScratch(ext, st, len(cfg.Keys)) }
	err = errors.Join(
		tel.RegisterProcessorBizDyeHeldSpansCallback(func(_ context.Context, o metric.Int64Observer) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			o.Observe(int64(p.held.spans))
			return nil
		}),
		tel.RegisterProcessorBizDyeHeldLogsCallback(func(_ context.Context, o metric.Int64Observer) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			o.Observe(int64(p.held.logs))
			return nil
		}),
		tel.RegisterProcessorBizDyeRegistrySizeCallback(func(_ context.Context, o metric.Int64Observer) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			o.Observe(int64(p.reg.len()))
			return nil
		}),
	)
	if err != nil {
		tel.Shutdown()
		return nil, err
	}
	return p, nil
}

// Start loads the saved registry (with `storage`) and launches the release loop.
func (p *bizDye) Start(ctx context.Context, host component.Host) error {
	if p.cfg.Storage != nil {
		client, err := storageclient.Get(ctx, host, *p.cfg.Storage, component.KindProcessor, p.id)
		if err != nil {
			return fmt.Errorf("biz_dye: %w", err)
		}
		p.client = client
		p.loadRegistry(ctx)
	}
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	interval := min(max(p.cfg.Wait/8, 10*time.Millisecond), time.Second)
	ticker := p.clock.NewTicker(interval)
	var snapshots <-chan time.Time // nil (never fires) without storage
	stopSnapshots := func() {}
	if p.client != nil && p.cfg.SnapshotInterval > 0 {
		st := p.clock.NewTicker(p.cfg.SnapshotInterval)
		snapshots, stopSnapshots = st.Chan(), st.Stop
	}
	go func() {
		defer close(p.done)
		defer ticker.Stop()
		defer stopSnapshots()
		for {
			select {
			case <-p.stop:
				return
			case <-ticker.Chan():
				p.releaseExpired(context.Background(), false)
			case <-snapshots:
				p.snapshot(context.Background())
			}
		}
	}()
	return nil
}

// snapshot saves the registry while running: a crash loses at most
// snapshot_interval of it (the records after the last snapshot are
// delivered again by an at-least-once source and dye their traces again).
func (p *bizDye) snapshot(ctx context.Context) {
	if err := p.saveRegistry(ctx); err != nil {
		p.tel.ProcessorBizDyeRegistrySnapshots.Add(ctx, 1, optSnapshotFailed)
		p.logger.Warn("biz_dye: saving the registry snapshot failed", zap.Error(err))
		return
	}
	p.tel.ProcessorBizDyeRegistrySnapshots.Add(ctx, 1, optSnapshotOK)
}

// Shutdown stops the release loop and flushes everything still held.
func (p *bizDye) Shutdown(ctx context.Context) error {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	p.releaseExpired(ctx, true)
	var err error
	if p.client != nil {
		err = errors.Join(p.saveRegistry(ctx), p.client.Close(ctx))
		p.client = nil
	}
	p.tel.Shutdown()
	return err
}

// saveRegistry writes the registry and producer index snapshots to storage,
// in one write.
func (p *bizDye) saveRegistry(ctx context.Context) error {
	p.mu.Lock()
	reg := p.reg.encode(p.now())
	producers := p.dec.producers.encode(p.reg.header, p.services.name)
	n := p.reg.len()
	p.mu.Unlock()
	if err := p.client.Batch(ctx, storage.SetOperation(registryKey, reg), storage.SetOperation(producersKey, producers)); err != nil {
		return fmt.Errorf("biz_dye: saving the registry (%d traces): %w", n, err)
	}
	return nil
}

// loadRegistry restores the saved registry (see traceRegistry.decode). When
// storage cannot be read the processor starts with an empty registry: the
// error is logged and counted.
func (p *bizDye) loadRegistry(ctx context.Context) {
	buf, err := p.client.Get(ctx, registryKey)
	if err != nil {
		p.tel.ProcessorBizDyeRegistryLoadErrors.Add(ctx, 1)
		p.logger.Warn("biz_dye: reading the saved registry failed; starting with an empty registry", zap.Error(err))
		return
	}
	if len(buf) == 0 {
		return
	}
	p.mu.Lock()
	loaded, err := p.reg.decode(buf, p.now(), int64(p.cfg.TTL/time.Second))
	p.mu.Unlock()
	p.warnLoad("registry", loaded, err)
	p.loadProducers(ctx)
}

// loadProducers restores the saved producer index, so that a consumer trace
// arriving after a restart still finds the producer span of its flow.
func (p *bizDye) loadProducers(ctx context.Context) {
	buf, err := p.client.Get(ctx, producersKey)
	if err != nil {
		p.tel.ProcessorBizDyeRegistryLoadErrors.Add(ctx, 1)
		p.logger.Warn("biz_dye: reading the saved producer index failed; starting with an empty one", zap.Error(err))
		return
	}
	if len(buf) == 0 {
		return
	}
	p.mu.Lock()
	loaded, err := p.dec.producers.decode(buf, p.reg.header, p.services.id)
	p.mu.Unlock()
	p.warnLoad("producer index", loaded, err)
}

func (p *bizDye) warnLoad(what string, loaded int, err error) {
	switch {
	case errors.Is(err, errDamaged):
		p.logger.Warn("biz_dye: "+what+": "+err.Error(), zap.Int("loaded", loaded))
	case err != nil:
		p.logger.Warn("biz_dye: " + what + ": " + err.Error())
	}
}

func (p *bizDye) now() int32 { return int32(p.clock.Since(p.epoch) / time.Second) }

// releaseExpired releases held traces older than wait (all of them when
// flush is set), and sweeps the registry and orphan tables.
func (p *bizDye) releaseExpired(ctx context.Context, flush bool) {
	var td ptrace.Traces
	var ld plog.Logs
	var orphans []uint16
	var c counts
	var acks ack.Set
	now := p.clock.Now()
	p.mu.Lock()
	for ht := p.held.oldest(); ht != nil && (flush || now.Sub(ht.since) >= p.hold); ht = p.held.oldest() {
		p.releaseHeld(ht, &c, &td, &ld, &acks)
	}
	p.rel.flush(&td, p.st)
	cutoff := p.now() - int32(p.cfg.TTL/time.Second)
	p.reg.expire(cutoff, p.now(), p.held.holds) // a trace still held for its producer is kept: finish needs it
	p.orphans.expire(cutoff, func(child uint16) { orphans = append(orphans, child) })
	p.mu.Unlock()

	p.record(ctx, &c)
	for _, child := range orphans {
		p.tel.ProcessorBizDyeOrphanSpans.Add(ctx, 1, metric.WithAttributes(
			attribute.String("parent_service", serviceUnknown),
			attribute.String("child_service", p.serviceName(child))))
	}
	acks.Release(p.forward(ctx, td, ld))
}

// releaseHeld takes ht out of the hold buffer, stamps it when its trace is
// dyed (else it leaves unchanged), and moves its items to td and ld (and its
// acknowledgements to acks). Called with p.mu held.
func (p *bizDye) releaseHeld(ht *heldTrace, c *counts, td *ptrace.Traces, ld *plog.Logs, acks *ack.Set) {
	p.held.remove(ht)
	dye, keep, dyed := p.dec.finish(ht, c)
	if p.smp != nil && ht.spans > 0 {
		rule := p.smp.decide(ht, keep)
		c.decisions[rule]++
		p.dec.recordDecision(ht.id, rule != ruleNone, p.now(), c)
		if rule == ruleNone {
			c.sampledOut += ht.dropSpans()
		}
	}
	if ht.spans > 0 && ht.traces == (ptrace.Traces{}) {
		// encoded only: decoded and stamped with the sweep's other traces
		p.rel.add(ht, dye, keep, dyed)
		if dyed {
			c.dyed += int64(ht.spans)
		}
		ht.spans = 0
	}
	if dyed {
		spans, logs := ht.stamp(p.st, dye, keep)
		c.dyed += spans
		c.logsDyed += logs
	}
	ht.releaseInto(td, ld, acks)
}

func (p *bizDye) serviceName(id uint16) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.services.name(id)
}

// forward sends released data downstream (from the release loop, or the
// other signal's data a consume call released). The data cannot be returned
// to its sender once held: errors are logged, and returned for the held
// data's acknowledgements (a source that can, a Kafka receiver, delivers it
// again).
func (p *bizDye) forward(ctx context.Context, td ptrace.Traces, ld plog.Logs) error {
	var errT, errL error
	if td != (ptrace.Traces{}) && td.ResourceSpans().Len() > 0 && p.nextTraces != nil {
		if errT = p.nextTraces.ConsumeTraces(ctx, td); errT != nil {
			p.logger.Warn("biz_dye: next consumer refused released spans", zap.Int("spans", td.SpanCount()), zap.Error(errT))
		}
	}
	if ld != (plog.Logs{}) && ld.ResourceLogs().Len() > 0 && p.nextLogs != nil {
		if errL = p.nextLogs.ConsumeLogs(ctx, ld); errL != nil {
			p.logger.Warn("biz_dye: next consumer refused released logs", zap.Int("logs", ld.LogRecordCount()), zap.Error(errL))
		}
	}
	return errors.Join(errT, errL)
}

func (p *bizDye) record(ctx context.Context, c *counts) {
	addCount(ctx, p.tel.ProcessorBizDyeSpansDyed, c.dyed)
	addCount(ctx, p.tel.ProcessorBizDyeLateSpansDyed, c.late)
	addCount(ctx, p.tel.ProcessorBizDyeLogsDyed, c.logsDyed)
	addCount(ctx, p.tel.ProcessorBizDyeSpansHeld, c.held)
	addCount(ctx, p.tel.ProcessorBizDyeEarlyReleases, c.early)
	addCount(ctx, p.tel.ProcessorBizDyeRegistryEvictions, c.evicted)
	addCount(ctx, p.tel.ProcessorBizDyeOrphanChecksDropped, c.orphanDropped)
	addCount(ctx, p.tel.ProcessorBizDyeValuesDropped, c.tooMany, optTooManyValues)
	addCount(ctx, p.tel.ProcessorBizDyeValuesDropped, c.truncated, optTruncated)
	addCount(ctx, p.tel.ProcessorBizDyeValuesDropped, c.invalid, optInvalid)
	addCount(ctx, p.tel.ProcessorBizDyeSpansSampledOut, c.sampledOut)
	for r, n := range c.decisions {
		addCount(ctx, p.tel.ProcessorBizDyeSamplingDecisions, n, ruleOpts[r])
	}
	if len(c.stitched) > 0 {
		p.mu.Lock()
		names := make([][2]string, len(c.stitched))
		for i, h := range c.stitched {
			names[i] = [2]string{p.services.name(h.parent), p.services.name(h.child)}
		}
		p.mu.Unlock()
		for _, n := range names {
			p.tel.ProcessorBizDyeStitchedLinks.Add(ctx, 1, metric.WithAttributes(
				attribute.String("parent_service", n[0]), attribute.String("child_service", n[1])))
		}
	}
}

// ConsumeTraces dyes, holds or passes every span of td.
func (p *bizDye) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	sc := p.getScratch()
	defer p.putScratch(sc)
	rss := td.ResourceSpans()
	sc.scanSpans(rss)

	var releasedLogs plog.Logs
	since, now := p.lockBatch()
	sc.internServices(p.services)
	sc.observeParents(p.orphans, now)
	held := p.dec.decideBatch(sc, now, true)
	if held {
		sc.counts.held += p.held.holdSpans(td, sc, since, ack.FromContext(ctx))
	}
	released := p.release(sc, &td, &releasedLogs)
	p.mu.Unlock()

	sc.stampSpans(rss, held || released)
	sc.stampReleasedLogs(releasedLogs)
	p.record(ctx, sc.finish())
	var err error
	if rss.Len() > 0 {
		err = p.nextTraces.ConsumeTraces(ctx, td)
	}
	// td carried the released spans: their sources share its outcome
	sc.acks.Release(errors.Join(err, p.forward(ctx, ptrace.Traces{}, releasedLogs)))
	return err
}

// ConsumeLogs dyes, holds or passes every log record of ld.
func (p *bizDye) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	sc := p.getScratch()
	defer p.putScratch(sc)
	rls := ld.ResourceLogs()
	sc.scanLogs(rls)

	var releasedTraces ptrace.Traces
	since, now := p.lockBatch()
	if p.dec.decideBatch(sc, now, false) {
		p.held.holdLogs(rls, sc, since, ack.FromContext(ctx))
	}
	p.release(sc, &releasedTraces, &ld)
	p.mu.Unlock()

	sc.stampLogs(rls)
	sc.stampReleasedSpans(releasedTraces)
	p.record(ctx, sc.finish())
	var err error
	if rls.Len() > 0 {
		err = p.nextLogs.ConsumeLogs(ctx, ld)
	}
	sc.acks.Release(errors.Join(err, p.forward(ctx, releasedTraces, plog.Logs{})))
	return err
}

func (p *bizDye) getScratch() *batchScratch { return p.scratch.Get().(*batchScratch) }

func (p *bizDye) putScratch(sc *batchScratch) {
	sc.reset()
	p.scratch.Put(sc)
}

// lockBatch opens the locked step of a consume call: it takes p.mu, starts
// a hold generation (held items of this batch share held scopes), and
// returns the time items held now are held since and the registry's clock.
// The caller unlocks.
func (p *bizDye) lockBatch() (since time.Time, now int32) {
	since = p.clock.Now()
	p.mu.Lock()
	p.held.gen++
	return since, p.now()
}

// release moves into td and ld the held items of the batch's traces that
// are no longer held (the batch dyed or rooted them: it stamps them), then
// the oldest held traces while the hold buffer is over its bounds. It
// reports whether it released anything. Called with p.mu held.
func (p *bizDye) release(sc *batchScratch, td *ptrace.Traces, ld *plog.Logs) bool {
	released := false
	if !p.held.empty() {
		for i := range sc.traces {
			if t := &sc.traces[i]; t.act != actHold {
				if ht := p.held.take(t.id); ht != nil {
					ht.releaseInto(td, ld, &sc.acks)
					released = true
				}
			}
		}
	}
	for p.held.over(p.cfg.MaxBufferedSpans, p.cfg.MaxBufferedLogs) {
		ht := p.held.oldest()
		sc.counts.early += int64(ht.spans + ht.nlogs)
		p.releaseHeld(ht, &sc.counts, td, ld, &sc.acks)
		released = true
	}
	p.rel.flush(td, p.st)
	return released
}

// Capabilities: biz_dye adds attributes and links, and moves items.
func (p *bizDye) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}
