package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/internal/ack"
)

// heldTrace is the spans and logs of one trace held at most `wait`: not
// dyed yet, waiting for a key to turn up, or a consumer waiting for its
// producer's trace (link_async).
type heldTrace struct {
	id    pcommon.TraceID
	since time.Time
	// chunk is the held spans as OTLP protobuf: their place in the encoding
	// of the first batch that held spans of the trace (more has the second
	// and later, batchEncoder). Bytes hold no pointers, so the garbage
	// collector does not scan them: with `sampling` every span is held for
	// decision_wait, and scanning that heap was most of what the gateway's
	// trace path cost. They are decoded only for the traces that leave
	// (kept, or released unsampled).
	chunk heldChunk
	more  []heldChunk
	// traces holds the spans as pdata: without encode, or from decode until
	// release.
	traces     ptrace.Traces
	failed     bool   // a held span has status ERROR (sampling's keep_errors)
	start, end uint64 // earliest start and latest end of the held spans (slow_threshold)
	logs       plog.Logs
	spans      int
	nlogs      int
	prev, next *heldTrace // FIFO by arrival, oldest at head
	acks       ack.Set    // the source records of the held items (at-least-once)

	// a CONSUMER root awaiting its producer's trace (link_async), and the
	// producer span it linked to on arrival when that trace was incomplete
	awaitEntry pcommon.SpanID
	awaitSvc   uint16
	linkedTo   producerRef
	linkedKey  string
	producer   producerRef // its own producer span, indexed again on release

	// The scope the previous item was moved to, so that the items of one
	// incoming scope share one held resource and scope.
	gen    uint64
	srcRes int
	srcSc  int
	spanSS ptrace.ScopeSpans
	logSL  plog.ScopeLogs

	// the batch whose spans batchEncoder is writing, and the trace's slot
	encGen  uint64
	encSlot int32
}

// holdBuffer is the bounded set of held traces, FIFO by arrival.
type holdBuffer struct {
	byID       map[pcommon.TraceID]*heldTrace
	head, tail *heldTrace
	spans      int
	logs       int
	gen        uint64       // bumped per incoming batch: invalidates the scope caches
	refs       []*heldTrace // per span of the batch: its held trace (holdSpans)
	enc        batchEncoder
	// encode: held spans are kept encoded (with `sampling`, whose long
	// decision_wait holds every span and drops most). Without it spans wait
	// `wait` at most and all leave: decoding them all would cost more than
	// the garbage collector saves.
	encode bool
}

func newHoldBuffer() *holdBuffer {
	return &holdBuffer{byID: map[pcommon.TraceID]*heldTrace{}}
}

// entry returns the held trace of id, creating it at the FIFO tail.
func (h *holdBuffer) entry(id pcommon.TraceID, now time.Time) *heldTrace {
	if ht, ok := h.byID[id]; ok {
		return ht
	}
	ht := &heldTrace{id: id, since: now, prev: h.tail, srcRes: -1}
	if h.tail != nil {
		h.tail.next = ht
	} else {
		h.head = ht
	}
	h.tail = ht
	h.byID[id] = ht
	return ht
}

// stage moves span (of resource rs, scope ss at indices resIdx, scIdx of
// the incoming batch) into the held trace's pdata, which holdTrace has
// accounted for it.
func (h *holdBuffer) stage(ht *heldTrace, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, resIdx, scIdx int, span ptrace.Span) {
	if ht.traces == (ptrace.Traces{}) {
		ht.traces = ptrace.NewTraces()
	}
	if ht.gen != h.gen || ht.srcRes != resIdx || ht.srcSc != scIdx || ht.spanSS == (ptrace.ScopeSpans{}) {
		hrs := ht.traces.ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(hrs.Resource())
		hrs.SetSchemaUrl(rs.SchemaUrl())
		ht.spanSS = hrs.ScopeSpans().AppendEmpty()
		ss.Scope().CopyTo(ht.spanSS.Scope())
		ht.spanSS.SetSchemaUrl(ss.SchemaUrl())
		ht.gen, ht.srcRes, ht.srcSc = h.gen, resIdx, scIdx
		ht.logSL = plog.ScopeLogs{}
	}
	span.MoveTo(ht.spanSS.Spans().AppendEmpty())
}

// decode turns the held trace's encoded spans back into ht.traces (after
// any still staged), for release, stamping or linking.
func (ht *heldTrace) decode() {
	if ht.chunk.batch == nil {
		return
	}
	var r spanRelease
	r.add(ht, "", false, false)
	td := ptrace.NewTraces()
	r.flush(&td, nil)
	if ht.traces == (ptrace.Traces{}) {
		ht.traces = td
		return
	}
	staged := ht.traces.ResourceSpans()
	staged.MoveAndAppendTo(td.ResourceSpans())
	ht.traces = td
	ht.spanSS = ptrace.ScopeSpans{}
}

