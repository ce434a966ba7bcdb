package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-biz/otelcol-biz/internal/storageclient"
	"github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor/internal/metadata"
)

const attrServiceName = "service.name"

// bizDye is one biz_dye instance, shared by the traces and logs pipelines
// that use the same component id.
//
// Concurrency: key extraction (the costly part) runs without a lock; one
// mutex guards the registry, the hold buffer, the producer index and the
// orphan tracker for the short merge/decide step of each batch. One
// goroutine, started in Start, releases expired holds and sweeps the tables.
type bizDye struct {
	cfg    *Config
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	ext    *extractor
	st     *stamper
	keep   []keyValue // keep.when rules, values normalised as found values are
	clock  clockwork.Clock
	epoch  time.Time

	nextTraces consumer.Traces
	nextLogs   consumer.Logs

	scratch sync.Pool // *batchScratch

	mu        sync.Mutex
	reg       *lruTable[pcommon.TraceID, traceEntry]
	hold      *holdBuffer
	producers *simplelru.LRU[string, producerRef]
	// per key: values indexed, and values found shared by unrelated flows;
	// a key whose values are often shared (a tier, a sku) never links
	keyIndexed, keyShared []int64
	orphans               *orphanTracker
	services              *serviceNames

	id     component.ID
	client storage.Client // registry persistence, when `storage` is set

	stop chan struct{}
	done chan struct{}
}

// Registry entry flags.
const (
	flagKeep     uint8 = 1 << iota // the trace matched a keep rule
	flagReleased                   // its root arrived: later spans are late
	flagStitched                   // link_async already ran for its entry span
	flagAwaiting                   // a CONSUMER root whose producer is unknown or incomplete: held up to wait
)

// traceEntry is a registry value: a flags byte, then the trace's dye.
// Keeping the flags in the dye's allocation makes a table node 48 bytes
// instead of 56 (BenchmarkRegistryMemory).
type traceEntry string

func (e traceEntry) flags() uint8 {
	if e == "" {
		return 0
	}
	return e[0]
}

func (e traceEntry) dye() string {
	if e == "" {
		return ""
	}
	return string(e[1:])
}

func newTraceEntry(flags uint8, dye string) traceEntry {
	var b strings.Builder
	b.Grow(1 + len(dye))
	b.WriteByte(flags)
	b.WriteString(dye)
	return traceEntry(b.String())
}

// producerRef is a PRODUCER or CLIENT span that carried a key value, the
// target of async stitching.
type producerRef struct {
	trace   pcommon.TraceID
	span    pcommon.SpanID
	service uint16
	kind    ptrace.SpanKind
	// ambiguous: PRODUCER/CLIENT spans of unrelated traces carried this
	// value (user_tier=gold, a popular sku): it does not identify one flow,
	// so it never links.
	ambiguous bool
	// pending: its trace is held for its own producer, not linked yet, so
	// its dye does not name that producer: a producer arriving later with
	// the same value replaces it instead of making the value ambiguous.
	// Indexed again when the trace is released (finishHeld).
	pending bool
}

func newBizDye(id component.ID, set component.TelemetrySettings, cfg *Config, clock clockwork.Clock) (*bizDye, error) {
	tel, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	producers, err := simplelru.NewLRU[string, producerRef](cfg.MaxAsyncProducers, nil)
	if err != nil {
		return nil, err
	}
	p := &bizDye{
		id:        id,
		cfg:       cfg,
		logger:    set.Logger,
		tel:       tel,
		ext:       newExtractor(cfg),
		st:        newStamper(cfg),
		clock:     clock,
		epoch:     clock.Now(),
		reg:       newLRUTable[pcommon.TraceID, traceEntry](cfg.MaxTraces),
		hold:      newHoldBuffer(),
		producers: producers,
		orphans:   newOrphanTracker(cfg.MaxPendingParents),
		services:  newServiceNames(cfg.MaxServices),
	}
	p.keyIndexed = make([]int64, len(cfg.Keys))
	p.keyShared = make([]int64, len(cfg.Keys))
	keyIdx := map[string]uint8{}
	for i, k := range cfg.Keys {
		keyIdx[k.Name] = uint8(i)
	}
	for _, r := range cfg.Keep.When {
		k := keyIdx[r.Key]
		v, _ := p.ext.normalise(k, r.Equals)
		p.keep = append(p.keep, keyValue{key: k, value: v})
	}
	p.scratch.New = func() any { return newBatchScratch(len(cfg.Keys)) }
	err = errors.Join(
		tel.RegisterProcessorBizDyeHeldSpansCallback(func(_ context.Context, o metric.Int64Observer) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			o.Observe(int64(p.hold.spans))
			return nil
		}),
		tel.RegisterProcessorBizDyeHeldLogsCallback(func(_ context.Context, o metric.Int64Observer) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			o.Observe(int64(p.hold.logs))
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
	go func() {
		defer close(p.done)
		defer ticker.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-ticker.Chan():
				p.releaseExpired(context.Background(), false)
			}
		}
	}()
	return nil
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

// registryKey is the storage key of the registry snapshot.
const registryKey = "registry"

