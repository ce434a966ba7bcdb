package rootcause

import (
	"bytes"
	"cmp"
	"math"
	"slices"
)

// Statement sequences: an exception or an early return in a code region
// ends a request between two statements that follow each other, A then B
// in one span: A is still logged, B is not. Each service's pairs (B logged
// right after A) are counted per window and learned as a share of A's
// records; A records followed by B less often than that share point at the
// code region that broke, on however few requests: a branch that logs A
// then B on a share of the requests that follows the request data blurs
// the per-request rate of B (scoreTemplates), not the pair. The pair's
// count gets the same learned spread as a template's (loops: A, A, B).

// seqKey is a statement pair of a service: b logged right after a in one
// span; b == seqHead counts a's records (the pair's denominator).
type seqKey struct {
	service int32
	a, b    uint64
}

// seqHead marks a seqKey that counts its statement's records. Template ids
// of zero have the severity class sevOther and hash 0: not a real template
// in practice.
const seqHead uint64 = 0

// countSequences counts the pairs of a window's records with a span id:
// grouped by span, in time order. recs is sorted in place.
func (e *Engine) countSequences(w *window, recs []spanLog) {
	slices.SortStableFunc(recs, func(x, y spanLog) int {
		if c := bytes.Compare(x.span.trace[:], y.span.trace[:]); c != 0 {
			return c
		}
		if c := bytes.Compare(x.span.span[:], y.span.span[:]); c != 0 {
			return c
		}
		return cmp.Compare(x.ts, y.ts)
	})
	for i, l := range recs {
		countIn(w, w.seq, seqKey{l.key.service, l.key.tmpl, seqHead}, l.key.service, e.cfg.MaxLogTemplates, &e.stats.DroppedTemplates)
		if i+1 < len(recs) && recs[i+1].span == l.span && recs[i+1].key.service == l.key.service {
			countIn(w, w.seq, seqKey{l.key.service, l.key.tmpl, recs[i+1].key.tmpl}, l.key.service, e.cfg.MaxLogTemplates, &e.stats.DroppedTemplates)
		}
	}
}

// scoreSequences raises each node's FeatLogMissing to its most broken
// pair's z: (expected - observed) / sqrt(expected * spread + 1), the
// expected count the pair's share (one pseudo-record more in its
// denominator, as tmplRate) of A's records in the window.
func (e *Engine) scoreSequences(g *Graph, w *window, index map[int32]int, ls *logScores) {
	for k, st := range e.seqBase {
		if k.b == seqHead || w.partial[k.service] {
			continue
		}
		ni, ok := index[k.service]
		ex := e.logExp[k.service]
		head := e.seqBase[seqKey{k.service, k.a, seqHead}]
		if !ok || ex == nil || ex.windows < minHistory || head == nil {
			continue
		}
		share := math.Min(e.decayed(st.count, ex.windows-st.at)/(e.decayed(head.count, ex.windows-head.at)+1), 1)
		want, obs := share*float64(w.seq[seqKey{k.service, k.a, seqHead}]), float64(w.seq[k])
		e.scoreMissing(ls, &g.Nodes[ni], ex, st, k.service, share, want, obs)
	}
}

// foldSequences adds a window's pairs not folded with their residual (see
// foldTemplates, which decides the hold) to the baseline.
func (e *Engine) foldSequences(w *window) {
	for k, obs := range w.seq {
		if !w.partial[k.service] {
			foldCount(e, e.seqBase, k, e.logExp[k.service], obs, e.cfg.MaxLogTemplates, &e.stats.DroppedTemplates)
		}
	}
}
