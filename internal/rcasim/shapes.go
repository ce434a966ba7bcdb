package rcasim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Shape is the kind of system a scenario models.
type Shape string

const (
	// ShapeTrainTicket is the Nezha TrainTicket data's shape: a gateway, a
	// layered Java DAG up to five services deep, no span kinds, text logs
	// with trace ids, status on every failed span (see the package doc).
	ShapeTrainTicket Shape = "trainticket"
	// ShapeGRPCShop is a gRPC microservice shop in the style of Online
	// Boutique: a frontend whose HTTP routes each fan out to several of
	// about ten services, aggregators (checkout, recommendation) one layer
	// below it calling leaves, so at most two layers below the frontend
	// (with two aggregators or more, the checkout and one or two leaves
	// only on the least used route's path);
	// short calls (sub-millisecond to a few ms), SERVER/CLIENT span kinds,
	// gRPC span names, no text logs at all, and no status on CLIENT spans
	// (only the SERVER span of a failing handler carries one).
	ShapeGRPCShop Shape = "grpc_shop"
	// ShapeDeepChain is a deep request chain: 6-8 service layers counting
	// the API gateway (fewer when there are fewer services), narrow
	// fan-out, Spring-style spans with kinds and text logs, and a Kafka hop
	// in the middle: the producing layer publishes (PRODUCER span, ends at
	// the broker's ack) and the next layer consumes (CONSUMER span, its
	// child, after the queue lag) without its caller waiting for it, so a
	// consumer's failures never propagate upstream.
	ShapeDeepChain Shape = "deep_chain"
)

// Shapes are the known shapes.
var Shapes = []Shape{ShapeTrainTicket, ShapeGRPCShop, ShapeDeepChain}

// EntryService names the shape's entry service: the one every trace
// starts in.
func (s Shape) EntryService() string {
	switch s {
	case ShapeGRPCShop:
		return shopFrontend
	case ShapeDeepChain:
		return chainGateway
	}
	return gatewayName
}

// UnmarshalText accepts the shape's name.
func (s *Shape) UnmarshalText(text []byte) error {
	v := Shape(text)
	if !slices.Contains(Shapes, v) {
		return fmt.Errorf("unknown shape %q (one of %v)", text, Shapes)
	}
	*s = v
	return nil
}

func (s Shape) defaultServices() int {
	switch s {
	case ShapeGRPCShop:
		return 11
	case ShapeDeepChain:
		return 16
	}
	return defaultServices
}

// Shop names: aggregators call leaves; nouns give the gRPC service names
// ("cart" -> cartservice, hipstershop.CartService).
var (
	shopAggregators = []string{"checkout", "recommendation", "order"}
	shopLeaves      = []string{"productcatalog", "currency", "cart", "shipping", "ad", "payment", "email",
		"quote", "review", "inventory", "wishlist", "tax", "user", "search"}
	shopMethods = []string{"Get", "List", "Add", "Convert", "Charge", "Send", "Place", "Empty", "Search", "Quote", "Check", "Update"}
	shopRoutes  = []string{"GET /", "GET /product/{id}", "GET /cart", "POST /cart", "POST /cart/checkout",
		"POST /setCurrency", "GET /logout", "GET /orders", "GET /search", "POST /review"}
)

const (
	shopFrontend      = "frontend"
	shopParallelShare = 0.35 // gRPC handlers often issue calls together
)