// snapshotHeader identifies a registry snapshot and the key list its dyes
// index into: a snapshot of another key list is not loaded.
func (p *bizDye) snapshotHeader() string {
	names := make([]string, len(p.cfg.Keys))
	for i, k := range p.cfg.Keys {
		names[i] = k.Name
	}
	return "biz_dye registry v1\x00" + strings.Join(names, "\x00") + "\n"
}

// validDye reports whether d is a well-formed dye of this key list.
func (p *bizDye) validDye(d string) bool {
	for i := 0; i < len(d); {
		if len(d)-i < recordHeader {
			return false
		}
		key, n := d[i], int(d[i+1])<<8|int(d[i+2])
		if int(key) >= len(p.cfg.Keys) && key != keyLinked || n == 0 || len(d)-i-recordHeader < n {
			return false
		}
		i += recordHeader + n
	}
	return true
}

// saveRegistry writes the header, then the registry, least recently seen
// first, as records [16-byte trace id][uvarint age in seconds][uvarint
// length][entry].
func (p *bizDye) saveRegistry(ctx context.Context) error {
	p.mu.Lock()
	now := p.now()
	buf := make([]byte, 0, p.reg.len()*40)
	buf = append(buf, p.snapshotHeader()...)
	p.reg.each(func(id pcommon.TraceID, e *traceEntry, stamp int32) {
		buf = append(buf, id[:]...)
		buf = binary.AppendUvarint(buf, uint64(max(now-stamp, 0)))
		buf = binary.AppendUvarint(buf, uint64(len(*e)))
		buf = append(buf, *e...)
	})
	n := p.reg.len()
	p.mu.Unlock()
	if err := p.client.Set(ctx, registryKey, buf); err != nil {
		return fmt.Errorf("biz_dye: saving the registry (%d traces): %w", n, err)
	}
	return nil
}

// loadRegistry restores a saved registry; entries older than ttl are
// skipped, a damaged snapshot is ignored from the damage on (logged).
func (p *bizDye) loadRegistry(ctx context.Context) {
	buf, err := p.client.Get(ctx, registryKey)
	if err != nil || len(buf) == 0 {
		return
	}
	header := p.snapshotHeader()
	if !strings.HasPrefix(string(buf), header) {
		p.logger.Warn("biz_dye: the saved registry was written for another key list; not loaded")
		return
	}
	buf = buf[len(header):]
	p.mu.Lock()
	defer p.mu.Unlock()
	now, ttl := p.now(), int64(p.cfg.TTL/time.Second)
	loaded := 0
	for len(buf) > 0 {
		if len(buf) < 16 {
			break
		}
		var id pcommon.TraceID
		copy(id[:], buf[:16])
		age, n1 := binary.Uvarint(buf[16:])
		if n1 <= 0 {
			break
		}
		size, n2 := binary.Uvarint(buf[16+n1:])
		start := 16 + n1 + n2
		if n2 <= 0 || size == 0 || uint64(len(buf)-start) < size {
			break
		}
		entry := traceEntry(buf[start : start+int(size)])
		buf = buf[start+int(size):]
		if int64(age) > ttl || !p.validDye(entry.dye()) {
			continue
		}
		slot := p.reg.lookup(id)
		if slot < 0 {
			slot, _, _, _ = p.reg.insert(id, now-int32(age))
		}
		if f := entry.flags(); f&flagAwaiting != 0 { // its held spans did not survive the restart
			entry = newTraceEntry(f&^flagAwaiting|flagStitched, entry.dye())
		}
		*p.reg.at(slot) = traceEntry(strings.Clone(string(entry)))
		loaded++
	}
	if len(buf) > 0 {
		p.logger.Warn("biz_dye: the saved registry is damaged; loaded what precedes the damage", zap.Int("traces", loaded))
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
	now := p.clock.Now()
	p.mu.Lock()
	for ht := p.hold.oldest(); ht != nil && (flush || now.Sub(ht.since) >= p.cfg.Wait); ht = p.hold.oldest() {
		p.hold.remove(ht)
		p.finishHeld(ht, &c) // stamped if dyed (or awaiting), else out unchanged
		ht.releaseInto(&td, &ld)
	}
	cutoff := p.now() - int32(p.cfg.TTL/time.Second)
	var awaiting []pcommon.TraceID
	var awaitingEntries []traceEntry
	p.reg.expire(cutoff, func(id pcommon.TraceID, e *traceEntry) {
		if e.flags()&flagAwaiting != 0 && p.hold.byID[id] != nil { // still held for its producer: finishHeld needs it
			awaiting, awaitingEntries = append(awaiting, id), append(awaitingEntries, *e)
		}
	})
	for i, id := range awaiting {
		slot, _, _, _ := p.reg.insert(id, p.now())
		*p.reg.at(slot) = awaitingEntries[i]
	}
	p.orphans.expire(cutoff, func(child uint16) { orphans = append(orphans, child) })
	p.mu.Unlock()

	p.record(ctx, &c)
	for _, child := range orphans {
		p.tel.ProcessorBizDyeOrphanSpans.Add(ctx, 1, metric.WithAttributes(
			attribute.String("parent_service", serviceUnknown),
			attribute.String("child_service", p.serviceName(child))))
	}
	p.forward(ctx, td, ld)
}

func (p *bizDye) serviceName(id uint16) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.services.name(id)
}

