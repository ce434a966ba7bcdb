package durablekafkareceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLedger drives a ledger of records at offsets 10, 11, 13, 14 (12 is a
// gap, as compaction or a transaction marker leaves) through completions
// and rewinds.
func TestLedger(t *testing.T) {
	type op struct {
		done     int64 // complete the record at this offset, or
		truncate int64 // rewind to it (0: no-op)
	}
	tests := []struct {
		name    string
		ops     []op
		wantWM  int64
		wantLen int
		wantRm  removed // of the last truncate
	}{
		{name: "none done", wantWM: 10, wantLen: 4},
		{name: "front done", ops: []op{{done: 10}}, wantWM: 11, wantLen: 3},
		{name: "done behind the front stay", ops: []op{{done: 13}, {done: 14}}, wantWM: 10, wantLen: 4},
		{name: "gap passed", ops: []op{{done: 10}, {done: 11}}, wantWM: 13, wantLen: 2},
		{name: "all done", ops: []op{{done: 14}, {done: 11}, {done: 10}, {done: 13}}, wantWM: 15, wantLen: 0},
		{
			name: "rewind", ops: []op{{done: 10}, {done: 14}, {truncate: 13}},
			wantWM: 11, wantLen: 1, wantRm: removed{records: 2, notDone: 1, bytes: 13, live: 1},
		},
		{
			name: "rewind everything", ops: []op{{done: 11}, {truncate: 10}},
			wantWM: 10, wantLen: 0, wantRm: removed{records: 4, notDone: 3, bytes: 10 + 13 + 14, live: 3},
		},
		{name: "rewind to a record gone", ops: []op{{done: 10}, {truncate: 10}}, wantWM: 11, wantLen: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger()
			assert.Equal(t, int64(-1), l.watermark().Offset)
			for _, off := range []int64{10, 11, 13, 14} {
				l.add(off, 1, off) // size = offset, to tell them apart
				l.begin(l.find(off))
			}
			var rm removed
			for _, o := range tt.ops {
				if o.truncate != 0 {
					rm = l.truncate(o.truncate)
					continue
				}
				l.markDone(l.find(o.done))
			}
			assert.Equal(t, tt.wantWM, l.watermark().Offset)
			assert.Equal(t, tt.wantLen, l.len())
			assert.Equal(t, tt.wantRm, rm)
		})
	}
}

// TestLedgerCompacts: a ledger whose oldest records keep completing while
// new ones arrive reuses its slice instead of growing.
func TestLedgerCompacts(t *testing.T) {
	l := newLedger()
	for off := int64(0); off < 10000; off++ {
		l.add(off, 0, 1)
		if off >= 100 {
			l.markDone(l.find(off - 100))
		}
	}
	assert.Equal(t, 100, l.len())
	assert.LessOrEqual(t, cap(l.ents), 512)
	assert.Equal(t, int64(9900), l.watermark().Offset)
}
