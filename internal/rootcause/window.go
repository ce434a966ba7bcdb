package rootcause

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// spanRec is what a window keeps of a span: enough to rebuild parent/child
// relations, self time, edges and timeout chains when the window closes.
type spanRec struct {
	trace          pcommon.TraceID
	span, parent   pcommon.SpanID
	service, pod   int32
	op             int32
	peer           int32 // the service its peer attributes name (peerOf), or noPeer
	startNs, endNs int64
	err, timeout   bool
	entry          bool  // SERVER, CONSUMER or INTERNAL: never an exit span
	exit           bool  // CLIENT or PRODUCER, or naming its peer: always one, even when its callee's span is in another window
	producer       bool  // PRODUCER: its consumers' gap is their queue lag
	resp           uint8 // a SERVER span's response size bucket (respBucketOf), 0: none
}

func (s *spanRec) durMs() float64 { return float64(s.endNs-s.startNs) / 1e6 }

// logRec is an ERROR-or-worse log record.
type logRec struct {
	trace        pcommon.TraceID
	span         pcommon.SpanID
	service, pod int32
}

// seriesKey is a pod's CPU or memory series.
type seriesKey struct {
	service, pod int32
	cpu          bool
}

// window collects one event-time window: [start, start+length) by span end.
type window struct {
	start   int64
	spans   []spanRec
	logs    []logRec
	metrics map[seriesKey]float64 // the highest sample per series, at most max_metric_series
	tmpl    map[tmplKey]int32     // log records per service, operation and template
	spanned []spanLog             // records with a span id, counted when the window closes
	seq     map[seqKey]int32      // statement pairs per service (logsequence.go)
	partial map[int32]bool        // services that lost log records to a full table
}

// short marks a service whose records did not all make it into the
// window's counts: its missing statements are not scored, nor its counts
// learned.
func (w *window) short(service int32) {
	if w.partial == nil {
		w.partial = map[int32]bool{}
	}
	w.partial[service] = true
}

// spanLog is a log record waiting to be counted under its span's operation.
type spanLog struct {
	key     tmplKey // op unknown yet
	span    spanKey
	ts      int64
	carried bool // from the window before, where its span had not ended
}

// segment is one service's part of one trace: a span whose parent is in
// another service (or absent) and its same-service descendants. Its self time
// excludes the time spent in calls to other services, including the network
// around them, which belongs to the edge.
type segment struct {
	root         int32 // span index of the entry span
	service, pod int32
	op           int32
	self, dur    float64 // ms
	err, timeout bool
	gap          float64 // caller-observed minus own time of the entry span; -1: unknown
}

// edgeKey is a caller -> callee service pair.
type edgeKey struct{ caller, callee int32 }

// edgeObs are one window's observations of an edge.
type edgeObs struct {
	calls, errors int
	gaps          []float64 // caller-observed minus callee-observed ms
}

// built is a closed window's structure: segments, edges and index maps.
type built struct {
	spans    []spanRec
	index    map[spanKey]int32 // span ids -> spans
	segs     []segment
	segOf    []int32 // per span
	parent   []int32 // per span: index of its parent in the window, or -1
	edges    map[edgeKey]*edgeObs
	dropped  int             // edges beyond maxEdges
	aliases  map[int32]int32 // peer names calls used for their child's service, where they differ
	blind    blindCalls      // candidate calls into blind spots (blindspot.go)
	errLogs  map[int32]int
	cpu, mem map[int32]float64 // latest per service in the window
}

type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// maxSegmentDepth bounds the walk to a segment's entry span (and breaks
// parent cycles in malformed data).
const maxSegmentDepth = 256

// build turns a window's records into segments and edges.
func (w *window) build(maxEdges int) *built {
	idx := w.dedupe()
	b := &built{spans: w.spans, index: idx, segOf: make([]int32, len(w.spans)), edges: map[edgeKey]*edgeObs{}, errLogs: map[int32]int{}, cpu: map[int32]float64{}, mem: map[int32]float64{}}
	t := linkSpans(w.spans, idx)
	b.parent = t.parent
	b.segment(t)
	for _, l := range w.logs {
		b.errLogs[l.service]++
		if i, ok := idx[spanKey{l.trace, l.span}]; ok {
			b.segs[b.segOf[i]].err = true
		}
	}
	b.addEdges(t, maxEdges)
	b.blind = b.findBlindCalls(t)
	for k, v := range w.metrics {
		if k.cpu {
			b.cpu[k.service] = max(b.cpu[k.service], v)
		} else {
			b.mem[k.service] = max(b.mem[k.service], v)
		}
	}
	return b
}