// forward sends released data downstream (from the release loop, or the
// other signal's data a consume call released); errors are logged: the data
// cannot be returned to its sender once held.
func (p *bizDye) forward(ctx context.Context, td ptrace.Traces, ld plog.Logs) {
	if td != (ptrace.Traces{}) && td.ResourceSpans().Len() > 0 && p.nextTraces != nil {
		if err := p.nextTraces.ConsumeTraces(ctx, td); err != nil {
			p.logger.Warn("biz_dye: next consumer refused released spans", zap.Int("spans", td.SpanCount()), zap.Error(err))
		}
	}
	if ld != (plog.Logs{}) && ld.ResourceLogs().Len() > 0 && p.nextLogs != nil {
		if err := p.nextLogs.ConsumeLogs(ctx, ld); err != nil {
			p.logger.Warn("biz_dye: next consumer refused released logs", zap.Int("logs", ld.LogRecordCount()), zap.Error(err))
		}
	}
}

// action is what happens to the items of one trace in one batch.
type action uint8

const (
	actPass  action = iota // not dyed, not held: out unchanged
	actStamp               // dyed: out with the trace's keys
	actHold                // not dyed yet: into the hold buffer
)

// batchTrace is what one batch says about one trace.
type batchTrace struct {
	id      pcommon.TraceID
	vals    []keyValue
	links   []pcommon.TraceID
	lastRes int
	items   int
	root    bool

	// link_async: the span that may start a split flow, and the best
	// PRODUCER/CLIENT span to index.
	entry        pcommon.SpanID
	entryRes     int
	entryKind    ptrace.SpanKind
	producer     pcommon.SpanID
	producerKind ptrace.SpanKind
	producerRes  int

	// decided under the lock
	act   action
	await bool // held for its producer (flagAwaiting)
	dye   string
	keep  bool
	late  bool
	link  pcommon.SpanID // producer span the entry span links to
	linkT pcommon.TraceID
	linkK string
	// its own producer span while it is held for its producer: indexed
	// again when released
	pending producerRef
}

// itemInfo is what one span says, in batch order.
type itemInfo struct {
	trace  int32
	res    int32
	span   pcommon.SpanID
	parent pcommon.SpanID
}

// anonTrace marks an item without a trace id (never merged, held or registered).
const anonTrace = -1

// stampAnonymous dyes a span without a trace id by its own (and its
// resource's) values, and returns how many values were truncated.
func (p *bizDye) stampAnonymous(attrs, resAttrs pcommon.Map, sc *batchScratch) int {
	sc.found.reset()
	p.ext.scanAttributes(resAttrs, sc.found)
	p.ext.scanAttributes(attrs, sc.found)
	own, truncated := sc.found.appendTo(p.ext, sc.noTrace[:0])
	sc.noTrace = own
	if len(own) == 0 {
		return truncated
	}
	p.stampOwn(attrs, own, &sc.counts)
	return truncated
}

// stampOwn dyes an item that has no trace to share keys with by its own
// values (vals not empty).
func (p *bizDye) stampOwn(attrs pcommon.Map, vals []keyValue, c *counts) {
	dye := ""
	for _, kv := range vals {
		var drop bool
		if dye, _, drop = dyeAdd(dye, kv, p.cfg.MaxValuesPerKey); drop {
			c.tooMany++
		}
	}
	p.st.stamp(attrs, dye, p.keeps(dye))
}

// keeps reports whether dye matches a keep.when rule.
func (p *bizDye) keeps(dye string) bool {
	for _, k := range p.keep {
		if dyeHas(dye, k.key, k.value) {
			return true
		}
	}
	return false
}

type batchScratch struct {
	byID     map[pcommon.TraceID]int32
	last     int32 // the trace looked up last
	traces   []batchTrace
	items    []itemInfo
	resVals  [][]keyValue
	resSvc   []string
	resSvcID []uint16
	found    *found
	noTrace  []keyValue // logs without a trace id
	counts   counts
}

func newBatchScratch(keys int) *batchScratch {
	return &batchScratch{byID: map[pcommon.TraceID]int32{}, found: newFound(keys)}
}

func (sc *batchScratch) reset() {
	clear(sc.byID)
	sc.last = 0
	for i := range sc.traces {
		t := &sc.traces[i]
		*t = batchTrace{vals: t.vals[:0], links: t.links[:0]}
	}
	sc.traces = sc.traces[:0]
	sc.items = sc.items[:0]
	for i := range sc.resVals {
		sc.resVals[i] = sc.resVals[i][:0]
	}
	sc.resVals = sc.resVals[:0]
	sc.resSvc = sc.resSvc[:0]
	sc.noTrace = sc.noTrace[:0]
	sc.counts = counts{stitched: sc.counts.stitched[:0]}
}

