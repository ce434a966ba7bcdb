package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
)

// entry is one record of a partition handed (or being handed) to the
// pipeline.
type entry struct {
	offset int64
	size   int64
	// gen is the generation of the record's live token, 0 when none is
	// live: a done callback counts only if its generation is still here.
	gen   uint64
	epoch int32
	done  bool
}

// ledger holds one partition's records from its commit watermark on, in
// offset order. Done records leave only from the front, so the front is
// always the oldest record not done: the watermark. Not safe for
// concurrent use (the partition's mutex guards it).
type ledger struct {
	ents []entry
	head int
	// end is the offset after the newest record: the watermark once every
	// record is done. Offset -1 until the first record.
	end kgo.EpochOffset
	// gen is the last generation issued.
	gen uint64
}

func newLedger() ledger {
	return ledger{end: kgo.EpochOffset{Epoch: -1, Offset: -1}}
}

// len is the number of records from the watermark on.
func (l *ledger) len() int { return len(l.ents) - l.head }

// add appends the record at offset; offsets only grow.
func (l *ledger) add(offset int64, epoch int32, size int64) {
	l.ents = append(l.ents, entry{offset: offset, size: size, epoch: epoch})
	l.end = kgo.EpochOffset{Epoch: epoch, Offset: offset + 1}
}

// index returns the position in ents of the record at offset, or -1 when
// it left the ledger.
func (l *ledger) index(offset int64) int {
	live := l.ents[l.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i < len(live) && live[i].offset == offset {
		return l.head + i
	}
	return -1
}

// find returns the record at offset, or nil when it left the ledger.
func (l *ledger) find(offset int64) *entry {
	if i := l.index(offset); i >= 0 {
		return &l.ents[i]
	}
	return nil
}

// begin issues a new generation to an attempt at delivering e.
func (l *ledger) begin(e *entry) uint64 {
	l.gen++
	e.gen = l.gen
	return l.gen
}

// markDone marks e done and drops the done records at the front. e is
// invalid afterwards.
func (l *ledger) markDone(e *entry) {
	e.done, e.gen = true, 0
	for l.head < len(l.ents) && l.ents[l.head].done {
		l.head++
	}
	switch {
	case l.head == len(l.ents):
		l.ents, l.head = l.ents[:0], 0
	case l.head >= 64 && l.head*2 >= len(l.ents):
		// compact now and then, so append reuses the slice
		n := copy(l.ents, l.ents[l.head:])
		l.ents, l.head = l.ents[:n], 0
	}
}

// watermark is the offset to commit: the oldest record not done, or end.
func (l *ledger) watermark() kgo.EpochOffset {
	if l.len() == 0 {
		return l.end
	}
	e := l.ents[l.head]
	return kgo.EpochOffset{Epoch: e.epoch, Offset: e.offset}
}

// removed sums the records a truncate or reset took out.
type removed struct {
	records int   // all removed records
	notDone int   // of them, not done
	bytes   int64 // their sizes
	live    int   // of them, with a live token
}

func (r *removed) count(ents []entry) {
	for i := range ents {
		r.records++
		if ents[i].done {
			continue
		}
		r.notDone++
		r.bytes += ents[i].size
		if ents[i].gen != 0 {
			r.live++
		}
	}
}

// truncate removes the record at offset and every later one: they will be
// fetched again, from offset.
func (l *ledger) truncate(offset int64) removed {
	var r removed
	i := l.index(offset)
	if i < 0 {
		return r
	}
	r.count(l.ents[i:])
	l.end = kgo.EpochOffset{Epoch: l.ents[i].epoch, Offset: offset}
	l.ents = l.ents[:i]
	if l.head == len(l.ents) {
		l.ents, l.head = l.ents[:0], 0
	}
	return r
}

// reset empties the ledger (the partition was closed).
func (l *ledger) reset() removed {
	var r removed
	r.count(l.ents[l.head:])
	l.ents, l.head = nil, 0
	return r
}
