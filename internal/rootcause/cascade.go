package rootcause

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Cascade is a timeout/cancel cascade: nested deadlines where the innermost
// fires first and cancels everything above it (in Go: context.WithTimeout
// per hop). Origin is the span that failed first; Layers run from it
// outwards with each layer's observed budget (the longest timed-out span of
// that service on the chain).
type Cascade struct {
	OriginService   string  `json:"origin_service"`
	OriginOperation string  `json:"origin_operation"`
	Traces          int     `json:"traces"`
	Layers          []Layer `json:"layers"`
	Exemplar        string  `json:"exemplar_trace_id"`

	origin, originOp int32 // named by Engine.label
}

// Layer is one service's part of a cascade.
type Layer struct {
	Service   string  `json:"service"`
	Operation string  `json:"operation"`
	BudgetMs  float64 `json:"budget_ms"`

	service, op int32 // named by Engine.label
}

// isTimeout recognises Go's context errors (and gRPC's DeadlineExceeded)
// in a span's status or exception events.
func isTimeout(s ptrace.Span) bool {
	if s.Status().Code() != ptrace.StatusCodeError {
		return false
	}
	if hasTimeoutText(s.Status().Message()) {
		return true
	}
	for _, ev := range s.Events().All() {
		if v, ok := ev.Attributes().Get("exception.message"); ok && hasTimeoutText(v.Str()) {
			return true
		}
	}
	return false
}

func hasTimeoutText(msg string) bool {
	return strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "context canceled") ||
		strings.Contains(msg, "DeadlineExceeded") || strings.Contains(msg, "deadline exceeded")
}

// cascades finds, per trace, the timed-out span that ended first and the
// chain of timed-out ancestors above it; chains of two or more timed-out
// spans are cascades, grouped by origin service and operation. Their names
// come later (Engine.label).
func cascades(b *built) []Cascade {
	first := map[pcommon.TraceID]int32{}
	for i := range b.spans {
		s := &b.spans[i]
		if !s.timeout {
			continue
		}
		if f, ok := first[s.trace]; !ok || s.endNs < b.spans[f].endNs {
			first[s.trace] = int32(i)
		}
	}
	type originKey struct{ service, op int32 }
	found := map[originKey]*Cascade{}
	for _, o := range first {
		layers, timedOut := chainOf(b, o)
		if timedOut < 2 {
			continue
		}
		s := &b.spans[o]
		k := originKey{s.service, s.op}
		if c := found[k]; c != nil {
			c.Traces++
			continue
		}
		found[k] = &Cascade{Traces: 1, Layers: layers, Exemplar: s.trace.String(), origin: s.service, originOp: s.op}
	}
	out := make([]Cascade, 0, len(found))
	for _, c := range found {
		out = append(out, *c)
	}
	return out
}

// chainOf walks from span o up its ancestors and returns the layers of its
// timed-out ones (consecutive spans of one service are one layer, with the
// longest budget) and their number.
func chainOf(b *built, o int32) ([]Layer, int) {
	var layers []Layer
	timedOut := 0
	for j, d := o, 0; j >= 0 && d < maxSegmentDepth; j, d = b.parent[j], d+1 {
		s := &b.spans[j]
		if !s.timeout {
			continue
		}
		timedOut++
		if k := len(layers); k > 0 && layers[k-1].service == s.service {
			layers[k-1].BudgetMs = max(layers[k-1].BudgetMs, s.durMs())
			continue
		}
		layers = append(layers, Layer{BudgetMs: s.durMs(), service: s.service, op: s.op})
	}
	return layers, timedOut
}