func (sc *batchScratch) trace(id pcommon.TraceID) int32 {
	if n := len(sc.traces); n > 0 && sc.traces[sc.last].id == id { // spans of a trace often come together
		return sc.last
	}
	if i, ok := sc.byID[id]; ok {
		sc.last = i
		return i
	}
	i := int32(len(sc.traces))
	if cap(sc.traces) > len(sc.traces) {
		sc.traces = sc.traces[:i+1]
		t := &sc.traces[i]
		*t = batchTrace{vals: t.vals[:0], links: t.links[:0]}
	} else {
		sc.traces = append(sc.traces, batchTrace{})
	}
	t := &sc.traces[i]
	t.id, t.lastRes, t.entryRes, t.producerRes = id, -1, -1, -1
	sc.byID[id] = i
	sc.last = i
	return i
}

// addResource scans a resource's attributes once for the whole batch.
func (sc *batchScratch) addResource(e *extractor, attrs pcommon.Map) (truncated int) {
	sc.found.reset()
	e.scanAttributes(attrs, sc.found)
	n := len(sc.resVals)
	if cap(sc.resVals) > n {
		sc.resVals = sc.resVals[:n+1]
	} else {
		sc.resVals = append(sc.resVals, nil)
	}
	sc.resVals[n], truncated = sc.found.appendTo(e, sc.resVals[n][:0])
	svc := ""
	if v, ok := attrs.Get(attrServiceName); ok {
		svc = v.Str()
	}
	sc.resSvc = append(sc.resSvc, svc)
	return truncated
}

// addItemValues records an item's own values (and, once per resource, the
// resource's) on its trace.
func (sc *batchScratch) addItemValues(e *extractor, t *batchTrace, res int) (truncated int) {
	if t.lastRes != res {
		t.lastRes = res
		t.vals = append(t.vals, sc.resVals[res]...)
	}
	t.vals, truncated = sc.found.appendTo(e, t.vals)
	return truncated
}

// counts are the telemetry increments of one batch, added after the lock.
type counts struct {
	dyed, late, logsDyed, held, early, evicted, tooMany, truncated, orphanDropped int64
	stitched                                                                      []stitchedHop
}

type stitchedHop struct{ parent, child uint16 }

// Attribute sets of the values_dropped counter, built once.
var (
	optTooManyValues = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "too_many_values")))
	optTruncated     = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "truncated")))
)

