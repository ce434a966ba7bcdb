package rcasim

import (
	"cmp"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// layerDepths is each service's longest call path from the root (index
// 0), from the scenario's edges; the edges form a DAG in service order.
func layerDepths(sc Scenario) map[string]int {
	depth := map[string]int{sc.Services[0]: 0}
	for _, s := range sc.Services {
		d, ok := depth[s]
		if !ok {
			continue
		}
		for _, e := range sc.Edges {
			if e[0] == s {
				depth[e[1]] = max(depth[e[1]], d+1)
			}
		}
	}
	return depth
}

func fanOut(sc Scenario, svc string) int {
	n := 0
	for _, e := range sc.Edges {
		if e[0] == svc {
			n++
		}
	}
	return n
}

// shapeStats are the properties the shape tests check, over a scenario.
type shapeStats struct {
	services, depth, rootFanOut int
	logs                        int
	kinds                       map[ptrace.SpanKind]int
	clientStatus, serverStatus  int
	medianClientMs              float64
	kafkaHops                   int // CONSUMER spans whose parent is a PRODUCER span of another service
	kafkaAsync                  int // ... that start after their producer span ended
	producerDepth               int // the producing service's layer (max over hops)
}

func statsOf(t *testing.T, sc Scenario) shapeStats {
	f := flatten(t, sc)
	depth := layerDepths(sc)
	st := shapeStats{services: len(sc.Services), rootFanOut: fanOut(sc, sc.Services[0]), logs: len(f.logs), kinds: map[ptrace.SpanKind]int{}}
	for _, d := range depth {
		st.depth = max(st.depth, d)
	}
	var client []int64
	for _, s := range f.spans {
		k := s.span.Kind()
		st.kinds[k]++
		switch {
		case k == ptrace.SpanKindClient && s.span.Status().Code() != ptrace.StatusCodeUnset:
			st.clientStatus++
		case k == ptrace.SpanKindServer && s.isErr():
			st.serverStatus++
		}
		if k == ptrace.SpanKindClient {
			client = append(client, s.dur())
		}
		if p, ok := f.byID[s.parent]; ok && k == ptrace.SpanKindConsumer && p.span.Kind() == ptrace.SpanKindProducer && p.svc != s.svc {
			st.kafkaHops++
			if s.start > p.end {
				st.kafkaAsync++
			}
			st.producerDepth = max(st.producerDepth, depth[p.svc])
			sys, _ := s.span.Attributes().Get("messaging.system")
			assert.Equal(t, "kafka", sys.Str())
		}
	}
	st.medianClientMs = median(client) / 1e6
	return st
}

// TestShapes checks each shape's properties on every fault kind.
func TestShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shape Shape
		check func(t *testing.T, st shapeStats)
	}{
		{ShapeTrainTicket, func(t *testing.T, st shapeStats) {
			assert.Equal(t, defaultServices, st.services)
			assert.LessOrEqual(t, st.depth, maxLayer, "at most five services deep")
			assert.Equal(t, []ptrace.SpanKind{ptrace.SpanKindUnspecified}, slices.Collect(maps.Keys(st.kinds)), "no span kinds, as in the SkyWalking data")
			assert.Positive(t, st.logs)
			assert.Zero(t, st.kafkaHops)
		}},
		{ShapeGRPCShop, func(t *testing.T, st shapeStats) {
			assert.Equal(t, 11, st.services)
			assert.LessOrEqual(t, st.depth, 2, "few layers")
			assert.GreaterOrEqual(t, st.rootFanOut, 8, "the frontend fans out to most services")
			assert.Zero(t, st.logs, "no text logs")
			assert.Zero(t, st.clientStatus, "no status on CLIENT spans")
			assert.Positive(t, st.kinds[ptrace.SpanKindServer])
			assert.Positive(t, st.kinds[ptrace.SpanKindClient])
			assert.Less(t, st.medianClientMs, 5.0, "short calls")
			assert.Zero(t, st.kafkaHops)
		}},
		{ShapeDeepChain, func(t *testing.T, st shapeStats) {
			assert.Equal(t, 16, st.services)
			assert.GreaterOrEqual(t, st.depth, chainMinDepth-1, "6-8 layers counting the gateway")
			assert.LessOrEqual(t, st.depth, chainMaxDepth-1)
			assert.Positive(t, st.kafkaHops, "a Kafka hop")
			assert.Equal(t, st.kafkaHops, st.kafkaAsync, "consumers start after the producer's ack")
			assert.GreaterOrEqual(t, st.producerDepth, 2, "the hop is mid-chain")
			assert.LessOrEqual(t, st.producerDepth, st.depth-2, "the hop is mid-chain")
			assert.Positive(t, st.logs)
		}},
	}
	for _, tt := range tests {
		for _, fault := range allFaults {
			t.Run(string(tt.shape)+"/"+cmp.Or(fault, "none"), func(t *testing.T) {
				t.Parallel()
				sc := Generate(Config{Seed: 21, Shape: tt.shape, Fault: fault, TracesPerStep: 40})
				st := statsOf(t, sc)
				tt.check(t, st)
				if fault != FaultNone {
					require.NotEmpty(t, sc.FaultService)
					if tt.shape == ShapeTrainTicket || fault == FaultDelay || fault == FaultTimeoutCascade {
						assert.NotEqual(t, sc.Services[0], sc.FaultService)
					}
				}
				if fault == FaultException && tt.shape != ShapeTrainTicket {
					assert.Positive(t, st.serverStatus, "a failing handler sets its SERVER span's status")
				}
				if fault == FaultException && tt.shape == ShapeDeepChain {
					assert.Positive(t, st.clientStatus, "the chain's clients set status")
				}
			})
		}
	}
}