// chunks yields the trace's held chunks, in arrival order.
func (ht *heldTrace) chunks() func(func(heldChunk) bool) {
	return func(yield func(heldChunk) bool) {
		if ht.chunk.batch == nil || !yield(ht.chunk) {
			return
		}
		for _, c := range ht.more {
			if !yield(c) {
				return
			}
		}
	}
}

// unmarshalHeld decodes bytes batchEncoder wrote from pdata's own encoding:
// they cannot fail to decode (an error would leave the spans out, not crash).
func unmarshalHeld(b []byte) ptrace.Traces {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		return ptrace.NewTraces()
	}
	return td
}

// holdLog moves a log record into the held trace.
func (h *holdBuffer) holdLog(ht *heldTrace, rl plog.ResourceLogs, sl plog.ScopeLogs, resIdx, scIdx int, rec plog.LogRecord) {
	if ht.logs == (plog.Logs{}) {
		ht.logs = plog.NewLogs()
	}
	if ht.gen != h.gen || ht.srcRes != resIdx || ht.srcSc != scIdx || ht.logSL == (plog.ScopeLogs{}) {
		hrl := ht.logs.ResourceLogs().AppendEmpty()
		rl.Resource().CopyTo(hrl.Resource())
		hrl.SetSchemaUrl(rl.SchemaUrl())
		ht.logSL = hrl.ScopeLogs().AppendEmpty()
		sl.Scope().CopyTo(ht.logSL.Scope())
		ht.logSL.SetSchemaUrl(sl.SchemaUrl())
		ht.gen, ht.srcRes, ht.srcSc = h.gen, resIdx, scIdx
		ht.spanSS = ptrace.ScopeSpans{}
	}
	rec.MoveTo(ht.logSL.LogRecords().AppendEmpty())
	ht.nlogs++
	h.logs++
}

// holdSpans moves the spans of the batch traces decided actHold out of td
// (still in scan order) into the buffer, and returns how many it moved;
// spans decided actDrop are removed (counted). With encode the held spans
// are written straight from the batch's encoding (batchEncoder).
// Each held trace retains tok, the acknowledgement of the batch's source.
func (h *holdBuffer) holdSpans(td ptrace.Traces, sc *batchScratch, now time.Time, tok *ack.Token) (held int64) {
	refs := h.refs[:0]
	k := 0
	for ri, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				ti := sc.items[k].trace
				k++
				if ti == anonTrace || sc.traces[ti].act != actHold {
					refs = append(refs, nil)
					continue
				}
				ht := h.holdTrace(&sc.traces[ti], sc, ri, s, now, tok)
				refs = append(refs, ht)
				held++
			}
		}
	}
	h.refs = refs
	defer clear(refs) // the slice outlives the batch, its traces must not
	encoded := h.encode && held > 0 && h.enc.encode(td, refs, h.gen)
	k = 0
	for ri, rs := range td.ResourceSpans().All() {
		for si, ss := range rs.ScopeSpans().All() {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				ht, ti := refs[k], sc.items[k].trace
				k++
				switch {
				case ht != nil:
					if !encoded {
						h.stage(ht, rs, ss, ri, si, s)
					}
					return true
				case ti != anonTrace && sc.traces[ti].act == actDrop:
					sc.counts.sampledOut++
					return true
				}
				return false
			})
		}
	}
	return held
}

// holdTrace accounts for span, of the batch trace t, in its held trace
// (created when new), and returns it.
func (h *holdBuffer) holdTrace(t *batchTrace, sc *batchScratch, ri int, s ptrace.Span, now time.Time, tok *ack.Token) *heldTrace {
	ht := t.held
	if ht == nil {
		ht = h.entry(t.id, now)
		ht.acks.Add(tok)
		t.held = ht
	}
	if t.await && s.SpanID() == t.entry {
		ht.awaitEntry, ht.awaitSvc = t.entry, sc.resSvcID[ri]
		ht.linkedTo, ht.linkedKey = producerRef{trace: t.linkT, span: t.link}, t.linkK
	}
	if !t.await && !t.link.IsEmpty() && s.SpanID() == t.entry {
		// stitched now but held for `sampling`: the link goes on before
		// the span leaves the batch
		linkSpan(s, producerRef{trace: t.linkT, span: t.link}, sc.st.linkKeyAttr, t.linkK)
	}
	if r := t.pending; !r.span.IsEmpty() && (ht.producer.span.IsEmpty() || ht.producer.kind != ptrace.SpanKindProducer) {
		ht.producer = r // a PRODUCER span is preferred over a CLIENT span
	}
	if ht.spans == 0 {
		ht.start = uint64(s.StartTimestamp())
	}
	ht.failed = ht.failed || s.Status().Code() == ptrace.StatusCodeError
	ht.start = min(ht.start, uint64(s.StartTimestamp()))
	ht.end = max(ht.end, uint64(s.EndTimestamp()))
	ht.spans++
	h.spans++
	return ht
}