func addCount(ctx context.Context, ctr metric.Int64Counter, n int64, opts ...metric.AddOption) {
	if n > 0 {
		ctr.Add(ctx, n, opts...)
	}
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

// decide merges one batch trace into the registry and decides its action.
// Called with p.mu held. logs is set for a logs batch (which never releases
// on a root span and never stitches).
func (p *bizDye) decide(t *batchTrace, now int32, c *counts, resSvc []string) {
	slot := p.reg.lookup(t.id)
	var cur traceEntry
	if slot >= 0 {
		cur = *p.reg.at(slot)
	}
	dye, changed := cur.dye(), false
	var dropped int
	// keys flow over existing span links: a consumer inherits its producer's keys
	for _, l := range t.links {
		if li := p.reg.lookup(l); li >= 0 && l != t.id {
			var ch bool
			dye, ch, dropped = dyeMerge(dye, p.reg.at(li).dye(), p.cfg.MaxValuesPerKey)
			changed = changed || ch
			c.tooMany += int64(dropped)
		}
	}
	for _, kv := range t.vals {
		var ch, drop bool
		dye, ch, drop = dyeAdd(dye, kv, p.cfg.MaxValuesPerKey)
		changed = changed || ch
		if drop {
			c.tooMany++
		}
	}
	flags := cur.flags()
	if p.cfg.LinkAsync && dye != "" && !t.entry.IsEmpty() && flags&(flagStitched|flagAwaiting) == 0 {
		if ref, key, ok := p.findProducer(t.id, dye, t.entryKind); ok {
			flags |= flagStitched
			t.link, t.linkT, t.linkK = ref.span, ref.trace, key
			dye = p.stitch(dye, ref, c, p.services.id(svcAt(resSvc, t.entryRes)))
			changed = true
			if t.root && t.entryKind == ptrace.SpanKindConsumer && p.rootPending(ref.trace) {
				// Keys such as canary often sit on the producer's root span,
				// which ends after the publish: hold the consumer up to wait
				// and merge its producer's keys again when it is released.
				flags |= flagAwaiting
				t.await = true
			}
		} else if t.root && t.entryKind == ptrace.SpanKindConsumer {
			// Behind Kafka the producer's trace may reach this replica after
			// the consumer's (partitions are consumed independently): hold the
			// consumer trace up to wait and look again when it is released.
			flags |= flagAwaiting
			t.await = true
		} else {
			flags |= flagStitched
		}
	}
	if dye == "" {
		if t.root {
			t.act = actPass
		} else {
			t.act = actHold
		}
		return
	}
	if changed && p.keeps(dye) {
		flags |= flagKeep
	}
	if slot < 0 {
		var evicted bool
		slot, _, _, evicted = p.reg.insert(t.id, now)
		if evicted {
			c.evicted++
		}
	} else {
		p.reg.touch(slot, now)
	}
	t.late = flags&flagReleased != 0
	if t.root {
		flags |= flagReleased
	}
	if changed || flags != cur.flags() {
		*p.reg.at(slot) = newTraceEntry(flags, dye)
	}
	t.act, t.dye, t.keep = actStamp, dye, flags&flagKeep != 0
	if flags&flagAwaiting != 0 {
		t.act = actHold // stamped when released (finishHeld)
	}
	if p.cfg.LinkAsync && !t.producer.IsEmpty() {
		ref := producerRef{trace: t.id, span: t.producer, kind: t.producerKind, service: p.services.id(svcAt(resSvc, t.producerRes)),
			pending: flags&(flagAwaiting|flagStitched) == flagAwaiting}
		p.indexProducer(ref, dye)
		if ref.pending {
			t.pending = ref
		}
	}
}

// rootPending reports whether trace id is dyed but not complete: its root
// span has not arrived, or it is itself held for its producer. Called with
// p.mu held.
func (p *bizDye) rootPending(id pcommon.TraceID) bool {
	slot := p.reg.lookup(id)
	if slot < 0 {
		return false
	}
	f := p.reg.at(slot).flags()
	return f&flagReleased == 0 || f&flagAwaiting != 0
}

// stitch adds a producer trace's keys and id to dye and counts the hop.
func (p *bizDye) stitch(dye string, ref producerRef, c *counts, child uint16) string {
	dye = p.mergeKeys(dye, ref.trace, c)
	dye, _, _ = dyeAdd(dye, keyValue{key: keyLinked, value: ref.trace.String()}, p.cfg.MaxValuesPerKey)
	c.stitched = append(c.stitched, stitchedHop{parent: ref.service, child: child})
	return dye
}

// mergeKeys adds the keys trace id has now to dye.
func (p *bizDye) mergeKeys(dye string, id pcommon.TraceID, c *counts) string {
	if pi := p.reg.lookup(id); pi >= 0 {
		var dropped int
		dye, _, dropped = dyeMerge(dye, p.reg.at(pi).dye(), p.cfg.MaxValuesPerKey)
		c.tooMany += int64(dropped)
	}
	return dye
}

// finishHeld prepares a held trace for release: a trace that was awaiting
// its producer looks for it once more (and links its entry span when found)
// and indexes its own producer span; a dyed trace is stamped. Called with
// p.mu held.
func (p *bizDye) finishHeld(ht *heldTrace, c *counts) {
	slot := p.reg.lookup(ht.id)
	if slot < 0 {
		// never dyed: out unchanged (an awaiting trace evicted from a full
		// registry keeps the link it made on arrival)
		if !ht.linkedTo.trace.IsEmpty() {
			ht.link(ht.awaitEntry, ht.linkedTo, p.cfg.Prefix+"link.key", ht.linkedKey)
		}
		return
	}
	e := *p.reg.at(slot)
	flags, dye := e.flags(), e.dye()
	if flags&flagAwaiting != 0 {
		flags = flags&^flagAwaiting | flagStitched
		if !ht.linkedTo.trace.IsEmpty() {
			// linked on arrival, its producer's trace incomplete: the keys
			// that trace found since
			dye = p.mergeKeys(dye, ht.linkedTo.trace, c)
			ht.link(ht.awaitEntry, ht.linkedTo, p.cfg.Prefix+"link.key", ht.linkedKey)
		} else if ref, key, ok := p.findProducer(ht.id, dye, ptrace.SpanKindConsumer); ok {
			dye = p.stitch(dye, ref, c, ht.awaitSvc)
			ht.link(ht.awaitEntry, ref, p.cfg.Prefix+"link.key", key)
		}
		if p.keeps(dye) {
			flags |= flagKeep
		}
		*p.reg.at(slot) = newTraceEntry(flags, dye)
		if r := ht.producer; !r.span.IsEmpty() {
			r.pending = false
			p.indexProducer(r, dye) // linked now: the next hop of its flow
		}
	}
	p.stampHeld(ht, dye, flags&flagKeep != 0, c)
}

// stampHeld stamps every span and log of a held trace.
func (p *bizDye) stampHeld(ht *heldTrace, dye string, keep bool, c *counts) {
	if ht.spans > 0 {
		for _, rs := range ht.traces.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					p.st.stamp(s.Attributes(), dye, keep)
					c.dyed++
				}
			}
		}
	}
	if ht.nlogs > 0 {
		for _, rl := range ht.logs.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, r := range sl.LogRecords().All() {
					p.st.stamp(r.Attributes(), dye, keep)
					c.logsDyed++
				}
			}
		}
	}
}

func svcAt(resSvc []string, i int) string {
	if i < 0 || i >= len(resSvc) {
		return ""
	}
	return resSvc[i]
}

