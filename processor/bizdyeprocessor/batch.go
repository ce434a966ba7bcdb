package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-biz/otelcol-biz/internal/ack"
)

const attrServiceName = "service.name"

// action is what happens to the items of one trace in one batch.
type action uint8

const (
	actPass  action = iota // not dyed, not held: out unchanged
	actStamp               // dyed: out with the trace's keys
	actHold                // not dyed yet (or not decided by `sampling`): into the hold buffer
	actDrop                // spans of a trace `sampling` did not keep: dropped, counted
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
	flags uint8 // its registry flags after the batch
	await bool  // held for its producer (flagAwaiting)
	dye   string
	keep  bool
	late  bool
	link  pcommon.SpanID // producer span the entry span links to
	linkT pcommon.TraceID
	linkK string
	// its own producer span while it is held for its producer: indexed
	// again when released
	pending producerRef
	held    *heldTrace // where holdSpans holds its spans (one lookup per batch)
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

// batchScratch is the working state of one consume call: what the scan
// found per trace and per item, what was decided, and the telemetry counts.
// Pooled per processor. The scan and stamp steps read only the immutable
// extractor and stamper, so they run without bizDye.mu.
type batchScratch struct {
	ext      *extractor
	st       *stamper
	byID     map[pcommon.TraceID]int32
	last     int32 // the trace looked up last
	traces   []batchTrace
	items    []itemInfo
	resVals  [][]keyValue
	resSvc   []string
	resSvcID []uint16
	found    *found
	noTrace  []keyValue // values of the items without a trace id, in batch order
	noEnd    []int32    // where each trace-less log record's values end in noTrace
	counts   counts
	acks     ack.Set // of the held traces this batch released (the consume call releases them)
}

func newBatchScratch(ext *extractor, st *stamper, keys int) *batchScratch {
	return &batchScratch{ext: ext, st: st, byID: map[pcommon.TraceID]int32{}, found: newFound(keys)}
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
	sc.noEnd = sc.noEnd[:0]
	sc.counts = counts{stitched: sc.counts.stitched[:0]}
	sc.found.invalid = 0
}

// finish returns the batch's counts, with the values its scans refused.
func (sc *batchScratch) finish() *counts {
	sc.counts.invalid = sc.found.invalid
	return &sc.counts
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
func (sc *batchScratch) addResource(attrs pcommon.Map) (truncated int) {
	sc.found.reset()
	sc.ext.scanAttributes(attrs, sc.found)
	n := len(sc.resVals)
	if cap(sc.resVals) > n {
		sc.resVals = sc.resVals[:n+1]
	} else {
		sc.resVals = append(sc.resVals, nil)
	}
	sc.resVals[n], truncated = sc.found.appendTo(sc.ext, sc.resVals[n][:0])
	svc := ""
	if v, ok := attrs.Get(attrServiceName); ok {
		svc = v.Str()
	}
	sc.resSvc = append(sc.resSvc, svc)
	return truncated
}

// addItemValues records an item's own values (and, once per resource, the
// resource's) on its trace.
func (sc *batchScratch) addItemValues(t *batchTrace, res int) (truncated int) {
	if t.lastRes != res {
		t.lastRes = res
		t.vals = append(t.vals, sc.resVals[res]...)
	}
	t.vals, truncated = sc.found.appendTo(sc.ext, t.vals)
	return truncated
}

// scanSpans finds the values and the shape of each trace of a traces batch.
// A span without a trace id has no trace to share keys with: it is dyed
// here by its own values and never held.
func (sc *batchScratch) scanSpans(rss ptrace.ResourceSpansSlice) {
	c := &sc.counts
	for ri, rs := range rss.All() {
		c.truncated += int64(sc.addResource(rs.Resource().Attributes()))
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if s.TraceID().IsEmpty() {
					c.truncated += int64(sc.stampAnonymous(s.Attributes(), ri))
					sc.items = append(sc.items, itemInfo{trace: anonTrace})
					continue
				}
				ti := sc.trace(s.TraceID())
				t := &sc.traces[ti]
				t.items++
				sc.found.reset()
				sc.ext.scanAttributes(s.Attributes(), sc.found)
				c.truncated += int64(sc.addItemValues(t, ri))
				parent := s.ParentSpanID()
				kind := s.Kind()
				if parent.IsEmpty() {
					if !t.root {
						t.entry, t.entryRes, t.entryKind = s.SpanID(), ri, kind // a root always is the entry span
					}
					t.root = true
				} else if kind == ptrace.SpanKindConsumer && t.entry.IsEmpty() {
					t.entry, t.entryRes, t.entryKind = s.SpanID(), ri, kind // confirmed by observeParents
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
}

// stampAnonymous dyes a span without a trace id by its own values and its
// resource's (resource res), and returns how many values were truncated.
func (sc *batchScratch) stampAnonymous(attrs pcommon.Map, res int) int {
	sc.found.reset()
	sc.ext.scanAttributes(attrs, sc.found)
	own, truncated := sc.found.appendTo(sc.ext, sc.noTrace[:0])
	own = append(own, sc.resVals[res]...)
	sc.noTrace = own
	if len(own) > 0 {
		sc.counts.tooMany += sc.st.stampOwn(attrs, own)
	}
	return truncated
}

// scanLogs finds the values of each trace of a logs batch. Records without
// a trace id are dyed by their own values when stamped (stampLogs).
func (sc *batchScratch) scanLogs(rls plog.ResourceLogsSlice) {
	for ri, rl := range rls.All() {
		sc.counts.truncated += int64(sc.addResource(rl.Resource().Attributes()))
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				sc.scanRecord(r)
				id := r.TraceID()
				if id.IsEmpty() {
					// dyed by these values in stampLogs: every map is scanned
					// once (drop_source removes what it read)
					sc.noTrace, _ = sc.found.appendTo(sc.ext, sc.noTrace)
					sc.noTrace = append(sc.noTrace, sc.resVals[ri]...)
					sc.noEnd = append(sc.noEnd, int32(len(sc.noTrace)))
					continue
				}
				t := &sc.traces[sc.trace(id)]
				t.items++
				sc.counts.truncated += int64(sc.addItemValues(t, ri))
			}
		}
	}
}

// scanRecord finds the values of a log record's attributes and body.
func (sc *batchScratch) scanRecord(r plog.LogRecord) {
	sc.found.reset()
	sc.ext.scanAttributes(r.Attributes(), sc.found)
	if len(sc.ext.body) > 0 && r.Body().Type() == pcommon.ValueTypeStr {
		sc.ext.scanBody(r.Body().Str(), sc.found)
	}
}

// internServices gives each resource's service its id. Called with
// bizDye.mu held.
func (sc *batchScratch) internServices(services *serviceNames) {
	sc.resSvcID = sc.resSvcID[:0]
	for _, name := range sc.resSvc {
		sc.resSvcID = append(sc.resSvcID, services.id(name))
	}
}

// observeParents shows the batch's spans to the orphan tracker and confirms
// entry spans: a non-root CONSUMER span is an entry span only when its
// parent is unseen. Every span of the batch counts as seen first, so a
// parent later in the same batch is not missing. Called with bizDye.mu held.
func (sc *batchScratch) observeParents(o *orphanTracker, now int32) {
	for i := range sc.items {
		if it := &sc.items[i]; it.trace != anonTrace && !it.span.IsEmpty() {
			o.markSeen(it.span)
		}
	}
	for i := range sc.items {
		it := &sc.items[i]
		if it.trace == anonTrace {
			continue
		}
		t := &sc.traces[it.trace]
		if !it.parent.IsEmpty() && t.entry == it.span && !t.root && o.wasSeen(it.parent) {
			t.entry = pcommon.SpanID{}
		}
		if o.observe(it.span, it.parent, sc.resSvcID[it.res], now) {
			sc.counts.orphanDropped++
		}
	}
}

// stampSpans stamps the spans of a traces batch's dyed traces. reshaped
// tells that spans were held from or released into the batch since the
// scan.
func (sc *batchScratch) stampSpans(rss ptrace.ResourceSpansSlice, reshaped bool) {
	if reshaped {
		sc.stampByTrace(rss)
	} else {
		sc.stampInOrder(rss) // the common case
	}
}

// stampSpan stamps one span of a dyed trace and adds its stitching link.
func (sc *batchScratch) stampSpan(s ptrace.Span, t *batchTrace) {
	sc.st.stamp(s.Attributes(), t.dye, t.keep)
	sc.counts.dyed++
	if t.late {
		sc.counts.late++
	}
	if !t.link.IsEmpty() && s.SpanID() == t.entry {
		linkSpan(s, producerRef{trace: t.linkT, span: t.link}, sc.st.linkKeyAttr, t.linkK)
	}
}

// stampInOrder stamps a batch nothing was held from or released into: its
// spans are still in scan order, so no lookup by trace id is needed.
func (sc *batchScratch) stampInOrder(rss ptrace.ResourceSpansSlice) {
	k := 0
	for _, rs := range rss.All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if ti := sc.items[k].trace; ti != anonTrace && sc.traces[ti].act == actStamp {
					sc.stampSpan(s, &sc.traces[ti])
				}
				k++
			}
		}
	}
}

