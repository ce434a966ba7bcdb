package rootcause

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// tier is one service of an OTel-instrumented call chain (kindTraffic).
type tier struct {
	hop
	hidden bool // its spans never arrive; its callees' still do
	// peerKey and peerName are the attribute its caller's CLIENT span
	// names it by (default server.address = its service name)
	peerKey, peerName string
	lost              float64 // share of its SERVER spans lost on the way
	kindless          bool    // its spans carry no kind (SkyWalking-style)
}

// kindTraffic builds n traces over [at, at+spread) through the chain, as
// OTel HTTP instrumentation sends them: a SERVER span per service and a
// CLIENT span per call naming its peer, whose child is the callee's SERVER
// span. A failed call fails the callee's SERVER span and the caller's
// CLIENT span (an HTTP 5xx). Hidden tiers send nothing.
func kindTraffic(rng *rand.Rand, at time.Time, spread time.Duration, n int, chain []tier) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := map[string]ptrace.SpanSlice{}
	for _, h := range chain {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", h.service)
		ss[h.service] = rs.ScopeSpans().AppendEmpty().Spans()
	}
	for i := range n {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
		self := make([]time.Duration, len(chain))
		gap := make([]time.Duration, len(chain))
		failed := make([]bool, len(chain))
		for k, h := range chain {
			self[k] = time.Duration(h.selfMs * (0.8 + 0.4*rng.Float64()) * float64(time.Millisecond))
			gap[k] = time.Duration((h.gapMs + 0.2*rng.Float64()) * float64(time.Millisecond))
			failed[k] = rng.Float64() < h.errRate
		}
		dur := make([]time.Duration, len(chain))
		for k := len(chain) - 1; k >= 0; k-- {
			dur[k] = self[k]
			if k+1 < len(chain) {
				dur[k] += dur[k+1] + gap[k+1]
			}
		}
		end := at.Add(time.Duration(float64(spread) * float64(i) / float64(n)))
		start := end.Add(-dur[0])
		var parent pcommon.SpanID
		for k, h := range chain {
			entryID := spanID(rng)
			if !h.hidden && rng.Float64() >= h.lost {
				entry := ss[h.service].AppendEmpty()
				entry.SetTraceID(tid)
				entry.SetSpanID(entryID)
				entry.SetParentSpanID(parent)
				entry.SetName("GET /" + h.service)
				if !h.kindless {
					entry.SetKind(ptrace.SpanKindServer)
				}
				entry.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
				entry.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur[k])))
				if failed[k] {
					entry.Status().SetCode(ptrace.StatusCodeError)
				}
			}
			if k+1 == len(chain) {
				break
			}
			next := chain[k+1]
			exitID := spanID(rng)
			exitStart := start.Add(self[k] / 2)
			if !h.hidden {
				exit := ss[h.service].AppendEmpty()
				exit.SetTraceID(tid)
				exit.SetSpanID(exitID)
				exit.SetParentSpanID(entryID)
				exit.SetName("GET")
				if !h.kindless {
					exit.SetKind(ptrace.SpanKindClient)
				}
				key, name := next.peerKey, next.peerName
				if key == "" {
					key = "server.address"
				}
				if name == "" {
					name = next.service
				}
				exit.Attributes().PutStr("http.request.method", "GET")
				exit.Attributes().PutStr(key, name)
				exit.SetStartTimestamp(pcommon.NewTimestampFromTime(exitStart))
				exit.SetEndTimestamp(pcommon.NewTimestampFromTime(exitStart.Add(dur[k+1] + gap[k+1])))
				if failed[k+1] {
					exit.Status().SetCode(ptrace.StatusCodeError)
				}
			}
			start = exitStart.Add(gap[k+1] / 2)
			parent = exitID
		}
	}
	return td
}

// tieredShop is gateway -> order -> inventory -> payment with OTel span
// kinds and peer attributes.
func tieredShop() []tier {
	out := make([]tier, 0, 4)
	for _, h := range shop() {
		out = append(out, tier{hop: h})
	}
	return out
}

