package main

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
)

// masking is -mask: each case is replayed with n random non-root services
// hidden entirely (no spans, log lines or pod samples of theirs, in the
// case and in the history before it), once per seed. The dataset's spans
// carry no kind or attributes, so first every exit span (a span whose
// child is in another service) gets its callee's service as Peer, which
// the replay sends as a CLIENT span with server.address, as OTel HTTP
// client instrumentation would: the hidden services' callers keep their
// CLIENT spans, and those name the service they called.
type masking struct {
	n     int
	seeds []uint64
	// culprit: the faulty service is one of the n (when it is not a root
	// service), so that every case tests a hidden culprit.
	culprit bool
}

// on reports whether services are hidden.
func (m masking) on() bool { return m.n > 0 }

// maskSeeds are the seeds -mask-seed s and -mask-repeats r stand for:
// s, s+1, ..., s+r-1.
func maskSeeds(first uint64, repeats int) []uint64 {
	out := make([]uint64, max(repeats, 1))
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

// spanKey is a span of the dataset.
type spanKey struct{ trace, span string }

// hide returns the case and its history with the services chosen by seed
// hidden and the exit spans left annotated with their Peer, and the hidden
// services (sorted). c and history are left as they are.
func (m masking) hide(c nezha.Case, history []nezha.Event, seed uint64) (nezha.Case, []nezha.Event, []string) {
	peers, services, roots := callees(history, c.Events)
	var candidates []string
	for _, s := range services {
		if !roots[s] {
			candidates = append(candidates, s)
		}
	}
	h := fnv.New64a()
	h.Write([]byte(c.Fault.InjectTime.String() + c.Fault.Service))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	if i := slices.Index(candidates, c.Fault.Service); m.culprit && i > 0 {
		candidates[0], candidates[i] = candidates[i], candidates[0]
	}
	hidden := slices.Clone(candidates[:min(m.n, len(candidates))])
	slices.Sort(hidden)
	keep := func(evs []nezha.Event) []nezha.Event {
		out := make([]nezha.Event, 0, len(evs))
		for _, e := range evs {
			switch {
			case e.Span != nil:
				if slices.Contains(hidden, e.Span.Service()) {
					continue
				}
				if p, ok := peers[spanKey{e.Span.TraceID, e.Span.SpanID}]; ok {
					s := *e.Span
					s.Peer = p
					e.Span = &s
				}
			case e.Log != nil:
				if slices.Contains(hidden, nezha.ServiceOf(e.Log.Pod)) {
					continue
				}
			case e.Metric != nil:
				if slices.Contains(hidden, nezha.ServiceOf(e.Metric.Pod)) {
					continue
				}
			}
			out = append(out, e)
		}
		return out
	}
	mc := c
	mc.Events = keep(c.Events)
	return mc, keep(history), hidden
}

// callees reads the spans of the event lists: the service each exit span
// calls (its child's, in another service), every service (sorted) and the
// root services (those with a span that has no parent).
func callees(lists ...[]nezha.Event) (peers map[spanKey]string, services []string, roots map[string]bool) {
	svc := map[spanKey]string{}
	roots = map[string]bool{}
	seen := map[string]bool{}
	for _, evs := range lists {
		for _, e := range evs {
			if s := e.Span; s != nil {
				name := s.Service()
				svc[spanKey{s.TraceID, s.SpanID}] = name
				if !seen[name] {
					seen[name] = true
					services = append(services, name)
				}
				if s.ParentID == "root" || s.ParentID == "" {
					roots[name] = true
				}
			}
		}
	}
	peers = map[spanKey]string{}
	for _, evs := range lists {
		for _, e := range evs {
			if s := e.Span; s != nil {
				p := spanKey{s.TraceID, s.ParentID}
				if caller, ok := svc[p]; ok && caller != s.Service() {
					peers[p] = s.Service()
				}
			}
		}
	}
	slices.Sort(services)
	return peers, services, roots
}