// stampByTrace stamps a reshaped batch and drops the containers its held
// spans left empty.
func (sc *batchScratch) stampByTrace(rss ptrace.ResourceSpansSlice) {
	rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			for _, s := range ss.Spans().All() {
				ti, ok := sc.byID[s.TraceID()]
				if !ok {
					continue
				}
				if t := &sc.traces[ti]; t.act == actStamp {
					sc.stampSpan(s, t)
				}
			}
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
}

// stampReleasedLogs stamps the released logs (of a traces batch) whose
// trace the batch dyed.
func (sc *batchScratch) stampReleasedLogs(ld plog.Logs) {
	if ld == (plog.Logs{}) {
		return
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				if ti, ok := sc.byID[r.TraceID()]; ok && sc.traces[ti].act == actStamp {
					sc.st.stamp(r.Attributes(), sc.traces[ti].dye, sc.traces[ti].keep)
					sc.counts.logsDyed++
				}
			}
		}
	}
}

// stampReleasedSpans stamps the released spans (of a logs batch) whose
// trace the batch dyed.
func (sc *batchScratch) stampReleasedSpans(td ptrace.Traces) {
	if td == (ptrace.Traces{}) {
		return
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if ti, ok := sc.byID[s.TraceID()]; ok && sc.traces[ti].act == actStamp {
					sc.st.stamp(s.Attributes(), sc.traces[ti].dye, sc.traces[ti].keep)
					sc.counts.dyed++
				}
			}
		}
	}
}