// buildShop draws a gRPC shop of n services: the frontend (index 0), one
// to three aggregators (layer 1), the rest leaves (layer 2).
func buildShop(rng *rand.Rand, n int) *graph {
	g := &graph{shape: ShapeGRPCShop, depth: 2, spanKinds: true, peerAttrs: true, checksAnswers: true, respSizes: true, rootFaults: true}
	nAgg := 1
	switch {
	case n >= 14:
		nAgg = 3
	case n >= 9:
		nAgg = 2
	}
	g.services = append(g.services, newService(shopFrontend, shopFrontend, 0))
	extra := 0
	name := func(pool []string, i, layer int) service {
		if i < len(pool) {
			s := newService(pool[i]+"service", pool[i], layer)
			s.camel = strings.ToUpper(pool[i][:1]) + pool[i][1:] + "Service"
			return s
		}
		extra++
		return newService(fmt.Sprintf("svc-%02d", extra), fmt.Sprintf("svc%02d", extra), layer)
	}
	for i := range nAgg {
		g.services = append(g.services, name(shopAggregators, i, 1))
	}
	for i := range n - 1 - nAgg {
		g.services = append(g.services, name(shopLeaves, i, 2))
	}
	for i := range g.services {
		g.addPods(rng, i)
		if i == 0 {
			continue
		}
		s := &g.services[i]
		ms := slices.Clone(shopMethods)
		rng.Shuffle(len(ms), func(a, b int) { ms[a], ms[b] = ms[b], ms[a] })
		noun := strings.TrimSuffix(s.camel, "Service")
		for e := range 1 + rng.IntN(3) {
			ep := endpoint{
				verb:      strings.ToLower(ms[e]),
				op:        "hipstershop." + s.camel + "/" + ms[e] + noun,
				median:    0.1 * math.Pow(30, rng.Float64()), // 0.1..3 ms
				sigma:     0.3 + 0.4*rng.Float64(),
				logLine:   30 + rng.IntN(570),
				entryKind: ptrace.SpanKindServer,
			}
			if rng.Float64() < 0.25 {
				ep.sql = "HGET" // a Redis or SQL lookup, CLIENT span
				if rng.Float64() < 0.5 {
					ep.sql = "SELECT " + strings.ToLower(noun)
				}
			}
			s.eps = append(s.eps, ep)
		}
	}
	leaves := make([]int, 0, n)
	for i := 1 + nAgg; i < n; i++ {
		leaves = append(leaves, i)
	}
	// With two aggregators or more the first (checkout) is on a rare path:
	// one endpoint, called only by the frontend's least used route, and
	// the only caller of the last one or two leaves, so that some culprits
	// see a few percent of the requests, as an Online Boutique's checkout
	// path does (its payment and email services). The least used of seven
	// routes takes 4.9 %: below minRouteShare, so a seed never picks that
	// checkout as the culprit (an explicit fault_service still can).
	rare, exclusive := 0, []int(nil)
	if nAgg >= 2 && len(leaves) >= 4 {
		rare = 1
		g.services[rare].eps = g.services[rare].eps[:1]
		k := 1 + rng.IntN(2)
		leaves, exclusive = leaves[:len(leaves)-k], leaves[len(leaves)-k:]
	}
	// aggregators call two to six leaves
	for a := 1; a <= nAgg; a++ {
		for e := range g.services[a].eps {
			calls := g.pickCalls(rng, leaves, 2+rng.IntN(5))
			if a == rare {
				// replaces the draw above, which stays drawn: the graphs
				// (and the weights trained on them) follow the draws
				calls = append(g.pickCalls(rng, leaves, 1+rng.IntN(3)), g.pickCalls(rng, exclusive, len(exclusive))...)
			}
			g.services[a].eps[e].groups = groupCallsP(rng, calls, shopParallelShare)
		}
	}
	// frontend routes each call two to seven services
	targets := make([]int, 0, n)
	for i := 1; i < n; i++ {
		if i != rare && !slices.Contains(exclusive, i) {
			targets = append(targets, i)
		}
	}
	routes := slices.Clone(shopRoutes)
	rng.Shuffle(len(routes), func(a, b int) { routes[a], routes[b] = routes[b], routes[a] })
	fe := &g.services[0]
	for r := range 4 + rng.IntN(4) {
		fe.eps = append(fe.eps, endpoint{
			verb: "route", op: routes[r], median: 0.3 + 1.2*rng.Float64(), sigma: 0.3,
			entryKind: ptrace.SpanKindServer,
			groups:    groupCallsP(rng, g.pickCalls(rng, targets, 2+rng.IntN(6)), shopParallelShare),
		})
	}
	g.weighRoutes(rng)
	if rare > 0 {
		// the least used route places the order last
		least := 0
		for r := range g.routeCDF {
			if g.routeShare(r) < g.routeShare(least) {
				least = r
			}
		}
		fe.eps[least].groups = append(fe.eps[least].groups, []call{g.newRPC(rng, rare, 0)})
	}
	g.cover(rng, func(svc int) []int {
		if slices.Contains(exclusive, svc) {
			return []int{rare}
		}
		return []int{0}
	})
	g.computeRates()
	return g
}

// routeShare is the share of the requests that take the entry service's
// endpoint r.
func (g *graph) routeShare(r int) float64 {
	if r == 0 {
		return g.routeCDF[0]
	}
	return g.routeCDF[r] - g.routeCDF[r-1]
}

// pickCalls draws up to k calls to distinct services of cands, each to a
// random endpoint.
func (g *graph) pickCalls(rng *rand.Rand, cands []int, k int) []call {
	cs := slices.Clone(cands)
	rng.Shuffle(len(cs), func(a, b int) { cs[a], cs[b] = cs[b], cs[a] })
	var out []call
	for _, svc := range cs[:min(k, len(cs))] {
		out = append(out, g.newRPC(rng, svc, rng.IntN(len(g.services[svc].eps))))
	}
	return out
}

