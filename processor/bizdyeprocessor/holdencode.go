package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// OTLP field numbers the encoder cuts a batch's encoding at
// (opentelemetry/proto/trace/v1/trace.proto).
const (
	fieldTracesResourceSpans protowire.Number = 1 // TracesData.resource_spans
	fieldResourceScopeSpans  protowire.Number = 2 // ResourceSpans.scope_spans
	fieldScopeSpans          protowire.Number = 2 // ScopeSpans.spans
)

// byteRange is [from, to) in a buffer.
type byteRange struct{ from, to int32 }

func (r byteRange) len() int { return int(r.to - r.from) }

// batchEncoder keeps the held spans of a batch as OTLP protobuf: the batch
// is marshalled once and kept, indexed (encodedBatch), and each held trace
// remembers which of its spans are its own (heldChunk). Its spans are cut
// out and wrapped in their resource's and scope's fields (every other field
// of their messages) only when the trace leaves (spanRelease).
//
// Staging each trace's spans in a ptrace.Traces of its own (a copy of the
// resource and scope per trace) and marshalling those was a third of the
// gateway's trace path (test/bench gateway-realistic profile, issue 18);
// cutting each held trace's message out of the batch's encoding on arrival
// then cost 7% (one allocation per trace and batch): with sampling most
// traces are dropped and never need their message at all.
type batchEncoder struct {
	marshaler ptrace.ProtoMarshaler
	split     encodedBatch // the batch being indexed, then copied to its size

	// per batch: the held traces in order of their first held span, and
	// where their spans start in the batch's bySlot (a counting sort)
	order  []*heldTrace
	starts []int32
	cursor []int32
}

// encodedBatch is one batch's encoding and its index, kept as long as a
// held trace has spans in it. With sampling every span of a batch is held
// for about decision_wait, and traces leave roughly in arrival order, so a
// batch outlives its first traces' release by little; it keeps the few
// spans that were not held (a decided trace's late spans) as well.
type encodedBatch struct {
	buf      []byte      // the batch's TracesData encoding
	resHeads []byte      // per resource: its fields but scope_spans
	scHeads  []byte      // per scope: its fields but spans
	res      []byteRange // in resHeads, per resource
	scopes   []scopeHead // per scope, in batch order
	spans    []spanRef   // per span, in batch order
	bySlot   []int32     // the held spans (indices in spans), grouped by trace
}

type scopeHead struct {
	res  int32
	head byteRange // in scHeads
}

type spanRef struct {
	msg   byteRange // the Span message in buf
	scope int32     // index in scopes
}

// heldChunk is a held trace's spans in one batch: batch.bySlot[from:to], in
// batch order.
type heldChunk struct {
	batch    *encodedBatch
	from, to int32
}

// encode keeps the spans refs marks (refs[k] is the held trace of the
// batch's k-th span, nil when not held) as chunks of their held traces. It
// reports false, having kept nothing, when the batch cannot be encoded; the
// caller then holds those spans as pdata.
func (e *batchEncoder) encode(td ptrace.Traces, refs []*heldTrace, gen uint64) bool {
	defer e.reset()
	buf, err := e.marshaler.MarshalTraces(td)
	if err != nil || len(buf) > math.MaxInt32 || !e.index(buf) || len(e.split.spans) != len(refs) {
		return false
	}
	b := &encodedBatch{
		buf:      buf,
		resHeads: slices.Clone(e.split.resHeads),
		scHeads:  slices.Clone(e.split.scHeads),
		res:      slices.Clone(e.split.res),
		scopes:   slices.Clone(e.split.scopes),
		spans:    slices.Clone(e.split.spans),
	}
	e.sortByTrace(b, refs, gen)
	for slot, ht := range e.order {
		c := heldChunk{batch: b, from: e.starts[slot], to: e.starts[slot+1]}
		if ht.chunk.batch == nil {
			ht.chunk = c
		} else {
			ht.more = append(ht.more, c)
		}
	}
	return true
}

func (e *batchEncoder) reset() {
	e.split = encodedBatch{
		resHeads: e.split.resHeads[:0], scHeads: e.split.scHeads[:0], res: e.split.res[:0],
		scopes: e.split.scopes[:0], spans: e.split.spans[:0],
	}
	clear(e.order)
	e.order, e.starts, e.cursor = e.order[:0], e.starts[:0], e.cursor[:0]
}

