package rootcause

import (
	"math"
	"slices"
)

// ring holds a feature's values of the last windows for one node; its z is
// robust: (x - median) / (1.4826 MAD), the MAD floored so a flat history
// does not turn noise into huge scores. Medians are recomputed per closed
// window from at most baseline/window values: cheaper than keeping sorted
// state for every node, and exact.
type ring struct {
	vals []float64
	next int
	n    int
}

func newRing(size int) ring { return ring{vals: make([]float64, size)} }

func (r *ring) add(x float64) {
	r.vals[r.next] = x
	r.next = (r.next + 1) % len(r.vals)
	r.n = min(r.n+1, len(r.vals))
}

// minHistory is the number of windows a baseline needs before it scores.
const minHistory = 3

// stats returns the median and the floored robust spread; ok is false
// until the ring holds minHistory values. scratch avoids an allocation per call.
func (r *ring) stats(floor float64, scratch *[]float64) (med, spread float64, ok bool) {
	if r.n < minHistory {
		return 0, 0, false
	}
	*scratch = append((*scratch)[:0], r.vals[:r.n]...)
	v := *scratch
	slices.Sort(v)
	med = v[len(v)/2]
	for i := range v {
		v[i] = math.Abs(v[i] - med)
	}
	slices.Sort(v)
	return med, math.Max(1.4826*v[len(v)/2], floor), true
}

// z scores x against the ring (0, false without enough history).
func (r *ring) z(x, floor float64, scratch *[]float64) (float64, bool) {
	med, spread, ok := r.stats(floor, scratch)
	if !ok {
		return 0, false
	}
	return (x - med) / spread, true
}

// hold keeps an anomalous series out of its baseline, so that a fault still
// stands out in its later windows instead of becoming the expectation
// within a few: at most a baseline of windows (a change that lasts longer
// is the new normal), re-armed only after a baseline of normal windows (the
// end of a change the baseline took in is no news either).
type hold struct {
	held   int // windows kept out since the series was last normal for a baseline
	normal int // consecutive windows without an anomaly
}

// keep records a window and reports whether to keep it out of the baseline.
func (h *hold) keep(anomalous bool, baselineWindows int) bool {
	if anomalous {
		h.normal = 0
	} else if h.normal++; h.normal >= baselineWindows {
		h.held = 0
	}
	if anomalous && h.held < baselineWindows {
		h.held++
		return true
	}
	return false
}
