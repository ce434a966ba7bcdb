package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"encoding/binary"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

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
	// Indexed again when the trace is released (decider.finish).
	pending bool
}

// sharedKeyRatio decides which keys link at all: a key links while at most
// 1 in sharedKeyRatio of its indexed values turned out to be carried by
// unrelated flows. Above that its values describe a population (a tier, a
// sku), not one flow, and a match would link unrelated traces.
const sharedKeyRatio = 4

// producerKeyBuf is the size of the stack buffer lookup keys are built in;
// a longer key (values reach max_value_length) is built on the heap.
const producerKeyBuf = recordHeader + 256

// producerIndex remembers, per key value, the PRODUCER or CLIENT span that
// carried it, so that a trace split by a lost async context can be linked
// back to it: an lruTable bounded by max_async_producers, evicting the
// value least recently found or updated (entries are not stamped: no ttl).
// Not safe for concurrent use.
type producerIndex struct {
	refs     *lruTable[string, producerRef] // key byte + value -> span
	keyNames []string
	// per key: values indexed, and values found shared by unrelated flows
	indexed, shared []int64
}

func newProducerIndex(maxProducers int, keys []KeyConfig) *producerIndex {
	x := &producerIndex{
		refs:    newLRUTable[string, producerRef](maxProducers),
		indexed: make([]int64, len(keys)),
		shared:  make([]int64, len(keys)),
	}
	for _, k := range keys {
		x.keyNames = append(x.keyNames, k.Name)
	}
	return x
}

// linking reports whether values of key may link traces (sharedKeyRatio).
func (x *producerIndex) linking(key uint8) bool {
	return key != keyLinked && x.shared[key]*sharedKeyRatio <= x.indexed[key]
}

// find looks for the PRODUCER or CLIENT span of another trace that carried
// one of dye's values, pairing kinds as hops do: a CONSUMER entry span with
// a PRODUCER span (a lost message header), a SERVER entry span with a CLIENT
// span (an HTTP client without propagator), any other root (a goroutine
// started without ctx) with either. It returns the span and the name of the
// key that matched. Ambiguous values, and keys that do not link, never match.
func (x *producerIndex) find(self pcommon.TraceID, dye string, entryKind ptrace.SpanKind) (producerRef, string, bool) {
	var buf [producerKeyBuf]byte
	for i := 0; i < len(dye); {
		key, val, next := dyeRecord(dye, i)
		i = next
		if !x.linking(key) {
			continue
		}
		slot := x.lookup(appendProducerKey(buf[:0], key, val))
		if slot < 0 {
			continue
		}
		x.refs.touch(slot, 0) // a match attempt keeps the value recent
		ref := *x.refs.at(slot)
		if ref.trace == self || ref.ambiguous {
			continue
		}
		if entryKind == ptrace.SpanKindConsumer && ref.kind != ptrace.SpanKindProducer ||
			entryKind == ptrace.SpanKindServer && ref.kind != ptrace.SpanKindClient {
			continue
		}
		return ref, x.keyNames[key], true
	}
	return producerRef{}, "", false
}

// add remembers the trace's PRODUCER (preferred) or CLIENT span under each
// of dye's values but those in known (indexed by the trace before); a value
// that unrelated traces also carry on their PRODUCER/CLIENT spans becomes
// ambiguous and never links.
func (x *producerIndex) add(ref producerRef, dye, known string) {
	var buf [producerKeyBuf]byte
	for i := 0; i < len(dye); {
		key, val, next := dyeRecord(dye, i)
		i = next
		if key == keyLinked || known != "" && dyeHas(known, key, val) {
			continue
		}
		k := appendProducerKey(buf[:0], key, val)
		slot := x.lookup(k)
		if slot < 0 {
			slot, _, _, _ = x.refs.insert(string(k), 0)
			*x.refs.at(slot) = ref
			x.indexed[key]++
			continue
		}
		old := x.refs.at(slot)
		switch {
		case old.ambiguous:
			continue
		case old.trace == ref.trace && (old.kind != ptrace.SpanKindProducer && ref.kind == ptrace.SpanKindProducer || old.pending && !ref.pending):
			*old = ref // a trace's PRODUCER span is preferred over its CLIENT span
		case old.trace == ref.trace:
			continue
		case old.pending:
			*old = ref // likely the producer the pending trace waits for
		case dyeHas(dye, keyLinked, old.trace.String()):
			*old = ref // the next async hop of the same flow: link to the newest producer
		default:
			old.ambiguous = true // another flow with the same value
			x.shared[key]++
		}
		x.refs.touch(slot, 0)
	}
}