// replayTiers feeds windows of kindTraffic (150 calls a window, from
// chainOf(w)) and returns the results.
func replayTiers(e *Engine, windows int, chainOf func(w int) []tier) []Result {
	rng := rand.New(rand.NewPCG(5, 8))
	var out []Result
	for w := range windows {
		e.AddTraces(kindTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 28*time.Second, 150, chainOf(w)))
		out = append(out, e.Advance(false)...)
	}
	return append(out, e.Advance(true)...)
}

// faultWindow is the first window of a fault in the blind spot tests.
const faultWindow = 12

// TestBlindSpotRanksHiddenPeer: inventory sends no spans at all; order's
// CLIENT spans towards it remain, without a child. When inventory turns
// slow or fails, the report names it (by whichever peer attribute order's
// spans carry) as a blind spot called by order, and neither order - whose
// calls wait on it - nor payment, inventory's visible callee, is blamed.
func TestBlindSpotRanksHiddenPeer(t *testing.T) {
	tests := []struct {
		name              string
		peerKey, peerName string
		want              string
		fault             func(h *tier)
		pattern           string
		kindless          bool
	}{
		{name: "peer.service", peerKey: "peer.service", peerName: "inventory", want: "inventory", fault: func(h *tier) { h.selfMs *= 15 }, pattern: PatternLatency},
		{name: "server.address", want: "inventory", fault: func(h *tier) { h.selfMs *= 15 }, pattern: PatternLatency},
		{name: "server.address with port", peerName: "inventory:8080", want: "inventory", fault: func(h *tier) { h.selfMs *= 15 }, pattern: PatternLatency},
		{name: "kubernetes service name", peerName: "inventory.shop.svc.cluster.local", want: "inventory", fault: func(h *tier) { h.selfMs *= 15 }, pattern: PatternLatency},
		{name: "net.peer.name", peerKey: "net.peer.name", peerName: "inventory-db", want: "inventory-db", fault: func(h *tier) { h.selfMs *= 15 }, pattern: PatternLatency},
		{name: "failing calls", want: "inventory", fault: func(h *tier) { h.errRate = 0.3 }, pattern: PatternError},
		{name: "no span kinds", want: "inventory", fault: func(h *tier) { h.selfMs *= 15 }, pattern: PatternLatency, kindless: true},
	}
	for _, tt := range tests {
		for _, m := range []Method{mustEmbedded(t), LatencyZ{}, PageRank{}} {
			t.Run(tt.name+"/"+m.Name(), func(t *testing.T) {
				t.Parallel()
				if tt.name == "failing calls" && m.Name() == "latency" {
					t.Skip("latency ranks by latency alone")
				}
				e := newTestEngine(t, m)
				rs := replayTiers(e, faultWindow+3, func(w int) []tier {
					chain := tieredShop()
					for k := range chain {
						chain[k].kindless = tt.kindless
					}
					chain[2].hidden, chain[2].peerKey, chain[2].peerName = true, tt.peerKey, tt.peerName
					if w >= faultWindow {
						tt.fault(&chain[2])
					}
					return chain
				})
				rep := firstReport(rs)
				require.NotNil(t, rep)
				top := rep.Candidates[0]
				assert.Equal(t, tt.want, top.Service)
				assert.True(t, top.BlindSpot)
				assert.Equal(t, []string{"order"}, top.Callers)
				assert.Empty(t, top.Pod)
				assert.Contains(t, top.Evidence[0], "blind spot")
				if m.Name() == "gnn" {
					assert.Equal(t, tt.pattern, rep.Pattern)
				}
				for _, c := range rep.Candidates[1:] {
					assert.False(t, c.BlindSpot, "only inventory is a blind spot: %+v", c)
				}
				for _, r := range rs {
					if r.Report == nil {
						continue
					}
					g := r.Graph
					order := g.Nodes[g.Index("order")]
					assert.Less(t, order.X[FeatSelfTime], 3.0, "order's calls into inventory are not its own time")
					assert.False(t, order.BlindSpot)
				}
			})
		}
	}
}

func mustEmbedded(t *testing.T) *Model {
	m, err := EmbeddedModel()
	require.NoError(t, err)
	return m
}