// TestShapeDepthRange: the deep chain draws 6-8 layers over seeds, all
// three, with one Kafka hop layer; the shop never more than two below its
// frontend.
func TestShapeDepthRange(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for seed := range int64(40) {
		g := buildGraph(newGraphRNG(seed), 16, ShapeDeepChain)
		seen[g.depth+1] = true
		producers := 0
		for _, s := range g.services {
			for _, ep := range s.eps {
				for _, grp := range ep.groups {
					for _, c := range grp {
						if c.async {
							producers++
							assert.Equal(t, g.depth/2, s.layer)
							assert.Equal(t, s.layer+1, g.services[c.svc].layer)
						}
					}
				}
			}
		}
		assert.Positive(t, producers)
		shop := buildGraph(newGraphRNG(seed), 8+int(seed)%9, ShapeGRPCShop)
		assert.Equal(t, 2, shop.depth)
	}
	assert.Equal(t, map[int]bool{6: true, 7: true, 8: true}, seen)
}

func TestShapeDeterministic(t *testing.T) {
	t.Parallel()
	for _, sh := range Shapes {
		t.Run(string(sh), func(t *testing.T) {
			t.Parallel()
			cfg := Config{Seed: 5, Shape: sh, Fault: FaultException, TracesPerStep: 30}
			a, b := Generate(cfg), Generate(cfg)
			require.Equal(t, a.Edges, b.Edges)
			require.Equal(t, a.FaultService, b.FaultService)
			for k := range a.Batches {
				assert.Equal(t, marshal(t, a.Batches[k]), marshal(t, b.Batches[k]), "batch %d", k)
			}
			cfg.Seed++
			c := Generate(cfg)
			assert.NotEqual(t, marshal(t, a.Batches[0])[0], marshal(t, c.Batches[0])[0])
		})
	}
	// The TrainTicket shape is the default: naming it changes nothing.
	a := Generate(Config{Seed: 9, TracesPerStep: 20, Fault: FaultCPU})
	b := Generate(Config{Seed: 9, TracesPerStep: 20, Fault: FaultCPU, Shape: ShapeTrainTicket})
	for k := range a.Batches {
		assert.Equal(t, marshal(t, a.Batches[k]), marshal(t, b.Batches[k]))
	}
}

func TestShapeConfig(t *testing.T) {
	t.Parallel()
	var s Shape
	require.NoError(t, s.UnmarshalText([]byte("grpc_shop")))
	assert.Equal(t, ShapeGRPCShop, s)
	require.ErrorContains(t, s.UnmarshalText([]byte("mesh")), `unknown shape "mesh"`)
	assert.ErrorContains(t, Config{Shape: "mesh"}.Validate(), `unknown 'shape' "mesh"`)
	assert.NoError(t, Config{Shape: ShapeDeepChain, Fault: FaultCPU, FaultService: "api-gateway"}.Validate())
	assert.ErrorContains(t, Config{Shape: ShapeGRPCShop, FaultService: "ts-auth-service"}.Validate(), "'fault_service'")
	for _, sh := range Shapes {
		sc := Generate(Config{Seed: 2, Shape: sh, Services: 5, Fault: FaultTimeoutCascade, TracesPerStep: 10})
		assert.Len(t, sc.Services, 5, sh)
		assert.NotEmpty(t, sc.FaultService, sh)
	}
}

