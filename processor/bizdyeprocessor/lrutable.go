package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

// lruTable is a bounded map with O(1) LRU eviction and expiry by a per-entry
// stamp (seconds). Entries live in a slab linked by int32 indices, so an entry
// costs its key and value plus 12 bytes, and the map holds int32s. It backs
// the trace registry (trace id -> dye), the producer index (key value ->
// producer span) and the orphan detector's pending-parent table. Not safe
// for concurrent use.
//
// Written by hand rather than with golang-lru/v2, whose per-entry node (two
// pointers, the list pointer, a time.Time) plus a map of pointers cost 53
// bytes more per trace: 167.8 against 114.8 B with 1M traces
// (BenchmarkRegistryMemory), and the registry's bar is 120 B per trace.
type lruTable[K comparable, V any] struct {
	index      map[K]int32
	nodes      []lruNode[K, V] // slab; free slots are chained through next
	free       int32
	head, tail int32 // most recently touched at head
	max        int
}

type lruNode[K comparable, V any] struct {
	key        K
	prev, next int32
	stamp      int32
	val        V
}

func newLRUTable[K comparable, V any](maxEntries int) *lruTable[K, V] {
	return &lruTable[K, V]{index: map[K]int32{}, free: -1, head: -1, tail: -1, max: maxEntries}
}

func (t *lruTable[K, V]) len() int { return len(t.index) }

// lookup returns the slot of key, or -1.
func (t *lruTable[K, V]) lookup(key K) int32 {
	if i, ok := t.index[key]; ok {
		return i
	}
	return -1
}

// at returns the value in slot i. The pointer is valid until the next insert.
func (t *lruTable[K, V]) at(i int32) *V { return &t.nodes[i].val }

// touch stamps slot i and moves it to the head.
func (t *lruTable[K, V]) touch(i int32, stamp int32) {
	t.nodes[i].stamp = stamp
	if t.head != i {
		t.unlink(i)
		t.pushHead(i)
	}
}

// insert adds key (absent) with a zero value and returns its slot. When the
// table is full the least recently touched entry is evicted first and
// returned, so the caller can account for it.
func (t *lruTable[K, V]) insert(key K, stamp int32) (slot int32, evictedKey K, evictedVal V, evicted bool) {
	if len(t.index) >= t.max && t.tail >= 0 {
		evictedKey, evictedVal = t.nodes[t.tail].key, t.nodes[t.tail].val
		t.remove(t.tail)
		evicted = true
	}
	if t.free >= 0 {
		slot = t.free
		t.free = t.nodes[slot].next
	} else {
		t.nodes = append(t.nodes, lruNode[K, V]{})
		slot = int32(len(t.nodes) - 1)
	}
	t.nodes[slot] = lruNode[K, V]{key: key, stamp: stamp, prev: -1, next: -1}
	t.index[key] = slot
	t.pushHead(slot)
	return slot, evictedKey, evictedVal, evicted
}

// expire removes the entries stamped before cutoff, oldest first, calling fn
// (if not nil) with each.
func (t *lruTable[K, V]) expire(cutoff int32, fn func(K, *V)) int {
	n := 0
	for t.tail >= 0 && t.nodes[t.tail].stamp < cutoff {
		if fn != nil {
			fn(t.nodes[t.tail].key, &t.nodes[t.tail].val)
		}
		t.remove(t.tail)
		n++
	}
	return n
}

// delete removes key if present.
func (t *lruTable[K, V]) delete(key K) bool {
	i, ok := t.index[key]
	if ok {
		t.remove(i)
	}
	return ok
}

func (t *lruTable[K, V]) remove(i int32) {
	t.unlink(i)
	delete(t.index, t.nodes[i].key)
	t.nodes[i] = lruNode[K, V]{next: t.free, prev: -1}
	t.free = i
}

func (t *lruTable[K, V]) pushHead(i int32) {
	n := &t.nodes[i]
	n.prev, n.next = -1, t.head
	if t.head >= 0 {
		t.nodes[t.head].prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
}

func (t *lruTable[K, V]) unlink(i int32) {
	n := &t.nodes[i]
	if n.prev >= 0 {
		t.nodes[n.prev].next = n.next
	} else if t.head == i {
		t.head = n.next
	}
	if n.next >= 0 {
		t.nodes[n.next].prev = n.prev
	} else if t.tail == i {
		t.tail = n.prev
	}
	n.prev, n.next = -1, -1
}

// each calls fn with every entry, least recently touched first.
func (t *lruTable[K, V]) each(fn func(key K, val *V, stamp int32)) {
	for i := t.tail; i >= 0; i = t.nodes[i].prev {
		fn(t.nodes[i].key, &t.nodes[i].val, t.nodes[i].stamp)
	}
}