// TestBlindSpotInnocentNeighbours: faults next to a blind spot stay with
// the services that have them. Payment, inventory's visible callee, turns
// slow: its SERVER spans arrive as fragments of the traces (their parent,
// inventory's CLIENT span, never does) and their time inside order's calls
// into inventory is not inventory's; order turns slow itself: its own
// work, not the blind spot's.
func TestBlindSpotInnocentNeighbours(t *testing.T) {
	tests := []struct {
		name  string
		fault int // tier index
	}{
		{"the blind spot's callee", 3},
		{"the blind spot's caller", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEngine(t, mustEmbedded(t))
			rs := replayTiers(e, faultWindow+3, func(w int) []tier {
				chain := tieredShop()
				chain[2].hidden = true
				if w >= faultWindow {
					chain[tt.fault].selfMs *= 15
				}
				return chain
			})
			rep := firstReport(rs)
			require.NotNil(t, rep)
			assert.Equal(t, tieredShop()[tt.fault].service, rep.Candidates[0].Service)
			assert.False(t, rep.Candidates[0].BlindSpot)
			for _, r := range rs {
				if i := r.Graph.Index("inventory"); i >= 0 {
					assert.True(t, r.Graph.Nodes[i].BlindSpot)
					assert.Less(t, r.Graph.Nodes[i].X[FeatSelfTime], 3.0, "inventory's own share of its calls is steady")
				}
			}
		})
	}
}

// TestNoBlindSpotWhenSpansArrive: calls whose callee's span is missing are
// no blind spot while the callee sends spans: here a fifth of inventory's
// SERVER spans are lost, and order's CLIENT spans name it by its
// Kubernetes host name, which calls with a child teach the engine is
// another name of inventory.
func TestNoBlindSpotWhenSpansArrive(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, mustEmbedded(t))
	rs := replayTiers(e, faultWindow+3, func(w int) []tier {
		chain := tieredShop()
		chain[2].peerName, chain[2].lost = "inventory-svc.shop.svc.cluster.local:8080", 0.2
		if w >= faultWindow {
			chain[2].selfMs *= 15
		}
		return chain
	})
	rep := firstReport(rs)
	require.NotNil(t, rep)
	assert.Equal(t, "inventory", rep.Candidates[0].Service)
	for _, r := range rs {
		for _, n := range r.Graph.Nodes {
			assert.False(t, n.BlindSpot, "%s", n.Service)
			assert.NotEqual(t, "inventory-svc", n.Service)
		}
	}
}

// TestBlindSpotsBounded: peer names count in max_services (beyond, a call
// names no peer) and a blind spot's baseline goes with its name.
func TestBlindSpotsBounded(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, LatencyZ{}, func(c *Config) { c.MaxServices = 3 })
	rs := replayTiers(e, 4, func(w int) []tier {
		chain := tieredShop()
		chain[2].hidden = true
		chain[2].peerName = []string{"inv-a", "inv-b", "inv-c", "inv-d"}[w]
		return chain
	})
	for _, r := range rs {
		named := 0
		for _, n := range r.Graph.Nodes {
			if n.Service != "_other" {
				named++
			}
		}
		assert.LessOrEqual(t, named, 3)
	}
	assert.LessOrEqual(t, len(e.blind), 3)

	e = newTestEngine(t, LatencyZ{})
	replayTiers(e, 6, func(int) []tier {
		chain := tieredShop()
		chain[2].hidden = true
		return chain
	})
	require.Len(t, e.blind, 1)
	replayTiers(e, 20, func(int) []tier { return tieredShop()[:2] }) // order stops calling inventory
	assert.Empty(t, e.blind, "forgotten with its name, a baseline later")
}

