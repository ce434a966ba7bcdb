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
// code region that broke, on however few requests and whatever the request
// mix (a loop that logs A a varying number of times per request blurs the
// per-request rates of scoreTemplates, not the pair).

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
		e.countSeq(w, seqKey{l.key.service, l.key.tmpl, seqHead})
		if i+1 < len(recs) && recs[i+1].span == l.span && recs[i+1].key.service == l.key.service {
			e.countSeq(w, seqKey{l.key.service, l.key.tmpl, recs[i+1].key.tmpl})
		}
	}
}

func (e *Engine) countSeq(w *window, k seqKey) {
	if _, ok := w.seq[k]; !ok && len(w.seq) >= e.cfg.MaxLogTemplates {
		e.stats.DroppedTemplates++
		return
	}
	w.seq[k]++
}

// scoreSequences raises each node's FeatLogMissing to its most broken
// pair's z: (expected - observed) / sqrt(variance + 1), the pair binomial
// in A's records (see scoreTemplates).
func (e *Engine) scoreSequences(g *Graph, w *window, index map[int32]int) {
	for k, st := range e.seqBase {
		if k.b == seqHead {
			continue
		}
		ni, ok := index[k.service]
		ex := e.logExp[k.service]
		head := e.seqBase[seqKey{k.service, k.a, seqHead}]
		if !ok || ex == nil || ex.windows < minHistory || head == nil {
			continue
		}
		heads := e.decayed(head.count, ex.windows-head.at)
		if heads <= 0 {
			continue
		}
		share := math.Min(e.decayed(st.count, ex.windows-st.at)/heads, 1)
		want, obs := share*float64(w.seq[seqKey{k.service, k.a, seqHead}]), float64(w.seq[k])
		spread := want * math.Max(1-share, minSpread)
		if z := (want - obs) / math.Sqrt(spread+1); z > g.Nodes[ni].X[FeatLogMissing] {
			n := &g.Nodes[ni]
			n.X[FeatLogMissing], n.Raw[FeatLogMissing] = z, want-obs
		}
	}
}

// foldSequences adds a window's pairs to the baseline of services not held
// (see foldTemplates, which decides the hold).
func (e *Engine) foldSequences(w *window) {
	for k, obs := range w.seq {
		ex := e.logExp[k.service]
		if ex == nil || ex.holding {
			continue
		}
		st := e.seqBase[k]
		if st == nil {
			if len(e.seqBase) >= e.cfg.MaxLogTemplates {
				e.stats.DroppedTemplates++
				continue
			}
			st = &tmplState{}
			e.seqBase[k] = st
		}
		st.count = e.decayed(st.count, ex.windows-st.at) + float64(obs)
		st.at = ex.windows
	}
}
