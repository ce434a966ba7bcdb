package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
)

// usage is what one signal's partitions hold downstream, for the bounds,
// the gauges and the wait of Shutdown.
type usage struct {
	records atomic.Int64 // handed on, not done
	bytes   atomic.Int64 // their payload sizes
	// blocked is set by a worker that found no room in max_inflight_bytes:
	// the next release that frees bytes wakes every worker.
	blocked atomic.Bool
	live    liveCount // tokens whose done callback still counts
}

// admit reserves size bytes when they fit max, or when nothing is held
// (one record larger than max must not stall the signal).
func (u *usage) admit(size, maxBytes int64) bool {
	if n := u.bytes.Add(size); n == size || n <= maxBytes {
		return true
	}
	u.bytes.Add(-size)
	return false
}

func (u *usage) release(r removed) {
	u.records.Add(-int64(r.notDone))
	u.bytes.Add(-r.bytes)
	u.live.add(-r.live)
}

// liveCount counts live tokens; Shutdown waits for it to reach zero.
type liveCount struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n reaches 0; nil while nobody waits
}

func (c *liveCount) add(d int) {
	if d == 0 {
		return
	}
	c.mu.Lock()
	c.n += d
	if c.n == 0 && c.zero != nil {
		close(c.zero)
		c.zero = nil
	}
	c.mu.Unlock()
}

// wait returns the number still live when ctx ends first, else 0.
func (c *liveCount) wait(ctx context.Context) int {
	c.mu.Lock()
	if c.n == 0 {
		c.mu.Unlock()
		return 0
	}
	if c.zero == nil {
		c.zero = make(chan struct{})
	}
	ch := c.zero
	c.mu.Unlock()
	select {
	case <-ch:
		return 0
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.n
	}
}

// partition is the state of one assigned partition: its ledger, the
// records fetched but not yet handed on, and its worker's channels. The
// poll loop, the worker and done callbacks (any goroutine) share it.
type partition struct {
	id     int32
	lagOpt metric.ObserveOption
	ctx    context.Context // ended when the partition is revoked or lost
	cancel context.CancelFunc
	work   chan struct{} // cap 1: records to hand on, or room for them
	exited chan struct{} // closed when the worker returns

	mu      sync.Mutex
	led     ledger
	pending []*kgo.Record // fetched, waiting for room; fetching is paused meanwhile
	// next is the offset after the last record accepted, -1 before the
	// first: anything older is a stale fetch.
	next      int64
	rewindTo  *kgo.EpochOffset // set by a failed token, applied by the poll loop
	paused    bool             // fetching paused in the client (poll loop's view)
	closed    bool
	committed int64 // last committed offset, -1 for none
	highWater int64 // partition end as of the last fetch
}

func newPartition(parent context.Context, id int32, lagOpt metric.ObserveOption) *partition {
	ctx, cancel := context.WithCancel(parent)
	return &partition{
		id: id, lagOpt: lagOpt, ctx: ctx, cancel: cancel,
		work: make(chan struct{}, 1), exited: make(chan struct{}),
		led: newLedger(), next: -1, committed: -1, highWater: -1,
	}
}

// signal wakes the worker without blocking.
func (p *partition) signal() {
	select {
	case p.work <- struct{}{}:
	default:
	}
}

// accept queues fetched records for the worker. A fetch from before a
// rewind (not yet applied) is dropped: it will be fetched again.
func (p *partition) accept(recs []*kgo.Record, highWater int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.rewindTo != nil {
		return false
	}
	p.highWater = highWater
	n := len(p.pending)
	for _, rec := range recs {
		if rec.Offset >= p.next {
			p.pending = append(p.pending, rec)
			p.next = rec.Offset + 1
		}
	}
	return len(p.pending) > n
}

// take moves the oldest pending record into the ledger when the partition
// has room for it (max_inflight_records) and the signal has bytes left
// (max_inflight_bytes); nil when it has not.
func (p *partition) take(maxRecords int, maxBytes int64, u *usage) *kgo.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.pending) == 0 || p.led.len() >= maxRecords {
		return nil
	}
	rec := p.pending[0]
	size := int64(len(rec.Value))
	if !u.admit(size, maxBytes) {
		// flag first, then look again: a release in between either sees
		// the flag or freed the bytes this second look finds
		u.blocked.Store(true)
		if !u.admit(size, maxBytes) {
			return nil
		}
	}
	p.pending[0] = nil
	p.pending = p.pending[1:]
	p.led.add(rec.Offset, rec.LeaderEpoch, size)
	u.records.Add(1)
	return rec
}