// stampLogs drops the containers held records left empty, then stamps each
// record with its trace's dye or, without a trace id, with the values
// scanLogs found on the record and its resource.
func (sc *batchScratch) stampLogs(rls plog.ResourceLogsSlice) {
	for _, rl := range rls.All() {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool { return sl.LogRecords().Len() == 0 })
	}
	rls.RemoveIf(func(rl plog.ResourceLogs) bool { return rl.ScopeLogs().Len() == 0 })
	next, start := 0, int32(0) // trace-less records are never held: their order is scanLogs'
	for _, rl := range rls.All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				if ti, ok := sc.byID[r.TraceID()]; ok {
					if t := &sc.traces[ti]; t.act == actStamp {
						sc.st.stamp(r.Attributes(), t.dye, t.keep)
						sc.counts.logsDyed++
					}
					continue
				}
				if !r.TraceID().IsEmpty() || next >= len(sc.noEnd) {
					continue // a released log of a trace not in this batch
				}
				own := sc.noTrace[start:sc.noEnd[next]]
				start = sc.noEnd[next]
				next++
				if len(own) > 0 {
					sc.counts.tooMany += sc.st.stampOwn(r.Attributes(), own)
					sc.counts.logsDyed++
				}
			}
		}
	}
}

// counts are the telemetry increments of one batch, added after the lock.
type counts struct {
	dyed, late, logsDyed, held, early, evicted, tooMany, truncated, invalid, orphanDropped int64
	sampledOut                                                                             int64
	decisions                                                                              [numRules]int64
	stitched                                                                               []stitchedHop
}

type stitchedHop struct{ parent, child uint16 }

// Attribute sets of the values_dropped counter, built once.
var (
	optTooManyValues = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "too_many_values")))
	optTruncated     = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "truncated")))
	optInvalid       = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "invalid")))

	optSnapshotOK     = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "ok")))
	optSnapshotFailed = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "failed")))
)

func addCount(ctx context.Context, ctr metric.Int64Counter, n int64, opts ...metric.AddOption) {
	if n > 0 {
		ctr.Add(ctx, n, opts...)
	}
}
