package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
)

// Pods of the synthetic shop: gateway (the root) -> a -> b, and a -> c.
const (
	podGateway = "ts-gateway-service-6f6cfc45b-h5m2n"
	podA       = "ts-a-service-5dc8d4f9fd-46997"
	podB       = "ts-b-service-7f4f5f6f77-5qb6j"
	podC       = "ts-c-service-86f5f97bc9-dkqmf"
)

// shopEvents are traces of the synthetic shop in [from, to), one every
// 500 ms, SkyWalking-style as in the dataset (no kinds, an exit span per
// call whose child is the callee's entry span), with b's own time bMs,
// and a log line and a pod sample of each service per trace.
func shopEvents(rng *rand.Rand, from, to time.Time, bMs func(time.Time) float64) []nezha.Event {
	var evs []nezha.Event
	id := func() string { return fmt.Sprintf("%016x", rng.Uint64()|1) }
	for at := from; at.Before(to); at = at.Add(500 * time.Millisecond) {
		trace := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
		jit := func(ms float64) int64 { return int64(ms * (0.8 + 0.4*rng.Float64()) * 1e6) }
		b, c := jit(bMs(at)), jit(8)
		a := jit(10) + b + c + 2e6
		gw := jit(5) + a + 1e6
		start := at.UnixNano()
		span := func(pod, op, parent string, s, d int64) string {
			sid := id()
			evs = append(evs, nezha.Event{At: s + d, Span: &nezha.Span{TraceID: trace, SpanID: sid, ParentID: parent, Pod: pod, Operation: op, StartNano: s, EndNano: s + d, DurationMicros: d / 1000}})
			return sid
		}
		root := span(podGateway, "/*", "root", start, gw)
		gwExit := span(podGateway, "HTTP POST", root, start+1e6, a+1e6)
		aEntry := span(podA, "/api/a", gwExit, start+15e5, a)
		aExitB := span(podA, "HTTP POST", aEntry, start+2e6, b+1e6)
		bEntry := span(podB, "/api/b", aExitB, start+25e5, b)
		aExitC := span(podA, "HTTP GET", aEntry, start+4e6+b, c+1e6)
		span(podC, "/api/c", aExitC, start+45e5+b, c)
		for _, pod := range []string{podGateway, podA, podB, podC} {
			evs = append(evs, nezha.Event{At: start + 1, Log: &nezha.LogLine{TimeNano: start + 1, Pod: pod, Service: nezha.ServiceOf(pod), Level: "INFO", Message: "served"}},
				nezha.Event{At: start + 2, Metric: &nezha.Sample{Pod: pod, CPU: 0.1, Mem: 0.2}})
		}
		_ = bEntry
	}
	slices.SortStableFunc(evs, func(x, y nezha.Event) int { return int(x.At - y.At) })
	return evs
}

