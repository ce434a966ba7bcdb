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

// batchEncoder writes the held spans of one batch, as OTLP protobuf, onto
// their held traces' encoded bytes. The batch is marshalled once and each
// held span's bytes are cut out of that encoding and wrapped in its
// resource's and scope's (every other field of their messages), one
// ResourceSpans per run of a trace's spans in one scope. Staging each trace's
// spans in a ptrace.Traces of its own (a copy of the resource and scope per
// trace) and marshalling those was a third of the gateway's trace path
// (test/bench gateway-realistic profile, issue 18); this writes the same
// messages with one marshal and copies of bytes.
type batchEncoder struct {
	marshaler ptrace.ProtoMarshaler
	buf       []byte      // the batch's encoding
	resHeads  []byte      // per resource: its fields but scope_spans
	scHeads   []byte      // per scope: its fields but spans
	res       []byteRange // in resHeads, per resource
	scopes    []scopeHead // per scope, in batch order
	spans     []byteRange // in buf, per span in batch order: the Span message
	spanScope []int32     // per span: its index in scopes

	// per batch: the held traces in order of their first held span, and
	// their spans grouped by trace (a counting sort)
	order  []*heldTrace
	starts []int32 // per slot (held trace), where its spans start in bySlot
	cursor []int32
	bySlot []int32
	groups []group
}

type scopeHead struct {
	res  int32
	head byteRange // in scHeads
}

// group is a run of one trace's held spans in one scope: spans[from:to] of
// the trace's slot, and the sizes of the messages that wrap them.
type group struct {
	from, to     int
	scope        int32
	scLen, rsLen int
}

// encode appends the spans refs marks (refs[k] is the held trace of the
// batch's k-th span, nil when not held) to their traces' encoded bytes. It
// reports false, having written nothing, when the batch cannot be encoded;
// the caller then holds those spans as pdata.
func (e *batchEncoder) encode(td ptrace.Traces, refs []*heldTrace, gen uint64) bool {
	defer e.reset()
	buf, err := e.marshaler.MarshalTraces(td)
	if err != nil || len(buf) > math.MaxInt32 || !e.split(buf) || len(e.spans) != len(refs) {
		return false
	}
	e.sortByTrace(refs, gen)
	for slot, ht := range e.order {
		e.appendTrace(ht, e.bySlot[e.starts[slot]:e.starts[slot+1]])
	}
	return true
}

func (e *batchEncoder) reset() {
	e.buf = nil // the batch's bytes are garbage once cut
	e.resHeads, e.scHeads = e.resHeads[:0], e.scHeads[:0]
	e.res, e.scopes, e.spans, e.spanScope = e.res[:0], e.scopes[:0], e.spans[:0], e.spanScope[:0]
	clear(e.order)
	e.order, e.starts, e.cursor, e.bySlot, e.groups = e.order[:0], e.starts[:0], e.cursor[:0], e.bySlot[:0], e.groups[:0]
}

// split indexes the resources, scopes and spans of a TracesData encoding.
func (e *batchEncoder) split(buf []byte) bool {
	e.buf = buf
	return e.fields(0, len(buf), func(num protowire.Number, _, value byteRange) bool {
		return num != fieldTracesResourceSpans || e.splitResource(value)
	})
}

func (e *batchEncoder) splitResource(r byteRange) bool {
	ri := int32(len(e.res))
	from := int32(len(e.resHeads))
	ok := e.fields(int(r.from), int(r.to), func(num protowire.Number, field, value byteRange) bool {
		if num == fieldResourceScopeSpans {
			return e.splitScope(ri, value)
		}
		e.resHeads = append(e.resHeads, e.buf[field.from:field.to]...)
		return true
	})
	e.res = append(e.res, byteRange{from, int32(len(e.resHeads))})
	return ok
}

func (e *batchEncoder) splitScope(ri int32, r byteRange) bool {
	si := int32(len(e.scopes))
	from := int32(len(e.scHeads))
	ok := e.fields(int(r.from), int(r.to), func(num protowire.Number, field, value byteRange) bool {
		if num == fieldScopeSpans {
			e.spans = append(e.spans, value)
			e.spanScope = append(e.spanScope, si)
			return true
		}
		e.scHeads = append(e.scHeads, e.buf[field.from:field.to]...)
		return true
	})
	e.scopes = append(e.scopes, scopeHead{res: ri, head: byteRange{from, int32(len(e.scHeads))}})
	return ok
}

// fields calls fn for each field of the message in buf[from:to]: the whole
// field (tag and value) and, for a length-delimited field, its contents.
func (e *batchEncoder) fields(from, to int, fn func(num protowire.Number, field, value byteRange) bool) bool {
	for pos := from; pos < to; {
		num, typ, n := protowire.ConsumeTag(e.buf[pos:to])
		if n < 0 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, e.buf[pos+n:to])
		if m < 0 {
			return false
		}
		field := byteRange{int32(pos), int32(pos + n + m)}
		value := byteRange{int32(pos + n), field.to}
		if typ == protowire.BytesType {
			_, l := protowire.ConsumeVarint(e.buf[pos+n : to])
			value.from += int32(l)
		}
		if !fn(num, field, value) {
			return false
		}
		pos = int(field.to)
	}
	return true
}

// sortByTrace groups the held spans by trace, in batch order within a trace.
func (e *batchEncoder) sortByTrace(refs []*heldTrace, gen uint64) {
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
	e.bySlot = slices.Grow(e.bySlot[:0], int(total))[:total]
	e.cursor = append(e.cursor[:0], e.starts[:len(e.order)]...)
	for k, ht := range refs {
		if ht != nil {
			e.bySlot[e.cursor[ht.encSlot]] = int32(k)
			e.cursor[ht.encSlot]++
		}
	}
}

// appendTrace appends the messages of one trace's held spans (span indices
// ks, in batch order), as one TracesData message of its exact size, to
// ht's encoded messages.
func (e *batchEncoder) appendTrace(ht *heldTrace, ks []int32) {
	e.groups = e.groups[:0]
	total := 0
	for i := 0; i < len(ks); {
		g := group{from: i, scope: e.spanScope[ks[i]]}
		sh := e.scopes[g.scope]
		g.scLen = sh.head.len()
		for ; i < len(ks) && e.spanScope[ks[i]] == g.scope; i++ {
			g.scLen += sizeBytesField(e.spans[ks[i]].len())
		}
		g.to = i
		g.rsLen = e.res[sh.res].len() + sizeBytesField(g.scLen)
		total += sizeBytesField(g.rsLen)
		e.groups = append(e.groups, g)
	}
	b := make([]byte, 0, total)
	for _, g := range e.groups {
		sh := e.scopes[g.scope]
		b = appendBytesHeader(b, fieldTracesResourceSpans, g.rsLen)
		b = append(b, e.resHeads[e.res[sh.res].from:e.res[sh.res].to]...)
		b = appendBytesHeader(b, fieldResourceScopeSpans, g.scLen)
		b = append(b, e.scHeads[sh.head.from:sh.head.to]...)
		for _, k := range ks[g.from:g.to] {
			s := e.spans[k]
			b = appendBytesHeader(b, fieldScopeSpans, s.len())
			b = append(b, e.buf[s.from:s.to]...)
		}
	}
	if ht.encoded == nil {
		ht.encoded = b
	} else {
		ht.more = append(ht.more, b)
	}
}

// sizeBytesField is the encoded size of a length-delimited field with an
// n-byte value and a one-byte tag (field numbers below 16).
func sizeBytesField(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func appendBytesHeader(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}
