package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"encoding/binary"
	"strings"

	"github.com/cespare/xxhash/v2"
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

// producerKeyBuf is the size of the stack buffer keys are hashed from; a
// longer key (values reach max_value_length) is built on the heap.
const producerKeyBuf = recordHeader + 256

// producerIndex remembers, per key value, the PRODUCER or CLIENT span that
// carried it, so that a trace split by a lost async context can be linked
// back to it: an lruTable bounded by max_async_producers, evicting the
// value least recently found or updated (entries are not stamped: no ttl).
// Not safe for concurrent use.
//
// Values are keyed by a 64-bit hash of the key byte and the value
// (producerKey): string keys cost a string per value, a scan of every key
// by the garbage collector, and a compare of the whole value per lookup,
// 5% of the gateway's trace path (test/bench gateway-realistic-otlp
// profile, issue 18). Two values collide with odds of 2^-64 per pair,
// about 3e-8 with a million values indexed; a collision makes the pair
// ambiguous (never linked), or links to the other value's producer.
type producerIndex struct {
	refs     *lruTable[uint64, producerRef] // producerKey -> span
	keyNames []string
	// per key: values indexed, and values found shared by unrelated flows
	indexed, shared []int64
}

func newProducerIndex(maxProducers int, keys []KeyConfig) *producerIndex {
	x := &producerIndex{
		refs:    newLRUTable[uint64, producerRef](maxProducers),
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
	for i := 0; i < len(dye); {
		key, val, next := dyeRecord(dye, i)
		i = next
		if !x.linking(key) {
			continue
		}
		slot := x.refs.lookup(producerKey(key, val))
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
	for i := 0; i < len(dye); {
		key, val, next := dyeRecord(dye, i)
		i = next
		if key == keyLinked || known != "" && dyeHas(known, key, val) {
			continue
		}
		k := producerKey(key, val)
		slot := x.refs.lookup(k)
		if slot < 0 {
			slot, _, _, _ = x.refs.insert(k, 0)
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

// producerKey is the index key of value val of key: the hash of the key
// byte followed by the value (the form version 1 snapshots stored).
func producerKey(key uint8, val string) uint64 {
	var buf [producerKeyBuf]byte
	return xxhash.Sum64(append(append(buf[:0], key), val...))
}

// The producer index snapshot saved to `storage` beside the registry: a
// header naming the format and the key list, the per-key counters
// (uvarints: indexed then shared, per key), then one record per value,
// least recently used first:
//
//	[8-byte producerKey, big endian][16-byte trace id][8-byte span id]
//	[kind byte][flags byte][uvarint n][n bytes: service name]
//
// Version 1 (until 2026-12-03) stored the key byte and value in place of
// their hash, [uvarint n][n bytes]; it is still read, and hashed on load.
const (
	producersKey     = "producers"
	producersMagic   = "biz_dye producers v2\x00"
	producersMagicV1 = "biz_dye producers v1\x00"
)

const (
	refAmbiguous = 1 << iota
	refPending
)

// encode returns the snapshot of the index; name gives a service id's name.
func (x *producerIndex) encode(header string, name func(uint16) string) []byte {
	buf := make([]byte, 0, 48*x.refs.len()+len(header))
	buf = append(buf, producersMagic...)
	buf = append(buf, header...)
	for i := range x.indexed {
		buf = binary.AppendUvarint(buf, uint64(x.indexed[i]))
		buf = binary.AppendUvarint(buf, uint64(x.shared[i]))
	}
	x.refs.each(func(k uint64, ref *producerRef, _ int32) {
		buf = binary.BigEndian.AppendUint64(buf, k)
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
	v1 := strings.HasPrefix(string(buf), producersMagicV1+header)
	if !v1 && !strings.HasPrefix(string(buf), producersMagic+header) {
		return 0, errOtherKeyList
	}
	r := snapshotReader{buf: buf[len(producersMagic)+len(header):]} // both magics have one length
	for i := range x.indexed {
		x.indexed[i] += int64(r.uvarint())
		x.shared[i] += int64(r.uvarint())
	}
	loaded := 0
	for !r.failed && len(r.buf) > 0 {
		var key uint64
		if v1 {
			k := r.bytes(int(r.uvarint()))
			if len(k) == 0 || int(k[0]) >= len(x.indexed) {
				return loaded, errDamaged
			}
			key = producerKey(k[0], string(k[1:]))
		} else if k := r.bytes(8); !r.failed {
			key = binary.BigEndian.Uint64(k)
		}
		var ref producerRef
		copy(ref.trace[:], r.bytes(len(ref.trace)))
		copy(ref.span[:], r.bytes(len(ref.span)))
		kindFlags := r.bytes(2)
		svc := r.bytes(int(r.uvarint()))
		if r.failed {
			return loaded, errDamaged
		}
		ref.kind, ref.service = ptrace.SpanKind(kindFlags[0]), id(string(svc))
		ref.ambiguous, ref.pending = kindFlags[1]&refAmbiguous != 0, kindFlags[1]&refPending != 0
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
