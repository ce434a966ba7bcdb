package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"encoding/binary"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// orphanTracker finds spans whose parent span id is set but whose parent is
// never seen within ttl: a hop where only part of the context arrived (a
// caller that does not export, a sampled-out parent). Spans usually end, and
// so arrive, before their parents, so every child first waits in `pending`
// until its parent turns up; `seen` catches parents that came first.
type orphanTracker struct {
	// seen is a direct-mapped table of recently seen span ids: O(1), fixed
	// memory, older ids overwritten by newer ones.
	seen    []pcommon.SpanID
	mask    uint64
	pending *lruTable[pcommon.SpanID, pendingParent]
}

// pendingParent is a span waiting for its parent (keyed by the parent's id).
type pendingParent struct {
	childService uint16
}

func newOrphanTracker(maxPending int) *orphanTracker {
	size := 1
	for size < maxPending*8 {
		size <<= 1
	}
	return &orphanTracker{
		seen:    make([]pcommon.SpanID, size),
		mask:    uint64(size - 1),
		pending: newLRUTable[pcommon.SpanID, pendingParent](maxPending),
	}
}

func (o *orphanTracker) slot(id pcommon.SpanID) uint64 {
	return binary.LittleEndian.Uint64(id[:]) * 0x9E3779B97F4A7C15 >> 20 & o.mask
}

// markSeen records span id as seen.
func (o *orphanTracker) markSeen(id pcommon.SpanID) { o.seen[o.slot(id)] = id }

// wasSeen reports whether span id was seen recently.
func (o *orphanTracker) wasSeen(id pcommon.SpanID) bool { return o.seen[o.slot(id)] == id }

// observe records a span. It returns true when a pending child had to be
// dropped unchecked because the pending table was full.
func (o *orphanTracker) observe(spanID, parentID pcommon.SpanID, service uint16, now int32) (overflow bool) {
	if !spanID.IsEmpty() {
		o.pending.delete(spanID)
		o.markSeen(spanID)
	}
	if parentID.IsEmpty() || o.wasSeen(parentID) || o.pending.lookup(parentID) >= 0 {
		return false
	}
	slot, _, _, evicted := o.pending.insert(parentID, now)
	o.pending.at(slot).childService = service
	return evicted
}

// expire reports (through fn) the children whose parent did not arrive
// before cutoff.
func (o *orphanTracker) expire(cutoff int32, fn func(childService uint16)) {
	o.pending.expire(cutoff, func(_ pcommon.SpanID, p *pendingParent) { fn(p.childService) })
}