// findProducer looks for the PRODUCER or CLIENT span of another trace that
// carried one of dye's values, pairing kinds as hops do: a CONSUMER entry
// span with a PRODUCER span (a lost message header), a SERVER entry span
// with a CLIENT span (an HTTP client without propagator), any other root (a
// goroutine started without ctx) with either. Values shared by unrelated
// flows, and keys whose values often are, never link.
func (p *bizDye) findProducer(self pcommon.TraceID, dye string, entryKind ptrace.SpanKind) (producerRef, string, bool) {
	var buf [recordHeader + 256]byte
	for i := 0; i < len(dye); {
		key, val, next := dyeRecord(dye, i)
		i = next
		if key == keyLinked || p.keyShared[key]*4 > p.keyIndexed[key] {
			continue
		}
		ref, ok := p.producers.Get(producerKey(buf[:0], key, val))
		if !ok || ref.trace == self || ref.ambiguous {
			continue
		}
		if entryKind == ptrace.SpanKindConsumer && ref.kind != ptrace.SpanKindProducer ||
			entryKind == ptrace.SpanKindServer && ref.kind != ptrace.SpanKindClient {
			continue
		}
		return ref, p.cfg.Keys[key].Name, true
	}
	return producerRef{}, "", false
}

// indexProducer remembers the trace's PRODUCER (preferred) or CLIENT span
// under each of its values; a value that unrelated traces also carry on
// their PRODUCER/CLIENT spans becomes ambiguous and never links.
func (p *bizDye) indexProducer(ref producerRef, dye string) {
	var buf [recordHeader + 256]byte
	for i := 0; i < len(dye); {
		key, val, next := dyeRecord(dye, i)
		i = next
		if key == keyLinked {
			continue
		}
		k := producerKey(buf[:0], key, val)
		old, ok := p.producers.Peek(k)
		switch {
		case !ok:
			p.producers.Add(k, ref)
			p.keyIndexed[key]++
		case old.ambiguous:
		case old.trace == ref.trace:
			if old.kind != ptrace.SpanKindProducer && ref.kind == ptrace.SpanKindProducer || old.pending && !ref.pending {
				p.producers.Add(k, ref) // a trace's PRODUCER span is preferred over its CLIENT span
			}
		case old.pending:
			p.producers.Add(k, ref) // likely the producer the pending trace waits for
		case dyeHas(dye, keyLinked, old.trace.String()):
			p.producers.Add(k, ref) // the next async hop of the same flow: link to the newest producer
		default:
			old.ambiguous = true // another flow with the same value
			p.producers.Add(k, old)
			p.keyShared[key]++
		}
	}
}

func producerKey(buf []byte, key uint8, val string) string {
	buf = append(buf, key)
	buf = append(buf, val...)
	return string(buf)
}

