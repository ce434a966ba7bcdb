package main

import (
	"container/heap"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// pendingSpan is a generated span waiting for its end time to come up.
type pendingSpan struct {
	end  int64 // simulated end time
	seq  uint64
	node int
	f    *flow
}

// spanHeap orders pending spans by end time, as an SDK exports them: a
// span is exported once it ended, so children go out before their parents
// and a trace is spread over several requests.
type spanHeap []pendingSpan

func (h spanHeap) Len() int { return len(h) }
func (h spanHeap) Less(i, j int) bool {
	if h[i].end != h[j].end {
		return h[i].end < h[j].end
	}
	if h[i].seq != h[j].seq {
		return h[i].seq < h[j].seq
	}
	return h[i].node < h[j].node
}
func (h spanHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *spanHeap) Push(x any)   { *h = append(*h, x.(pendingSpan)) }
func (h *spanHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// batch is one export request: spans in end order and their logs.
type batch struct {
	traces    ptrace.Traces
	logs      plog.Logs
	spans     int // spans in traces
	records   int // log records in logs
	generated int // spans generated (the unit of progress, also when only logs are sent)
	flows     int // flows started while it was filled
}

// emitter interleaves overlapping flows (one starts every gap of simulated
// time) and cuts the span stream into batches in end-time order.
type emitter struct {
	gen       *generator
	h         spanHeap
	gap       int64
	nextStart int64
	setLogIDs bool // logs carry their ids in the record too (as after the agent's log_correlation)
	noLogs    bool
	noSpans   bool
}

func newEmitter(gen *generator, gap time.Duration) *emitter {
	return &emitter{gen: gen, gap: max(int64(gap), 1000)}
}

// next fills a batch of size spans; now stamps it (spans end at or before now).
func (e *emitter) next(size int, now time.Time) *batch {
	picked := make([]pendingSpan, 0, size)
	flows := 0
	for len(picked) < size {
		for len(e.h) == 0 || e.h[0].end > e.nextStart {
			e.startFlow()
			flows++
		}
		picked = append(picked, heap.Pop(&e.h).(pendingSpan))
	}
	shift := now.UnixNano() - picked[len(picked)-1].end
	b := e.build(picked, shift)
	b.flows = flows
	return b
}

func (e *emitter) startFlow() {
	f := e.gen.next()
	f.simStart = e.nextStart
	for i := range f.nodes {
		heap.Push(&e.h, pendingSpan{end: e.nextStart + f.nodes[i].end, seq: f.seq, node: i, f: f})
	}
	e.nextStart += e.gap
}

// build turns picked spans into OTLP: one resource per service. A flow's
// wall-clock base is fixed by its first emitted span, so durations and the
// order inside a trace stay exact across requests.
func (e *emitter) build(picked []pendingSpan, shift int64) *batch {
	b := &batch{traces: ptrace.NewTraces(), logs: plog.NewLogs()}
	topo := e.gen.topo
	spans := make([]ptrace.SpanSlice, len(topo.services))
	recs := make([]plog.LogRecordSlice, len(topo.services))
	hasSpans := make([]bool, len(topo.services))
	hasRecs := make([]bool, len(topo.services))
	b.generated = len(picked)
	for _, p := range picked {
		f := p.f
		if !f.hasBase {
			f.base, f.hasBase = shift+f.simStart, true
		}
		svc := f.nodes[p.node].svc
		if !e.noSpans {
			if !hasSpans[svc] {
				spans[svc], hasSpans[svc] = newScopeSpans(b.traces, topo, svc, e.gen.opts.flat), true
			}
			e.fillSpan(spans[svc].AppendEmpty(), f, p.node)
			b.spans++
		}
		if e.noLogs {
			continue
		}
		for _, l := range f.logs {
			if l.node != p.node {
				continue
			}
			if !hasRecs[svc] {
				recs[svc], hasRecs[svc] = newScopeLogs(b.logs, topo, svc, e.gen.opts.flat), true
			}
			fillLog(recs[svc].AppendEmpty(), f, l, topo, e.setLogIDs)
			b.records++
		}
	}
	return b
}