// newRPC is a synchronous call in a shape with span kinds: the client span
// is named after the callee's gRPC method, or "GET"/"POST" for HTTP.
func (g *graph) newRPC(rng *rand.Rand, svc, ep int) call {
	if g.shape == ShapeGRPCShop {
		// log-uniform 0.1..0.6 ms: short hops inside one cluster
		return call{svc: svc, ep: ep, method: g.services[svc].eps[ep].op, gapMedian: 0.1 * math.Pow(6, rng.Float64())}
	}
	c := newCall(rng, svc, ep)
	c.method = strings.TrimPrefix(c.method, "HTTP ")
	return c
}

// cover gives every endpoint nobody calls a call from a random endpoint of
// a random caller among callersOf(its service), as a group of its own.
func (g *graph) cover(rng *rand.Rand, callersOf func(svc int) []int) {
	covered := make([][]bool, len(g.services))
	for i := range g.services {
		covered[i] = make([]bool, len(g.services[i].eps))
	}
	for i := range g.services {
		for _, ep := range g.services[i].eps {
			for _, grp := range ep.groups {
				for _, c := range grp {
					covered[c.svc][c.ep] = true
				}
			}
		}
	}
	for i := 1; i < len(g.services); i++ {
		for e := range covered[i] {
			if covered[i][e] {
				continue
			}
			callers := callersOf(i)
			cs := &g.services[callers[rng.IntN(len(callers))]]
			ce := &cs.eps[rng.IntN(len(cs.eps))]
			ce.groups = append(ce.groups, []call{g.newRPC(rng, i, e)})
		}
	}
}

// weighRoutes Zipf-weighs the entry service's endpoints in shuffled order.
func (g *graph) weighRoutes(rng *rand.Rand) {
	order := rng.Perm(len(g.services[0].eps))
	w := make([]float64, len(order))
	for r, e := range order {
		w[e] = 1 / math.Pow(float64(r+1), zipfExponent)
	}
	var sum float64
	for _, x := range w {
		sum += x
		g.routeCDF = append(g.routeCDF, sum)
	}
	for r := range g.routeCDF {
		g.routeCDF[r] /= sum
	}
}

// addPods gives service i one pod (15 % of the others: two).
func (g *graph) addPods(rng *rand.Rand, i int) {
	s := &g.services[i]
	np := 1
	if i > 0 && rng.Float64() < 0.15 {
		np = 2
	}
	rs := randName(rng, 9+rng.IntN(2))
	for range np {
		s.pods = append(s.pods, len(g.pods))
		g.pods = append(g.pods, pod{name: s.name + "-" + rs + "-" + randName(rng, 5), svc: i})
	}
}

func groupCallsP(rng *rand.Rand, calls []call, parallel float64) [][]call {
	var groups [][]call
	for i, c := range calls {
		if i > 0 && rng.Float64() < parallel {
			groups[len(groups)-1] = append(groups[len(groups)-1], c)
			continue
		}
		groups = append(groups, []call{c})
	}
	return groups
}

// Deep chain names by layer below the gateway; the layer after the Kafka
// hop takes the worker names wherever it falls.
var (
	chainPools = [][]string{
		{"order-api", "account-api", "catalog-api"},
		{"order-service", "cart-service", "customer-service"},
		{"inventory-service", "pricing-service", "promotion-service"},
		{"reservation-service", "fraud-check-service", "tax-service"},
		{"warehouse-service", "invoice-service", "loyalty-service"},
		{"shipping-service", "carrier-adapter", "label-service"},
		{"notification-service", "audit-service", "mail-gateway"},
	}
	chainWorkers = []string{"fulfillment-worker", "billing-worker", "ledger-worker"}
)

const (
	chainGateway  = "api-gateway"
	chainMinDepth = 6 // service layers counting the gateway
	chainMaxDepth = 8
	sideCallShare = 0.3 // an endpoint's chance of a second, deeper call
)