// callsAfter is, for the requests of other services that call svc, the
// mean number of calls they make after svc's answer, in the normal and
// the fault phase.
func callsAfter(f *flat, svc string) (normal, fault float64) {
	var callees func(s *fspan, out []*fspan) []*fspan // the callee entry spans of s's segment
	callees = func(s *fspan, out []*fspan) []*fspan {
		for _, c := range s.children {
			if c.svc != s.svc {
				out = append(out, c)
			} else {
				out = callees(c, out)
			}
		}
		return out
	}
	var n, fl []float64
	for _, s := range f.spans {
		if s.svc == svc || !f.isEntry(s) {
			continue
		}
		cs := callees(s, nil)
		for _, c := range cs {
			if c.svc != svc {
				continue
			}
			after := 0.0
			for _, d := range cs {
				if d.start >= c.end {
					after++
				}
			}
			if f.fault(c) {
				fl = append(fl, after)
			} else {
				n = append(n, after)
			}
			break
		}
	}
	return mean(n), mean(fl)
}

// TestReturnCallersStop: where a shape's callers check answers (the shop,
// the chain) a share of the requests that get an early return's wrong
// value stop there and skip their later calls; TrainTicket's callers pass
// the value on, as in the Nezha return cases.
func TestReturnCallersStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shape Shape
		stop  bool
	}{
		{ShapeTrainTicket, false},
		{ShapeGRPCShop, true},
		{ShapeDeepChain, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.shape), func(t *testing.T) {
			t.Parallel()
			var checked int
			for seed := int64(1); seed <= 8; seed++ {
				sc := Generate(Config{Seed: seed, Fault: FaultReturn, Shape: tt.shape, TracesPerStep: 40})
				f := flatten(t, sc)
				normal, fault := callsAfter(f, sc.FaultService)
				if normal < 0.5 {
					continue // its callers make few calls after it anyway
				}
				checked++
				if tt.stop {
					assert.Less(t, fault, 0.9*normal, "seed %d: callers of %s stop after its answer", seed, sc.FaultService)
				} else {
					assert.InDelta(t, normal, fault, 0.25*normal, "seed %d: callers of %s go on", seed, sc.FaultService)
				}
			}
			assert.Positive(t, checked, "some culprit's callers call on after it")
		})
	}
}

// TestRootFaults: the shop's frontend and the chain's gateway can be the
// culprit of a CPU, exception or return fault, never of a delay (their
// answers go to the untraced client); TrainTicket's gateway never is. A
// frontend that returns early makes fewer calls.
func TestRootFaults(t *testing.T) {
	t.Parallel()
	for _, shape := range Shapes {
		t.Run(string(shape), func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, shape.EntryService(), Generate(Config{Seed: 1, Shape: shape, TracesPerStep: 1, NormalSteps: 1}).Services[0])
			picked := map[string]int{}
			for seed := int64(1); seed <= 40; seed++ {
				for _, fault := range []string{FaultCPU, FaultException, FaultReturn, FaultDelay} {
					sc := Generate(Config{Seed: seed, Shape: shape, Fault: fault, TracesPerStep: 1, NormalSteps: 1, FaultSteps: 1})
					if sc.FaultService == sc.Services[0] {
						picked[fault]++
					}
				}
			}
			assert.Zero(t, picked[FaultDelay], "a delay's culprit is never the entry service")
			if shape == ShapeTrainTicket {
				assert.Empty(t, picked)
				return
			}
			for _, fault := range []string{FaultCPU, FaultException, FaultReturn} {
				assert.Positive(t, picked[fault], "%s: the entry service is sometimes the culprit", fault)
			}
		})
	}
	sc := Generate(Config{Seed: 3, Shape: ShapeGRPCShop, Fault: FaultReturn, FaultService: shopFrontend, TracesPerStep: 40})
	f := flatten(t, sc)
	var size func(s *fspan) float64 // the spans of s's subtree
	size = func(s *fspan) float64 {
		n := 1.0
		for _, c := range s.children {
			n += size(c)
		}
		return n
	}
	var normal, fault []float64
	for _, s := range f.spans {
		if !s.parent.IsEmpty() {
			continue
		}
		require.Equal(t, shopFrontend, s.svc)
		if f.fault(s) {
			fault = append(fault, size(s))
		} else {
			normal = append(normal, size(s))
		}
	}
	require.NotEmpty(t, normal)
	require.NotEmpty(t, fault)
	assert.Less(t, mean(fault), 0.8*mean(normal), "a frontend that returns early makes fewer calls")
}