// ConsumeTraces dyes, holds or passes every span of td.
func (p *bizDye) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	sc := p.scratch.Get().(*batchScratch)
	defer func() { sc.reset(); p.scratch.Put(sc) }()
	c := &sc.counts // pooled: a local would escape through the closures below

	// Pass 1, no lock: find values and shape per trace.
	rss := td.ResourceSpans()
	for ri, rs := range rss.All() {
		c.truncated += int64(sc.addResource(p.ext, rs.Resource().Attributes()))
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if s.TraceID().IsEmpty() {
					// no trace to share keys with: dyed by its own values, never held
					c.truncated += int64(p.stampAnonymous(s.Attributes(), rs.Resource().Attributes(), sc))
					sc.items = append(sc.items, itemInfo{trace: anonTrace})
					continue
				}
				ti := sc.trace(s.TraceID())
				t := &sc.traces[ti]
				t.items++
				sc.found.reset()
				p.ext.scanAttributes(s.Attributes(), sc.found)
				c.truncated += int64(sc.addItemValues(p.ext, t, ri))
				parent := s.ParentSpanID()
				kind := s.Kind()
				if parent.IsEmpty() {
					if !t.root {
						t.entry, t.entryRes, t.entryKind = s.SpanID(), ri, kind // a root always is the entry span
					}
					t.root = true
				} else if kind == ptrace.SpanKindConsumer && t.entry.IsEmpty() {
					t.entry, t.entryRes, t.entryKind = s.SpanID(), ri, kind // confirmed below if its parent is unseen
				}
				if (kind == ptrace.SpanKindProducer && t.producerKind != ptrace.SpanKindProducer) ||
					(kind == ptrace.SpanKindClient && t.producer.IsEmpty()) {
					t.producer, t.producerKind, t.producerRes = s.SpanID(), kind, ri
				}
				for _, l := range s.Links().All() {
					if !l.TraceID().IsEmpty() {
						t.links = append(t.links, l.TraceID())
					}
				}
				sc.items = append(sc.items, itemInfo{trace: ti, res: int32(ri), span: s.SpanID(), parent: parent})
			}
		}
	}

	// Pass 2, locked: merge, decide, hold, release.
	var releasedLogs plog.Logs
	nowT := p.clock.Now()
	p.mu.Lock()
	now := p.now()
	p.hold.gen++
	sc.resSvcID = sc.resSvcID[:0]
	for _, name := range sc.resSvc {
		sc.resSvcID = append(sc.resSvcID, p.services.id(name))
	}
	// every span of the batch counts as seen before entry spans are
	// confirmed: a CONSUMER span whose parent comes later in the same batch
	// is not an entry span
	for i := range sc.items {
		if it := &sc.items[i]; it.trace != anonTrace && !it.span.IsEmpty() {
			p.orphans.seen[p.orphans.slot(it.span)] = it.span
		}
	}
	for i := range sc.items {
		it := &sc.items[i]
		if it.trace == anonTrace {
			continue
		}
		t := &sc.traces[it.trace]
		if !it.parent.IsEmpty() && t.entry == it.span && !t.root {
			// a CONSUMER span is an entry span only when its parent is unseen
			if p.orphans.seen[p.orphans.slot(it.parent)] == it.parent {
				t.entry = pcommon.SpanID{}
			}
		}
		if p.orphans.observe(it.span, it.parent, sc.resSvcID[it.res], now) {
			c.orphanDropped++
		}
	}
	anyHold := false
	for i := range sc.traces {
		p.decide(&sc.traces[i], now, c, sc.resSvc)
		anyHold = anyHold || sc.traces[i].act == actHold
	}
	k, batchResources := 0, rss.Len()
	for ri := 0; ri < batchResources && anyHold; ri++ {
		rs := rss.At(ri)
		for si, ss := range rs.ScopeSpans().All() {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				ti := sc.items[k].trace
				k++
				if ti == anonTrace {
					return false
				}
				t := &sc.traces[ti]
				if t.act != actHold {
					return false
				}
				ht := p.hold.entry(t.id, nowT)
				if t.await && s.SpanID() == t.entry {
					ht.awaitEntry, ht.awaitSvc = t.entry, sc.resSvcID[ri]
					ht.linkedTo, ht.linkedKey = producerRef{trace: t.linkT, span: t.link}, t.linkK
				}
				if r := t.pending; !r.span.IsEmpty() && (ht.producer.span.IsEmpty() || ht.producer.kind != ptrace.SpanKindProducer) {
					ht.producer = r // a PRODUCER span is preferred over a CLIENT span
				}
				p.hold.holdSpan(ht, rs, ss, ri, si, s)
				c.held++
				return true
			})
		}
	}
	// Held items of traces dyed (or rooted) by this batch go out with it.
	reshaped := anyHold
	if len(p.hold.byID) > 0 {
		for i := range sc.traces {
			if t := &sc.traces[i]; t.act != actHold {
				if ht := p.hold.take(t.id); ht != nil {
					ht.releaseInto(&td, &releasedLogs)
					reshaped = true
				}
			}
		}
	}
	for p.hold.spans > p.cfg.MaxBufferedSpans {
		ht := p.hold.oldest()
		p.hold.remove(ht)
		c.early += int64(ht.spans + ht.nlogs)
		p.finishHeld(ht, c)
		ht.releaseInto(&td, &releasedLogs)
		reshaped = true
	}
	p.mu.Unlock()

	// Stamp (no lock: dyes are immutable strings).
	if !reshaped {
		p.stampInOrder(rss, sc, c) // the common case: items still in pass-1 order
	} else {
		p.stampByTrace(rss, sc, c)
	}
	if releasedLogs != (plog.Logs{}) {
		c.logsDyed += int64(p.stampLogs(releasedLogs, sc))
	}
	p.record(ctx, c)

	var err error
	if rss.Len() > 0 {
		err = p.nextTraces.ConsumeTraces(ctx, td)
	}
	p.forward(ctx, ptrace.Traces{}, releasedLogs)
	return err
}

// stampSpan stamps one span of a dyed trace and adds its stitching link.
func (p *bizDye) stampSpan(s ptrace.Span, t *batchTrace, c *counts) {
	p.st.stamp(s.Attributes(), t.dye, t.keep)
	c.dyed++
	if t.late {
		c.late++
	}
	if !t.link.IsEmpty() && s.SpanID() == t.entry {
		l := s.Links().AppendEmpty()
		l.SetTraceID(t.linkT)
		l.SetSpanID(t.link)
		l.Attributes().PutStr(p.cfg.Prefix+"link.key", t.linkK)
	}
}

// stampInOrder stamps a batch nothing was held from or released into: its
// spans are still in pass-1 order, so no lookup by trace id is needed.
func (p *bizDye) stampInOrder(rss ptrace.ResourceSpansSlice, sc *batchScratch, c *counts) {
	k := 0
	for _, rs := range rss.All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if ti := sc.items[k].trace; ti != anonTrace && sc.traces[ti].act == actStamp {
					p.stampSpan(s, &sc.traces[ti], c)
				}
				k++
			}
		}
	}
}

// stampByTrace stamps a reshaped batch and drops the containers its held
// spans left empty.
func (p *bizDye) stampByTrace(rss ptrace.ResourceSpansSlice, sc *batchScratch, c *counts) {
	rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			for _, s := range ss.Spans().All() {
				ti, ok := sc.byID[s.TraceID()]
				if !ok {
					continue
				}
				if t := &sc.traces[ti]; t.act == actStamp {
					p.stampSpan(s, t, c)
				}
			}
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
}

// stampLogs stamps the logs of ld whose trace this batch dyed.
func (p *bizDye) stampLogs(ld plog.Logs, sc *batchScratch) int {
	n := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				if ti, ok := sc.byID[r.TraceID()]; ok && sc.traces[ti].act == actStamp {
					p.st.stamp(r.Attributes(), sc.traces[ti].dye, sc.traces[ti].keep)
					n++
				}
			}
		}
	}
	return n
}