// buildChain draws a deep chain of n services: 6-8 layers counting the
// gateway (at most n), at least one service per layer, a Kafka hop from
// the middle layer to the next.
func buildChain(rng *rand.Rand, n int) *graph {
	below := min(chainMinDepth+rng.IntN(chainMaxDepth-chainMinDepth+1), n) - 1
	g := &graph{shape: ShapeDeepChain, depth: below, textLogs: true, clientStatus: true, spanKinds: true, peerAttrs: true, checksAnswers: true, respSizes: true, rootFaults: true}
	sizes := make([]int, below)
	for l := range sizes {
		sizes[l] = 1
	}
	for range n - 1 - below {
		sizes[rng.IntN(below)]++
	}
	prod := below / 2 // producing layer (1-based); consumers are prod+1
	g.services = append(g.services, newService(chainGateway, "gateway", 0))
	first := make([]int, below+2) // first service index per layer, 1-based; first[below+1] = n
	extra := 0
	for l := 1; l <= below; l++ {
		first[l] = len(g.services)
		pool := chainPools[l-1]
		if l == prod+1 {
			pool = chainWorkers
		}
		for i := range sizes[l-1] {
			if i < len(pool) {
				core := strings.TrimSuffix(pool[i], "-service")
				g.services = append(g.services, newService(pool[i], core, l))
				continue
			}
			extra++
			g.services = append(g.services, newService(fmt.Sprintf("svc-%02d", extra), fmt.Sprintf("svc%02d", extra), l))
		}
	}
	first[below+1] = len(g.services)
	layerOf := func(l int) []int {
		var out []int
		for i := first[l]; i < first[l+1]; i++ {
			out = append(out, i)
		}
		return out
	}
	for i := range g.services {
		g.addPods(rng, i)
		if i == 0 {
			continue
		}
		s := &g.services[i]
		if s.layer == prod+1 {
			topic := strings.TrimSuffix(s.name, "-worker") + "-events"
			ep := newEndpoint(rng, s, "process")
			ep.op, ep.ctrl = topic+" process", s.camel+"Listener.onMessage"
			ep.entryKind, ep.topic = ptrace.SpanKindConsumer, topic
			s.eps = append(s.eps, ep)
			continue
		}
		vs := slices.Clone(verbs)
		rng.Shuffle(len(vs), func(a, b int) { vs[a], vs[b] = vs[b], vs[a] })
		for e := range 1 + rng.IntN(3) {
			ep := newEndpoint(rng, s, vs[e])
			method := "GET"
			if ep.sql != "" && !strings.HasPrefix(ep.sql, "SELECT") {
				method = "POST"
			}
			ep.op = method + " /api/v1/" + strings.ToLower(s.camel) + "/" + vs[e]
			ep.entryKind = ptrace.SpanKindServer
			s.eps = append(s.eps, ep)
		}
	}
	// each endpoint calls into the next layer (Kafka from the producing
	// one), sometimes also deeper (never into the consumers but by Kafka)
	for i := 1; i < len(g.services); i++ {
		s := &g.services[i]
		if s.layer == below {
			continue
		}
		for e := range s.eps {
			next := layerOf(s.layer + 1)
			calls := []call{g.chainCall(rng, next[rng.IntN(len(next))], s.layer == prod)}
			if rng.Float64() < sideCallShare {
				var deeper []int
				for l := s.layer + 1; l <= below; l++ {
					if l != prod+1 {
						deeper = append(deeper, layerOf(l)...)
					}
				}
				if len(deeper) > 0 {
					c := g.chainCall(rng, deeper[rng.IntN(len(deeper))], false)
					if c.svc != calls[0].svc {
						calls = append(calls, c)
					}
				}
			}
			s.eps[e].groups = groupCalls(rng, calls)
		}
	}
	// the gateway routes to every layer-1 endpoint
	gw := &g.services[0]
	for _, i := range layerOf(1) {
		for e := range g.services[i].eps {
			gw.eps = append(gw.eps, endpoint{
				verb: "route", op: g.services[i].eps[e].op, median: 0.4 + 0.8*rng.Float64(), sigma: 0.3,
				entryKind: ptrace.SpanKindServer,
				groups:    [][]call{{g.chainCall(rng, i, false)}},
			})
		}
	}
	// an endpoint nobody calls gets a caller one layer up
	for l := 2; l <= below; l++ {
		g.coverLayer(rng, layerOf(l), layerOf(l-1), l == prod+1)
	}
	g.weighRoutes(rng)
	g.computeRates()
	return g
}

// chainCall is a call to a random endpoint of svc; async: by Kafka.
func (g *graph) chainCall(rng *rand.Rand, svc int, async bool) call {
	ep := rng.IntN(len(g.services[svc].eps))
	if !async {
		return g.newRPC(rng, svc, ep)
	}
	topic := g.services[svc].eps[ep].topic
	// log-uniform 0.5..3 ms until the broker acknowledges
	return call{svc: svc, ep: ep, method: topic + " publish", topic: topic, async: true, gapMedian: 0.5 * math.Pow(6, rng.Float64())}
}

func (g *graph) coverLayer(rng *rand.Rand, layer, callers []int, async bool) {
	called := map[[2]int]bool{}
	for _, i := range callers {
		for _, ep := range g.services[i].eps {
			for _, grp := range ep.groups {
				for _, c := range grp {
					called[[2]int{c.svc, c.ep}] = true
				}
			}
		}
	}
	for _, i := range layer {
		for e := range g.services[i].eps {
			if called[[2]int{i, e}] {
				continue
			}
			cs := &g.services[callers[rng.IntN(len(callers))]]
			ce := &cs.eps[rng.IntN(len(cs.eps))]
			c := g.chainCall(rng, i, async)
			c.ep = e
			if async {
				c.topic = g.services[i].eps[e].topic
				c.method = c.topic + " publish"
			}
			ce.groups = append(ce.groups, []call{c})
		}
	}
}