// holdLogs moves the records of the batch traces decided actHold out of rls
// into the buffer; each held trace retains tok.
func (h *holdBuffer) holdLogs(rls plog.ResourceLogsSlice, sc *batchScratch, now time.Time, tok *ack.Token) {
	for ri, rl := range rls.All() {
		for si, sl := range rl.ScopeLogs().All() {
			sl.LogRecords().RemoveIf(func(r plog.LogRecord) bool {
				ti, ok := sc.byID[r.TraceID()]
				if !ok || sc.traces[ti].act != actHold {
					return false
				}
				ht := h.entry(sc.traces[ti].id, now)
				ht.acks.Add(tok)
				h.holdLog(ht, rl, sl, ri, si, r)
				return true
			})
		}
	}
}

// holds reports whether trace id is held.
func (h *holdBuffer) holds(id pcommon.TraceID) bool { return h.byID[id] != nil }

// empty reports whether nothing is held.
func (h *holdBuffer) empty() bool { return len(h.byID) == 0 }

// over reports whether more spans or logs are held than the bounds allow.
func (h *holdBuffer) over(maxSpans, maxLogs int) bool {
	return h.spans > maxSpans || h.logs > maxLogs
}

// take removes the held trace of id (if any) and returns it.
func (h *holdBuffer) take(id pcommon.TraceID) *heldTrace {
	ht, ok := h.byID[id]
	if !ok {
		return nil
	}
	h.remove(ht)
	return ht
}

// oldest returns the held trace that arrived first, or nil.
func (h *holdBuffer) oldest() *heldTrace { return h.head }

func (h *holdBuffer) remove(ht *heldTrace) {
	delete(h.byID, ht.id)
	if ht.prev != nil {
		ht.prev.next = ht.next
	} else {
		h.head = ht.next
	}
	if ht.next != nil {
		ht.next.prev = ht.prev
	} else {
		h.tail = ht.prev
	}
	ht.prev, ht.next = nil, nil
	h.spans -= ht.spans
	h.logs -= ht.nlogs
}

// releaseInto moves the held trace's spans and logs to the outgoing batches,
// and its acknowledgements to acks (released once those are handed on).
func (ht *heldTrace) releaseInto(td *ptrace.Traces, ld *plog.Logs, acks *ack.Set) {
	ht.acks.MoveTo(acks)
	if ht.spans > 0 {
		ht.decode()
		if *td == (ptrace.Traces{}) {
			*td = ptrace.NewTraces()
		}
		ht.traces.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	if ht.nlogs > 0 {
		if *ld == (plog.Logs{}) {
			*ld = plog.NewLogs()
		}
		ht.logs.ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	}
}

// stamp stamps every held span and log with dye, and returns how many of
// each it stamped.
func (ht *heldTrace) stamp(st *stamper, dye string, keep bool) (spans, logs int64) {
	if ht.spans > 0 {
		ht.decode()
		for _, rs := range ht.traces.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					st.stamp(s.Attributes(), dye, keep)
					spans++
				}
			}
		}
	}
	if ht.nlogs > 0 {
		for _, rl := range ht.logs.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, r := range sl.LogRecords().All() {
					st.stamp(r.Attributes(), dye, keep)
					logs++
				}
			}
		}
	}
	return spans, logs
}

// link adds a span link from the held span entry to the producer span.
func (ht *heldTrace) link(entry pcommon.SpanID, ref producerRef, attr, key string) {
	if ht.spans == 0 || entry.IsEmpty() {
		return
	}
	ht.decode()
	for _, rs := range ht.traces.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if s.SpanID() == entry {
					linkSpan(s, ref, attr, key)
					return
				}
			}
		}
	}
}

// linkSpan adds a span link to the producer span ref, marked with the key
// that matched.
func linkSpan(s ptrace.Span, ref producerRef, attr, key string) {
	l := s.Links().AppendEmpty()
	l.SetTraceID(ref.trace)
	l.SetSpanID(ref.span)
	l.Attributes().PutStr(attr, key)
}