// TestMaskHide: the hidden services lose their spans, log lines and pod
// samples, in the case and in the history; every exit span left names its
// callee as Peer; roots are never hidden; the choice follows the seed; the
// events passed in are left as they were.
func TestMaskHide(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inject := time.Date(2023, 1, 29, 10, 0, 0, 0, time.UTC)
	history := shopEvents(rng, inject.Add(-10*time.Minute), inject.Add(-9*time.Minute), func(time.Time) float64 { return 20 })
	c := nezha.Case{Fault: nezha.Fault{InjectTime: inject, Service: "ts-b-service", Type: "cpu_contention"},
		Events: shopEvents(rng, inject.Add(-90*time.Second), inject.Add(3*time.Minute), func(time.Time) float64 { return 20 })}
	before := len(c.Events)

	tests := []struct {
		name string
		m    masking
		want []string
	}{
		{"culprit", masking{n: 1, culprit: true}, []string{"ts-b-service"}},
		{"all but the root", masking{n: 10}, []string{"ts-a-service", "ts-b-service", "ts-c-service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc, mh, hidden := tt.m.hide(c, history, 1)
			assert.Equal(t, tt.want, hidden)
			for _, evs := range [][]nezha.Event{mc.Events, mh} {
				for _, e := range evs {
					switch {
					case e.Span != nil:
						assert.NotContains(t, hidden, e.Span.Service())
						exit := e.Span.Operation == "HTTP POST" || e.Span.Operation == "HTTP GET"
						assert.Equal(t, exit, e.Span.Peer != "", "%+v", e.Span)
					case e.Log != nil:
						assert.NotContains(t, hidden, e.Log.Service)
					case e.Metric != nil:
						assert.NotContains(t, hidden, nezha.ServiceOf(e.Metric.Pod))
					}
				}
			}
		})
	}

	mc, _, _ := masking{n: 1, culprit: true}.hide(c, history, 1)
	peers := map[string]string{}
	for _, e := range mc.Events {
		if s := e.Span; s != nil && s.Peer != "" {
			peers[s.Service()+" "+s.Operation] = s.Peer
		}
	}
	assert.Equal(t, map[string]string{"ts-gateway-service HTTP POST": "ts-a-service", "ts-a-service HTTP POST": "ts-b-service", "ts-a-service HTTP GET": "ts-c-service"}, peers)

	m := masking{n: 1}
	seen := map[string]bool{}
	for seed := range uint64(20) {
		_, _, h1 := m.hide(c, history, seed)
		_, _, h2 := m.hide(c, history, seed)
		assert.Equal(t, h1, h2, "the same seed hides the same service")
		seen[h1[0]] = true
	}
	assert.Equal(t, map[string]bool{"ts-a-service": true, "ts-b-service": true, "ts-c-service": true}, seen, "any non-root service, never the gateway")

	assert.Len(t, c.Events, before)
	for _, e := range c.Events {
		if e.Span != nil {
			assert.Empty(t, e.Span.Peer, "the events passed in keep no Peer")
		}
	}
}

// TestRunCaseMask replays a case through the connector with -mask: b, the
// culprit, slows down; hidden, it is found only as a blind spot named by
// a's calls, and the pass's hidden services are recorded.
func TestRunCaseMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	inject := time.Date(2023, 1, 29, 10, 0, 0, 0, time.UTC)
	bMs := func(at time.Time) float64 {
		if !at.Before(inject) {
			return 400
		}
		return 20
	}
	history := shopEvents(rng, inject.Add(-20*time.Minute), inject.Add(-17*time.Minute), bMs)
	c := nezha.Case{Fault: nezha.Fault{InjectTime: inject, Service: "ts-b-service", Type: "cpu_contention"},
		Events: shopEvents(rng, inject.Add(-90*time.Second), inject.Add(3*time.Minute), bMs)}
	s := settings{method: "latency", delay: 60 * time.Second, window: 30 * time.Second, baseline: 3 * time.Minute}

	plain, err := runCase(c, history, s)
	require.NoError(t, err)
	assert.Equal(t, 1, plain.Rank)
	assert.Equal(t, "ts-b-service", plain.Top[0])
	assert.False(t, plain.CulpritHidden)

	s.mask = masking{n: 1, seeds: maskSeeds(1, 2), culprit: true}
	passes := s.passes()
	require.Len(t, passes, 2)
	assert.Equal(t, []uint64{1, 2}, []uint64{passes[0].maskSeed, passes[1].maskSeed})
	masked, err := runCase(c, history, passes[0])
	require.NoError(t, err)
	assert.Equal(t, []string{"ts-b-service"}, masked.Hidden)
	assert.True(t, masked.CulpritHidden)
	assert.Equal(t, 1, masked.Rank)
	assert.Equal(t, "ts-b-service(blind)", masked.Top[0], "not its caller, ts-a-service")

	sc := score([]caseResult{plain, masked})
	require.NotNil(t, sc.CulpritHidden)
	assert.Equal(t, 1, sc.CulpritHidden.Cases)
	assert.InDelta(t, 1.0, sc.CulpritHidden.AC1, 1e-9)
}