// ConsumeLogs dyes, holds or passes every log record of ld.
func (p *bizDye) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	sc := p.scratch.Get().(*batchScratch)
	defer func() { sc.reset(); p.scratch.Put(sc) }()
	c := &sc.counts // pooled: a local would escape through the closures below

	// Pass 1: values per trace; logs without a trace are dyed by their own values.
	rls := ld.ResourceLogs()
	for ri, rl := range rls.All() {
		c.truncated += int64(sc.addResource(p.ext, rl.Resource().Attributes()))
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				sc.found.reset()
				p.ext.scanAttributes(r.Attributes(), sc.found)
				if len(p.ext.body) > 0 && r.Body().Type() == pcommon.ValueTypeStr {
					p.ext.scanBody(r.Body().Str(), sc.found)
				}
				id := r.TraceID()
				if id.IsEmpty() {
					continue
				}
				t := &sc.traces[sc.trace(id)]
				t.items++
				c.truncated += int64(sc.addItemValues(p.ext, t, ri))
			}
		}
	}

	var releasedTraces ptrace.Traces
	var releasedLogs plog.Logs
	nowT := p.clock.Now()
	p.mu.Lock()
	now := p.now()
	p.hold.gen++
	for i := range sc.traces {
		t := &sc.traces[i]
		p.decide(t, now, c, sc.resSvc)
		if t.act != actHold {
			if ht := p.hold.take(t.id); ht != nil {
				ht.releaseInto(&releasedTraces, &releasedLogs)
			}
		}
	}
	for ri, rl := range rls.All() {
		for si, sl := range rl.ScopeLogs().All() {
			sl.LogRecords().RemoveIf(func(r plog.LogRecord) bool {
				ti, ok := sc.byID[r.TraceID()]
				if !ok || sc.traces[ti].act != actHold {
					return false
				}
				p.hold.holdLog(p.hold.entry(sc.traces[ti].id, nowT), rl, sl, ri, si, r)
				return true
			})
		}
	}
	for p.hold.logs > p.cfg.MaxBufferedLogs || p.hold.spans > p.cfg.MaxBufferedSpans {
		ht := p.hold.oldest()
		p.hold.remove(ht)
		c.early += int64(ht.spans + ht.nlogs)
		p.finishHeld(ht, c)
		ht.releaseInto(&releasedTraces, &releasedLogs)
	}
	p.mu.Unlock()

	// Stamp: by the trace's dye, else (no trace id) by the record's own values.
	if releasedLogs != (plog.Logs{}) {
		releasedLogs.ResourceLogs().MoveAndAppendTo(rls)
	}
	for _, rl := range rls.All() {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool { return sl.LogRecords().Len() == 0 })
	}
	rls.RemoveIf(func(rl plog.ResourceLogs) bool { return rl.ScopeLogs().Len() == 0 })
	c.logsDyed += int64(p.stampOwnOrTrace(rls, sc, c))
	if releasedTraces != (ptrace.Traces{}) {
		for _, rs := range releasedTraces.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					if ti, ok := sc.byID[s.TraceID()]; ok && sc.traces[ti].act == actStamp {
						p.st.stamp(s.Attributes(), sc.traces[ti].dye, sc.traces[ti].keep)
						c.dyed++
					}
				}
			}
		}
	}
	p.record(ctx, c)

	var err error
	if rls.Len() > 0 {
		err = p.nextLogs.ConsumeLogs(ctx, ld)
	}
	p.forward(ctx, releasedTraces, plog.Logs{})
	return err
}

// stampOwnOrTrace stamps each record with its trace's dye, or, without a
// trace id, with the values found on the record itself.
func (p *bizDye) stampOwnOrTrace(rls plog.ResourceLogsSlice, sc *batchScratch, c *counts) int {
	n := 0
	for _, rl := range rls.All() {
		var resVals []keyValue
		resScanned := false
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				if ti, ok := sc.byID[r.TraceID()]; ok {
					if t := &sc.traces[ti]; t.act == actStamp {
						p.st.stamp(r.Attributes(), t.dye, t.keep)
						n++
					}
					continue
				}
				if !r.TraceID().IsEmpty() {
					continue // a released log of a trace not in this batch
				}
				if !resScanned {
					sc.found.reset()
					p.ext.scanAttributes(rl.Resource().Attributes(), sc.found)
					resVals, _ = sc.found.appendTo(p.ext, nil)
					resScanned = true
				}
				sc.found.reset()
				p.ext.scanAttributes(r.Attributes(), sc.found)
				if len(p.ext.body) > 0 && r.Body().Type() == pcommon.ValueTypeStr {
					p.ext.scanBody(r.Body().Str(), sc.found)
				}
				own, _ := sc.found.appendTo(p.ext, sc.noTrace[:0])
				own = append(own, resVals...)
				sc.noTrace = own
				if len(own) == 0 {
					continue
				}
				p.stampOwn(r.Attributes(), own, c)
				n++
			}
		}
	}
	return n
}

// Capabilities: biz_dye adds attributes and links, and moves items.
func (p *bizDye) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}