// index indexes the resources, scopes and spans of a TracesData encoding.
func (e *batchEncoder) index(buf []byte) bool {
	e.split.buf = buf
	return e.fields(0, len(buf), func(num protowire.Number, _, value byteRange) bool {
		return num != fieldTracesResourceSpans || e.indexResource(value)
	})
}

func (e *batchEncoder) indexResource(r byteRange) bool {
	b := &e.split
	ri := int32(len(b.res))
	from := int32(len(b.resHeads))
	ok := e.fields(int(r.from), int(r.to), func(num protowire.Number, field, value byteRange) bool {
		if num == fieldResourceScopeSpans {
			return e.indexScope(ri, value)
		}
		b.resHeads = append(b.resHeads, b.buf[field.from:field.to]...)
		return true
	})
	b.res = append(b.res, byteRange{from, int32(len(b.resHeads))})
	return ok
}

func (e *batchEncoder) indexScope(ri int32, r byteRange) bool {
	b := &e.split
	si := int32(len(b.scopes))
	from := int32(len(b.scHeads))
	ok := e.fields(int(r.from), int(r.to), func(num protowire.Number, field, value byteRange) bool {
		if num == fieldScopeSpans {
			b.spans = append(b.spans, spanRef{msg: value, scope: si})
			return true
		}
		b.scHeads = append(b.scHeads, b.buf[field.from:field.to]...)
		return true
	})
	b.scopes = append(b.scopes, scopeHead{res: ri, head: byteRange{from, int32(len(b.scHeads))}})
	return ok
}

// fields calls fn for each field of the message in buf[from:to]: the whole
// field (tag and value) and, for a length-delimited field, its contents.
func (e *batchEncoder) fields(from, to int, fn func(num protowire.Number, field, value byteRange) bool) bool {
	for pos := from; pos < to; {
		num, typ, n := protowire.ConsumeTag(e.split.buf[pos:to])
		if n < 0 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, e.split.buf[pos+n:to])
		if m < 0 {
			return false
		}
		field := byteRange{int32(pos), int32(pos + n + m)}
		value := byteRange{int32(pos + n), field.to}
		if typ == protowire.BytesType {
			_, l := protowire.ConsumeVarint(e.split.buf[pos+n : to])
			value.from += int32(l)
		}
		if !fn(num, field, value) {
			return false
		}
		pos = int(field.to)
	}
	return true
}

// sortByTrace groups the held spans by trace into b.bySlot, in batch order
// within a trace.
func (e *batchEncoder) sortByTrace(b *encodedBatch, refs []*heldTrace, gen uint64) {
	for _, ht := range refs {
		if ht == nil {
			continue
		}
		if ht.encGen != gen {
			ht.encGen, ht.encSlot = gen, int32(len(e.order))
			e.order = append(e.order, ht)
			e.starts = append(e.starts, 0)
		}
		e.starts[ht.encSlot]++
	}
	total := int32(0)
	for i, n := range e.starts {
		e.starts[i] = total
		total += n
	}
	e.starts = append(e.starts, total)
	b.bySlot = make([]int32, total)
	e.cursor = append(e.cursor[:0], e.starts[:len(e.order)]...)
	for k, ht := range refs {
		if ht != nil {
			b.bySlot[e.cursor[ht.encSlot]] = int32(k)
			e.cursor[ht.encSlot]++
		}
	}
}

// appendSpans appends the spans of b that spans lists (sorted, each its
// index in b.spans << 32 | a tag) to dst as TracesData fields: one
// ResourceSpans per run of them in one scope, with its resource's and
// scope's fields. tags gets each written span's tag, in written order (the
// order decoding gives them back).
func (b *encodedBatch) appendSpans(dst []byte, spans []uint64, tags []int32) ([]byte, []int32) {
	for i := 0; i < len(spans); {
		scope := b.spans[spans[i]>>32].scope
		sh := b.scopes[scope]
		j, scLen := i, sh.head.len()
		for ; j < len(spans) && b.spans[spans[j]>>32].scope == scope; j++ {
			scLen += sizeBytesField(b.spans[spans[j]>>32].msg.len())
		}
		rh := b.res[sh.res]
		dst = appendBytesHeader(dst, fieldTracesResourceSpans, rh.len()+sizeBytesField(scLen))
		dst = append(dst, b.resHeads[rh.from:rh.to]...)
		dst = appendBytesHeader(dst, fieldResourceScopeSpans, scLen)
		dst = append(dst, b.scHeads[sh.head.from:sh.head.to]...)
		for _, v := range spans[i:j] {
			m := b.spans[v>>32].msg
			dst = appendBytesHeader(dst, fieldScopeSpans, m.len())
			dst = append(dst, b.buf[m.from:m.to]...)
			tags = append(tags, int32(uint32(v)))
		}
		i = j
	}
	return dst, tags
}