// TestShopRarePath: with two aggregators or more, the shop's checkout is
// called only by the frontend's least used route, and one or two leaves
// only by the checkout: culprits that see a few percent of the requests.
func TestShopRarePath(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 20; seed++ {
		g := buildGraph(rand.New(rand.NewPCG(seed, 1)), 9+int(seed%8), ShapeGRPCShop)
		var routes []int // the frontend routes that call the checkout (service 1)
		for r, ep := range g.services[0].eps {
			for _, grp := range ep.groups {
				for _, c := range grp {
					if c.svc == 1 {
						routes = append(routes, r)
					}
				}
			}
		}
		require.Len(t, routes, 1, "seed %d", seed)
		for r := range g.services[0].eps {
			assert.LessOrEqual(t, g.routeShare(routes[0]), g.routeShare(r), "seed %d: the least used route", seed)
		}
		assert.Len(t, g.services[1].eps, 1)
		assert.InDelta(t, g.routeShare(routes[0]), g.svcRate[1], 1e-9, "seed %d: the checkout sees its route's requests only", seed)
		callers := map[int]map[int]bool{} // per service, its callers
		for i, s := range g.services {
			for _, ep := range s.eps {
				for _, grp := range ep.groups {
					for _, c := range grp {
						if callers[c.svc] == nil {
							callers[c.svc] = map[int]bool{}
						}
						callers[c.svc][i] = true
					}
				}
			}
		}
		exclusive := 0
		for i := 2; i < len(g.services); i++ {
			if len(callers[i]) == 1 && callers[i][1] {
				exclusive++
			}
		}
		assert.Positive(t, exclusive, "seed %d: a leaf only the checkout calls", seed)
	}
}

// TestClientSpans: with ClientSpans a TrainTicket-shaped scenario's exit
// spans (a span whose child is in another service) are CLIENT spans naming
// their callee, as OTel's HTTP client instrumentation sends them; nothing
// else changes: the same spans, in the same batches, with the same times.
func TestClientSpans(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 11, TracesPerStep: 20, Fault: FaultDelay}
	plain := Generate(cfg)
	cfg.ClientSpans = true
	client := Generate(cfg)
	require.Len(t, client.Batches, len(plain.Batches))
	type spanInfo struct {
		service, peer string
		kind          ptrace.SpanKind
		parent        [8]byte
		start, end    uint64
	}
	read := func(sc Scenario) map[[8]byte]spanInfo {
		out := map[[8]byte]spanInfo{}
		for _, b := range sc.Batches {
			for _, rs := range b.Traces.ResourceSpans().All() {
				svc, _ := rs.Resource().Attributes().Get("service.name")
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						peer, _ := sp.Attributes().Get("server.address")
						out[sp.SpanID()] = spanInfo{svc.Str(), peer.Str(), sp.Kind(), sp.ParentSpanID(), uint64(sp.StartTimestamp()), uint64(sp.EndTimestamp())}
					}
				}
			}
		}
		return out
	}
	a, b := read(plain), read(client)
	require.Len(t, b, len(a))
	exits := 0
	for id, sb := range b {
		sa := a[id]
		assert.Equal(t, ptrace.SpanKindUnspecified, sa.kind, "without ClientSpans no kinds")
		assert.Empty(t, sa.peer)
		sa.kind, sa.peer = sb.kind, sb.peer
		require.Equal(t, sa, sb, "only the kind and the peer change")
		if sb.kind == ptrace.SpanKindClient {
			exits++
			assert.NotEmpty(t, sb.peer)
		}
	}
	for _, sb := range b {
		if p, ok := b[sb.parent]; ok && p.service != sb.service {
			assert.Equal(t, ptrace.SpanKindClient, p.kind, "%s's parent in %s is an exit span", sb.service, p.service)
			assert.Equal(t, sb.service, p.peer, "an exit span names its callee")
		}
	}
	assert.Positive(t, exits)
}
