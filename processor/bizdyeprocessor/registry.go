package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"encoding/binary"
	"errors"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Registry entry flags.
const (
	flagKeep            uint8 = 1 << iota // the trace matched a keep rule
	flagReleased                          // its root arrived: later spans are late
	flagStitched                          // link_async already ran for its entry span
	flagAwaiting                          // a CONSUMER root whose producer is unknown or incomplete: held up to wait
	flagDecided                           // `sampling` decided the trace: later spans follow the decision
	flagSampled                           // ... and kept it
	flagIndexed                           // its values are in the producer index with its CLIENT span
	flagIndexedProducer                   // ... with its PRODUCER span
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

// The registry snapshot saved to `storage`: a header naming the format and
// the key list the dyes index into, then one record per trace, least
// recently seen first:
//
//	[16-byte trace id][uvarint age in seconds][uvarint entry length][entry]
const (
	registryKey      = "registry" // the snapshot's storage key
	snapshotMagic    = "biz_dye registry v1\x00"
	snapshotKeySep   = "\x00"
	snapshotEnd      = "\n"
	traceIDSize      = len(pcommon.TraceID{})
	snapshotRecordSz = 40 // a typical record (id, age, length, one short value): the buffer's first guess
)

// errOtherKeyList: the snapshot was saved for another key list, whose dyes
// would name the wrong keys.
var errOtherKeyList = errors.New("the snapshot was written for another key list; not loaded")

// errDamaged: the snapshot ends in a record that does not parse.
var errDamaged = errors.New("the snapshot is damaged; loaded what precedes the damage")

// traceRegistry remembers each recent trace's dye and flags: an lruTable
// bounded by max_traces whose entries expire after ttl, saved to and loaded
// from `storage` as a snapshot. Not safe for concurrent use.
type traceRegistry struct {
	table  *lruTable[pcommon.TraceID, traceEntry]
	header string // snapshot header of this key list
	keys   int    // number of configured keys
}

func newTraceRegistry(maxTraces int, keys []KeyConfig) *traceRegistry {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	return &traceRegistry{
		table:  newLRUTable[pcommon.TraceID, traceEntry](maxTraces),
		header: snapshotMagic + strings.Join(names, snapshotKeySep) + snapshotEnd,
		keys:   len(keys),
	}
}

func (r *traceRegistry) len() int { return r.table.len() }

// lookup returns the slot of trace id, or -1.
func (r *traceRegistry) lookup(id pcommon.TraceID) int32 { return r.table.lookup(id) }

// at returns the entry in slot i. The pointer is valid until the next add.
func (r *traceRegistry) at(slot int32) *traceEntry { return r.table.at(slot) }

// add remembers trace id (absent) with an empty entry seen at now, and
// reports whether the least recently seen trace was evicted to make room.
func (r *traceRegistry) add(id pcommon.TraceID, now int32) (slot int32, evicted bool) {
	slot, _, _, evicted = r.table.insert(id, now)
	return slot, evicted
}

// touch marks slot as seen at now.
func (r *traceRegistry) touch(slot, now int32) { r.table.touch(slot, now) }

// expire forgets the traces last seen before cutoff, except those awaiting
// their producer that held reports still held: these are seen again at now.
func (r *traceRegistry) expire(cutoff, now int32, held func(pcommon.TraceID) bool) {
	var ids []pcommon.TraceID
	var entries []traceEntry
	r.table.expire(cutoff, func(id pcommon.TraceID, e *traceEntry) {
		if e.flags()&flagAwaiting != 0 && held(id) {
			ids, entries = append(ids, id), append(entries, *e)
		}
	})
	for i, id := range ids {
		slot, _ := r.add(id, now)
		*r.at(slot) = entries[i]
	}
}

// validDye reports whether d is a well-formed dye of this key list.
func (r *traceRegistry) validDye(d string) bool {
	for i := 0; i < len(d); {
		if len(d)-i < recordHeader {
			return false
		}
		key, n := d[i], int(d[i+1])<<8|int(d[i+2])
		if int(key) >= r.keys && key != keyLinked || n == 0 || len(d)-i-recordHeader < n {
			return false
		}
		i += recordHeader + n
	}
	return true
}

// encode returns the snapshot of the registry at now.
func (r *traceRegistry) encode(now int32) []byte {
	buf := make([]byte, 0, r.table.len()*snapshotRecordSz)
	buf = append(buf, r.header...)
	r.table.each(func(id pcommon.TraceID, e *traceEntry, stamp int32) {
		buf = append(buf, id[:]...)
		buf = binary.AppendUvarint(buf, uint64(max(now-stamp, 0)))
		buf = binary.AppendUvarint(buf, uint64(len(*e)))
		buf = append(buf, *e...)
	})
	return buf
}

// decode adds the traces of snapshot buf to the registry at now, skipping
// entries older than ttl seconds and malformed dyes, and returns how many it
// added. A snapshot of another key list is not loaded (errOtherKeyList); a
// damaged one is loaded up to the damage (errDamaged).
func (r *traceRegistry) decode(buf []byte, now int32, ttl int64) (int, error) {
	if !strings.HasPrefix(string(buf), r.header) {
		return 0, errOtherKeyList
	}
	buf = buf[len(r.header):]
	loaded := 0
	for len(buf) > 0 {
		id, age, entry, n := decodeRecord(buf)
		if n == 0 {
			return loaded, errDamaged
		}
		buf = buf[n:]
		if int64(age) > ttl || !r.validDye(entry.dye()) {
			continue
		}
		slot := r.lookup(id)
		if slot < 0 {
			slot, _ = r.add(id, now-int32(age))
		}
		if f := entry.flags(); f&flagAwaiting != 0 { // its held spans did not survive the restart
			entry = newTraceEntry(f&^flagAwaiting|flagStitched, entry.dye())
		}
		*r.at(slot) = entry
		loaded++
	}
	return loaded, nil
}

// decodeRecord parses the record at the start of buf and returns its length,
// 0 when it is damaged.
func decodeRecord(buf []byte) (id pcommon.TraceID, age uint64, entry traceEntry, n int) {
	if len(buf) < traceIDSize {
		return id, 0, "", 0
	}
	copy(id[:], buf[:traceIDSize])
	age, n1 := binary.Uvarint(buf[traceIDSize:])
	if n1 <= 0 {
		return id, 0, "", 0
	}
	size, n2 := binary.Uvarint(buf[traceIDSize+n1:])
	start := traceIDSize + n1 + n2
	if n2 <= 0 || size == 0 || uint64(len(buf)-start) < size {
		return id, 0, "", 0
	}
	return id, age, traceEntry(buf[start : start+int(size)]), start + int(size)
}