// begin starts an attempt at handing on the record at offset and returns
// the generation its token must carry; false when the record left the
// ledger (rewound, or the partition closed).
func (p *partition) begin(offset int64, u *usage) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.led.find(offset)
	if p.closed || e == nil || e.done {
		return 0, false
	}
	u.live.add(1)
	return p.led.begin(e), true
}

// supersede ends attempt gen without completing the record: the next
// consumer refused it, so whatever its token reports later is void.
func (p *partition) supersede(offset int64, gen uint64, u *usage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.led.find(offset); e != nil && e.gen == gen {
		e.gen = 0
		u.live.add(-1)
	}
}

// skip completes a record that will never be usable.
func (p *partition) skip(offset int64, u *usage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.led.find(offset)
	if e == nil || e.done {
		return
	}
	if e.gen != 0 {
		u.live.add(-1)
	}
	u.records.Add(-1)
	u.bytes.Add(-e.size)
	p.led.markDone(e)
}

// settled is what a done callback changed.
type settled struct {
	rewound int  // records that will be fetched again
	freed   bool // bytes were released
	signal  bool // the worker has pending records and room for them
	wake    bool // the poll loop has a rewind to apply or a partition to resume
}

// settle applies the done callback of attempt gen at offset. A failure
// rewinds the partition to the record: it and every later one are
// fetched again (at-least-once; the later ones are duplicates).
func (p *partition) settle(offset int64, gen uint64, failed bool, maxRecords int, u *usage) settled {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s settled
	e := p.led.find(offset)
	if p.closed || e == nil || e.gen != gen {
		return s // a superseded attempt, or rewound or closed meanwhile
	}
	s.freed = true
	if !failed {
		u.records.Add(-1)
		u.bytes.Add(-e.size)
		u.live.add(-1)
		p.led.markDone(e)
	} else {
		to := kgo.EpochOffset{Epoch: e.epoch, Offset: offset}
		r := p.led.truncate(offset)
		u.release(r)
		s.rewound, s.wake = r.records, true
		p.pending, p.next, p.rewindTo = nil, offset, &to
	}
	room := p.led.len() < maxRecords
	s.signal = room && len(p.pending) > 0
	s.wake = s.wake || (room && p.paused && len(p.pending) == 0)
	return s
}

// wantsResume reports whether the poll loop should resume fetching.
func (p *partition) wantsResume(maxRecords int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed && p.paused && len(p.pending) == 0 && p.led.len() < maxRecords
}

// plan hands the poll loop a pending rewind and whether to pause or resume
// fetching: paused while records wait for room or the ledger is full.
func (p *partition) plan(maxRecords int) (rewind *kgo.EpochOffset, pause, resume bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, false, false
	}
	rewind, p.rewindTo = p.rewindTo, nil
	want := len(p.pending) > 0 || p.led.len() >= maxRecords
	if want != p.paused {
		p.paused = want
		pause, resume = want, !want
	}
	return rewind, pause, resume
}

// commitPoint is the watermark when it passed the last commit.
func (p *partition) commitPoint() (kgo.EpochOffset, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wm := p.led.watermark()
	return wm, !p.closed && wm.Offset > p.committed
}

func (p *partition) committedTo(offset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.committed = max(p.committed, offset)
}

// close drops the partition's state; callbacks of its tokens are void from
// now on. It returns the watermark when it passed the last commit.
func (p *partition) close(u *usage) (kgo.EpochOffset, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return kgo.EpochOffset{}, false
	}
	wm := p.led.watermark()
	p.closed, p.pending = true, nil
	u.release(p.led.reset())
	return wm, wm.Offset > p.committed
}

// lag is the records from the watermark to the partition's end.
func (p *partition) lag() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wm := p.led.watermark()
	if p.closed || p.highWater < 0 || wm.Offset < 0 {
		return 0, false
	}
	return max(p.highWater-wm.Offset, 0), true
}
