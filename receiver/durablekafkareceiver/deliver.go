package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/otelcol-biz/otelcol-biz/internal/ack"
)

// work hands a partition's records on in offset order, one at a time,
// while the partition has room; it returns when the partition closes.
func (r *durableReceiver) work(p *partition) {
	defer close(p.exited)
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.work:
		}
		for p.ctx.Err() == nil {
			rec := p.take(r.cfg.MaxInflightRecords, r.cfg.MaxInflightBytes, &r.use)
			if rec == nil {
				break
			}
			r.deliver(p, rec)
		}
		if p.wantsResume(r.cfg.MaxInflightRecords) {
			r.wake()
		}
	}
}

// deliver hands one record on: retryable refusals are retried with
// error_backoff while the partition waits; a record that can never be
// handed on is skipped and counted.
func (r *durableReceiver) deliver(p *partition, rec *kgo.Record) {
	if err := checkDepth(rec.Value, r.cfg.MaxDepth); err != nil {
		r.skip(p, rec, outcomeInvalid, err)
		return
	}
	bo := newBackOff(r.cfg.ErrorBackOff)
	for {
		gen, ok := p.begin(rec.Offset, &r.use)
		if !ok {
			return // rewound or closed meanwhile
		}
		err := r.attempt(p, rec.Offset, gen, rec.Value)
		switch {
		case err == nil:
			r.tel.records(outcomeAccepted, 1)
			return
		case isInvalid(err):
			r.skip(p, rec, outcomeInvalid, err)
			return
		case consumererror.IsPermanent(err):
			r.skip(p, rec, outcomeRefused, err)
			return
		}
		delay, ok := bo.next()
		if !ok {
			r.skip(p, rec, outcomeRefused, fmt.Errorf("error_backoff gave up: %w", err))
			return
		}
		if !sleep(p.ctx, delay) {
			return // closing: the record stays below the watermark
		}
	}
}

// attempt hands the record on with a fresh token. When the next consumer
// refuses it, the attempt is superseded before the token is released, so
// a stage that kept part of it cannot complete (or fail) the record.
func (r *durableReceiver) attempt(p *partition, offset int64, gen uint64, value []byte) error {
	tok := ack.New(func(failed bool) { r.settle(p, offset, gen, failed) })
	err := r.handler.handle(ack.NewContext(p.ctx, tok), value)
	if err != nil {
		p.supersede(offset, gen, &r.use)
	}
	tok.Release(nil)
	return err
}

// settle is the done callback of a token; it runs on whichever goroutine
// released the last reference.
func (r *durableReceiver) settle(p *partition, offset int64, gen uint64, failed bool) {
	s := p.settle(offset, gen, failed, r.cfg.MaxInflightRecords, &r.use)
	if s.rewound > 0 {
		r.tel.records(outcomeRedelivered, s.rewound)
	}
	if s.signal {
		p.signal()
	}
	if s.wake {
		r.wake()
	}
	if s.freed {
		r.releaseBlocked()
	}
}

func (r *durableReceiver) skip(p *partition, rec *kgo.Record, o outcome, err error) {
	p.skip(rec.Offset, &r.use)
	r.releaseBlocked()
	r.tel.records(o, 1)
	log := r.refusedLog
	if o == outcomeInvalid {
		log = r.invalidLog
	}
	log.warn(zap.Int32("partition", rec.Partition), zap.Int64("offset", rec.Offset), zap.Error(err))
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