func appendProducerKey(buf []byte, key uint8, val string) []byte {
	buf = append(buf, key)
	return append(buf, val...)
}

// lookup returns the slot of the key k (appendProducerKey), or -1. The
// index is read with string(k) in place, which does not allocate (building
// the key as a string allocated one per value and batch).
func (x *producerIndex) lookup(k []byte) int32 {
	if i, ok := x.refs.index[string(k)]; ok {
		return i
	}
	return -1
}

// The producer index snapshot saved to `storage` beside the registry: a
// header naming the format and the key list, the per-key counters
// (uvarints: indexed then shared, per key), then one record per value,
// least recently used first:
//
//	[uvarint n][n bytes: key byte + value][16-byte trace id][8-byte span id]
//	[kind byte][flags byte][uvarint n][n bytes: service name]
const (
	producersKey   = "producers"
	producersMagic = "biz_dye producers v1\x00"
)

const (
	refAmbiguous = 1 << iota
	refPending
)

// encode returns the snapshot of the index; name gives a service id's name.
func (x *producerIndex) encode(header string, name func(uint16) string) []byte {
	buf := make([]byte, 0, 64*x.refs.len()+len(header))
	buf = append(buf, producersMagic...)
	buf = append(buf, header...)
	for i := range x.indexed {
		buf = binary.AppendUvarint(buf, uint64(x.indexed[i]))
		buf = binary.AppendUvarint(buf, uint64(x.shared[i]))
	}
	x.refs.each(func(k string, ref *producerRef, _ int32) {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
		buf = append(buf, ref.trace[:]...)
		buf = append(buf, ref.span[:]...)
		var flags byte
		if ref.ambiguous {
			flags |= refAmbiguous
		}
		if ref.pending {
			flags |= refPending
		}
		buf = append(buf, byte(ref.kind), flags)
		svc := name(ref.service)
		buf = binary.AppendUvarint(buf, uint64(len(svc)))
		buf = append(buf, svc...)
	})
	return buf
}

// decode adds the values of snapshot buf (written for the key list of
// header) to the index and returns how many it added; id interns a service
// name. A snapshot of another key list is not loaded; a damaged one is
// loaded up to the damage.
func (x *producerIndex) decode(buf []byte, header string, id func(string) uint16) (int, error) {
	prefix := producersMagic + header
	if !strings.HasPrefix(string(buf), prefix) {
		return 0, errOtherKeyList
	}
	r := snapshotReader{buf: buf[len(prefix):]}
	for i := range x.indexed {
		x.indexed[i] += int64(r.uvarint())
		x.shared[i] += int64(r.uvarint())
	}
	loaded := 0
	for !r.failed && len(r.buf) > 0 {
		k := r.bytes(int(r.uvarint()))
		var ref producerRef
		copy(ref.trace[:], r.bytes(len(ref.trace)))
		copy(ref.span[:], r.bytes(len(ref.span)))
		kindFlags := r.bytes(2)
		svc := r.bytes(int(r.uvarint()))
		if r.failed || len(k) == 0 || int(k[0]) >= len(x.indexed) {
			return loaded, errDamaged
		}
		ref.kind, ref.service = ptrace.SpanKind(kindFlags[0]), id(string(svc))
		ref.ambiguous, ref.pending = kindFlags[1]&refAmbiguous != 0, kindFlags[1]&refPending != 0
		key := string(k)
		if x.refs.lookup(key) >= 0 {
			continue // indexed since the start: newer than the snapshot
		}
		slot, _, _, _ := x.refs.insert(key, 0)
		*x.refs.at(slot) = ref
		loaded++
	}
	if r.failed {
		return loaded, errDamaged
	}
	return loaded, nil
}

// snapshotReader reads a snapshot's fields; a short or malformed field sets
// failed and returns zero values from then on.
type snapshotReader struct {
	buf    []byte
	failed bool
}

func (r *snapshotReader) uvarint() uint64 {
	if r.failed {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.failed = true
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *snapshotReader) bytes(n int) []byte {
	if r.failed || n < 0 || n > len(r.buf) {
		r.failed = true
		return nil
	}
	b := r.buf[:n]
	r.buf = r.buf[n:]
	return b
}