// appendChunk appends c's span indices, tagged with tag, to spans.
func appendChunk(spans []uint64, c heldChunk, tag int32) []uint64 {
	for _, k := range c.batch.bySlot[c.from:c.to] {
		spans = append(spans, uint64(k)<<32|uint64(uint32(tag)))
	}
	return spans
}

// spanRelease decodes the encoded spans of the traces one sweep releases
// together, one ResourceSpans per source batch and scope. Decoded trace by
// trace, each trace repeated its resource (and scope) once per service and
// batch: decoding the kept traces cost a third of what the receiver's
// decoding of every span cost (gateway-realistic-otlp profile, issue 18),
// and the exporter encoded every copy again. Used under the processor's
// lock; not safe for concurrent use.
type spanRelease struct {
	stamps  []releaseStamp
	buckets []releaseBucket
	byBatch map[*encodedBatch]int
	buf     []byte  // the spans' message, reused (decoding copies what it keeps)
	tags    []int32 // per span of buf, in order: its index in stamps
}

// maxReleaseBuf is the largest message buffer a release keeps for the next.
const maxReleaseBuf = 64 << 20

// releaseStamp is what a released trace's spans are stamped with.
type releaseStamp struct {
	dye        string
	keep, dyed bool
}

// releaseBucket is the released spans of one source batch.
type releaseBucket struct {
	batch *encodedBatch
	spans []uint64 // index in batch.spans << 32 | index in stamps
}

// add takes ht's encoded spans, to be stamped with dye (when dyed), into
// the release; ht keeps its staged spans only.
func (r *spanRelease) add(ht *heldTrace, dye string, keep, dyed bool) {
	if r.byBatch == nil {
		r.byBatch = map[*encodedBatch]int{}
	}
	tag := int32(len(r.stamps))
	r.stamps = append(r.stamps, releaseStamp{dye: dye, keep: keep, dyed: dyed})
	for c := range ht.chunks() {
		bi, ok := r.byBatch[c.batch]
		if !ok {
			bi = len(r.buckets)
			r.byBatch[c.batch] = bi
			if bi < cap(r.buckets) {
				r.buckets = r.buckets[:bi+1]
				r.buckets[bi].batch = c.batch
			} else {
				r.buckets = append(r.buckets, releaseBucket{batch: c.batch})
			}
		}
		r.buckets[bi].spans = appendChunk(r.buckets[bi].spans, c, tag)
	}
	ht.chunk, ht.more = heldChunk{}, nil
}

// flush decodes the release's spans, stamps them and moves them to td.
func (r *spanRelease) flush(td *ptrace.Traces, st *stamper) {
	if len(r.stamps) == 0 {
		return
	}
	r.buf, r.tags = r.buf[:0], r.tags[:0]
	for i := range r.buckets {
		bk := &r.buckets[i]
		slices.Sort(bk.spans)
		r.buf, r.tags = bk.batch.appendSpans(r.buf, bk.spans, r.tags)
	}
	out := unmarshalHeld(r.buf)
	if cap(r.buf) > maxReleaseBuf {
		r.buf = nil
	}
	k := 0
	for _, rs := range out.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if k < len(r.tags) {
					if rt := &r.stamps[r.tags[k]]; rt.dyed {
						st.stamp(s.Attributes(), rt.dye, rt.keep)
					}
				}
				k++
			}
		}
	}
	if *td == (ptrace.Traces{}) {
		*td = ptrace.NewTraces()
	}
	out.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	r.reset()
}

func (r *spanRelease) reset() {
	clear(r.stamps) // drop the dyes
	r.stamps = r.stamps[:0]
	for i := range r.buckets {
		r.buckets[i] = releaseBucket{spans: r.buckets[i].spans[:0]} // drop the batch
	}
	r.buckets = r.buckets[:0]
	clear(r.byBatch)
}

// sizeBytesField is the encoded size of a length-delimited field with an
// n-byte value and a one-byte tag (field numbers below 16).
func sizeBytesField(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func appendBytesHeader(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}