// dedupe keeps one copy of each span (Kafka and retries deliver at least
// once) and returns the index of the spans kept.
func (w *window) dedupe() map[spanKey]int32 {
	idx := make(map[spanKey]int32, len(w.spans))
	kept := w.spans[:0]
	for _, s := range w.spans {
		k := spanKey{s.trace, s.span}
		if _, dup := idx[k]; dup {
			continue
		}
		idx[k] = int32(len(kept))
		kept = append(kept, s)
	}
	w.spans = kept
	return idx
}

// tree is the parent/child structure of a window's spans, per span.
type tree struct {
	parent    []int32 // index of its parent in the window, or -1
	childNs   []int64 // summed duration of its children
	kids      []int32 // children
	crossKids []int32 // children in another service
}

func linkSpans(spans []spanRec, idx map[spanKey]int32) tree {
	n := len(spans)
	t := tree{parent: make([]int32, n), childNs: make([]int64, n), kids: make([]int32, n), crossKids: make([]int32, n)}
	for i := range spans {
		s := &spans[i]
		t.parent[i] = -1
		if s.parent.IsEmpty() {
			continue
		}
		p, ok := idx[spanKey{s.trace, s.parent}]
		if !ok || int(p) == i {
			continue
		}
		t.parent[i] = p
		t.childNs[p] += s.endNs - s.startNs
		t.kids[p]++
		if spans[p].service != s.service {
			t.crossKids[p]++
		}
	}
	return t
}

// segment groups the spans into segments: each span walks up while its
// parent is in the same service, to its segment's entry span.
func (b *built) segment(t tree) {
	rootIdx := make(map[int32]int32)
	for i := range b.spans {
		j := int32(i)
		for d := 0; d < maxSegmentDepth; d++ {
			p := t.parent[j]
			if p < 0 || b.spans[p].service != b.spans[j].service {
				break
			}
			j = p
		}
		si, ok := rootIdx[j]
		if !ok {
			r := &b.spans[j]
			si = int32(len(b.segs))
			rootIdx[j] = si
			b.segs = append(b.segs, segment{root: j, service: r.service, pod: r.pod, op: r.op, dur: r.durMs(), gap: -1})
		}
		b.segOf[i] = si
		seg := &b.segs[si]
		s := &b.spans[i]
		// an exit span's own time (its duration minus the callee's) is the
		// edge's: network and queueing, not this service's work. Without span
		// kinds (SkyWalking-style data) a span whose only child is in another
		// service is taken for one; CLIENT/PRODUCER spans always are, spans of
		// other kinds never (a goroutine's span in another service under an
		// INTERNAL span is not a call).
		if !s.exit && (t.crossKids[i] == 0 || s.entry || t.kids[i] != t.crossKids[i]) {
			seg.self += max(float64(s.endNs-s.startNs-t.childNs[i])/1e6, 0)
		}
		seg.err = seg.err || s.err
		seg.timeout = seg.timeout || s.timeout
	}
}

// addEdges counts each call into another service on its caller -> callee
// edge (beyond maxEdges edges: dropped), with the call's gap when the
// caller's span has that one child and is not an entry span. A message's
// gap is its queue lag, from the producer's end (the broker's
// acknowledgement) to its consumer's start: a delay into a consumer holds
// up the messages it reads, not the producer, which waits for the ack
// only.
func (b *built) addEdges(t tree, maxEdges int) {
	for i := range b.spans {
		p := t.parent[i]
		s := &b.spans[i]
		if p < 0 || b.spans[p].service == s.service {
			continue
		}
		if peer := b.spans[p].peer; peer != noPeer && peer != s.service {
			if b.aliases == nil {
				b.aliases = map[int32]int32{}
			}
			b.aliases[peer] = s.service
		}
		e := b.edge(edgeKey{caller: b.spans[p].service, callee: s.service}, maxEdges)
		if e == nil {
			continue
		}
		e.calls++
		if b.segs[b.segOf[i]].err {
			e.errors++
		}
		var gap float64
		switch {
		case b.spans[p].producer:
			gap = float64(s.startNs-b.spans[p].endNs) / 1e6
		case t.crossKids[p] == 1 && t.kids[p] == 1 && !b.spans[p].entry:
			gap = b.spans[p].durMs() - s.durMs()
		default:
			continue
		}
		gap = max(gap, 0)
		e.gaps = append(e.gaps, gap)
		b.segs[b.segOf[i]].gap = gap
	}
}

// edge returns k's observations, created while the window has fewer than
// maxEdges edges (nil beyond: counted in dropped).
func (b *built) edge(k edgeKey, maxEdges int) *edgeObs {
	e := b.edges[k]
	if e == nil {
		if len(b.edges) >= maxEdges {
			b.dropped++
			return nil
		}
		e = &edgeObs{}
		b.edges[k] = e
	}
	return e
}

// quantile sorts v in place and returns its q-quantile (nearest rank), 0 for none.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[int(q*float64(len(v)-1))]
}