func TestPeerOf(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]any
		want  string
	}{
		{"none", map[string]any{"http.request.method": "GET"}, ""},
		{"peer.service first", map[string]any{"net.peer.name": "c", "server.address": "b", "peer.service": "a"}, "a"},
		{"server.address before net.peer.name", map[string]any{"net.peer.name": "c", "server.address": "b"}, "b"},
		{"net.peer.name", map[string]any{"net.peer.name": "c"}, "c"},
		{"empty values skipped", map[string]any{"peer.service": "", "server.address": "b"}, "b"},
		{"port", map[string]any{"server.address": "orders:8080"}, "orders"},
		{"k8s service", map[string]any{"server.address": "orders.shop.svc.cluster.local"}, "orders"},
		{"k8s service short", map[string]any{"server.address": "orders.shop.svc:80"}, "orders"},
		{"external host", map[string]any{"server.address": "api.stripe.com:443"}, "api.stripe.com"},
		{"ipv4", map[string]any{"server.address": "10.0.3.4:5432"}, "10.0.3.4"},
		{"ipv6", map[string]any{"server.address": "[2001:db8::1]:5432"}, "2001:db8::1"},
		{"bare ipv6", map[string]any{"net.peer.name": "2001:db8::1"}, "2001:db8::1"},
		{"peer.service as it is", map[string]any{"peer.service": "orders.shop.svc:80"}, "orders.shop.svc:80"},
		{"not a string", map[string]any{"server.address": int64(7), "net.peer.name": "c"}, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := pcommon.NewMap()
			require.NoError(t, m.FromRaw(tt.attrs))
			assert.Equal(t, tt.want, peerOf(m))
		})
	}
}

// TestCreditBlindFailures: a caller's failures that its failed calls into
// blind spots explain leave its error rate, ERROR logs and new templates
// for the blind spots' (up to the share explained, all at most); calls into
// a visible callee move nothing.
func TestCreditBlindFailures(t *testing.T) {
	const caller, blind, blind2, visible = 1, 2, 3, 4
	tests := []struct {
		name       string
		edges      map[edgeKey]*edgeObs
		wantCaller [3]float64 // error_rate, error_logs, log_template_new after
		wantBlind  [3]float64
	}{
		{"every failure explained", map[edgeKey]*edgeObs{{caller, blind}: {calls: 20, errors: 10}}, [3]float64{0, 0, 0}, [3]float64{6, 8, 20}},
		{"half explained", map[edgeKey]*edgeObs{{caller, blind}: {calls: 20, errors: 5}}, [3]float64{2.5, 4, 10}, [3]float64{6, 4, 10}},
		{"two blind spots, more failed calls than failures", map[edgeKey]*edgeObs{{caller, blind}: {calls: 20, errors: 6}, {caller, blind2}: {calls: 20, errors: 6}}, [3]float64{0, 0, 0}, [3]float64{6, 4.8, 12}},
		{"a visible callee", map[edgeKey]*edgeObs{{caller, visible}: {calls: 20, errors: 10}}, [3]float64{5, 8, 20}, [3]float64{6, 0, 0}},
		{"calls that did not fail", map[edgeKey]*edgeObs{{caller, blind}: {calls: 20}}, [3]float64{5, 8, 20}, [3]float64{6, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aggs := map[int32]*serviceAgg{caller: {errs: 10}, blind: {blind: true}, blind2: {blind: true}, visible: {}}
			g := &Graph{Nodes: []Node{{Service: "order"}, {Service: "inventory", BlindSpot: true}, {Service: "bank", BlindSpot: true}, {Service: "payment"}}}
			g.Nodes[0].X[FeatErrorRate], g.Nodes[0].X[FeatErrorLogs], g.Nodes[0].X[FeatLogNew] = 5, 8, 20
			g.Nodes[0].Raw[FeatErrorLogs], g.Nodes[0].Raw[FeatLogNew] = 12, 9
			g.Nodes[1].X[FeatErrorRate] = 6
			index := map[int32]int{caller: 0, blind: 1, blind2: 2, visible: 3}
			creditBlindFailures(g, tt.edges, aggs, index)
			got := func(n *Node) [3]float64 {
				return [3]float64{n.X[FeatErrorRate], n.X[FeatErrorLogs], n.X[FeatLogNew]}
			}
			assert.InDeltaSlice(t, tt.wantCaller[:], func() []float64 { v := got(&g.Nodes[0]); return v[:] }(), 1e-9)
			assert.InDeltaSlice(t, tt.wantBlind[:], func() []float64 { v := got(&g.Nodes[1]); return v[:] }(), 1e-9)
			if tt.wantBlind[1] > 0 {
				assert.True(t, g.Nodes[1].credited)
				assert.Equal(t, 12.0, g.Nodes[1].Raw[FeatErrorLogs], "the caller's count, as evidence")
			}
			assert.Zero(t, got(&g.Nodes[3]), "a visible callee gets nothing")
		})
	}
}
