package rcasim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Layer name pools. The names follow TrainTicket so that generated data reads
// like the evaluation data; the layer a name sits in mirrors its role there
// (front business services on top, shared lookups such as auth/config at the
// bottom). A pool that runs dry falls back to "svc-NN".
var layerPools = [maxLayer][]string{
	{"travel-plan", "preserve", "preserve-other", "cancel", "rebook", "execute", "admin-order",
		"admin-route", "admin-travel", "admin-user", "admin-basic-info", "consign", "food", "wait-order"},
	{"travel", "travel2", "order", "order-other", "seat", "inside-payment", "security",
		"route-plan", "notification", "ticket-office", "consign-price", "voucher", "user"},
	{"train", "route", "price", "basic", "ticketinfo", "station-food", "train-food", "payment",
		"delivery", "avatar", "news", "assurance", "contacts"},
	{"auth", "config", "station", "verification-code", "food-delivery", "mail"},
}

const (
	maxLayer = 4 // layers below the gateway: depth up to 5 services
	// hubCount shared leaves (the first of the deepest pool: auth, config,
	// station) receive a large share of calls, as in TrainTicket.
	hubCount      = 3
	gatewayName   = "ts-gateway-service"
	gatewayOp     = "/*"
	gatewayCtrl   = "FilteringWebHandler.handle"
	zipfExponent  = 1.1
	minRouteShare = 0.05 // a seed-chosen faulty service gets at least this many calls per request
)

var verbs = []string{
	"query", "create", "update", "delete", "retrieve", "list", "check", "search", "detail",
	"price", "status", "refresh", "book", "cancel", "pay", "confirm", "modify", "validate",
}

// call is one downstream request an endpoint makes.
type call struct {
	svc, ep   int
	method    string  // exit span name: "HTTP GET" or "HTTP POST"
	gapMedian float64 // ms of network time outside the callee's entry span (Kafka: until the broker's ack)
	async     bool    // a Kafka message: the caller does not wait for the callee
	topic     string  // Kafka topic
}

// endpoint is one operation of a service with its fixed work and call plan.
type endpoint struct {
	verb          string
	op, ctrl      string // entry and controller span names
	repo, sql     string // DB span names; empty when the endpoint does no DB work
	median, sigma float64
	groups        [][]call // run one after the other; the calls of a group run in parallel
	logLine       int
	// stmts are the request's log statements, ordered by where on the
	// request's path they are logged (their line numbers are arbitrary);
	// elseLine is the ERROR statement of the branch a "return" fault takes.
	stmts    []statement
	elseLine int
	// entryKind is the entry span's kind (shapes with span kinds);
	// topic, for a Kafka consumer's endpoint, the topic it reads.
	entryKind ptrace.SpanKind
	topic     string
	// respBytes is the median size of its answers (graph.respSizes),
	// respSigma their log-normal spread (what the request's data makes of
	// them).
	respBytes, respSigma float64
}

// statement is one log call on an endpoint's code path.
type statement struct {
	at      int     // logged before group at (len(groups): after the last call)
	closing bool    // at the very end: not reached by a request that throws or returns early
	line    int     // code line
	p       float64 // share of requests whose path reaches it (1: straight-line code)
	msg     string
}

type service struct {
	name   string
	layer  int
	camel  string // "OrderOther", for class names
	logger string // "o.s.OrderOtherServiceImpl"
	pods   []int
	eps    []endpoint
}

type pod struct {
	name string
	svc  int
}

// graph is the static topology shared by all traces of a scenario.
type graph struct {
	services []service
	pods     []pod
	routeCDF []float64   // cumulative Zipf weights over the gateway's endpoints
	epRate   [][]float64 // expected invocations per request
	svcRate  []float64
	edgeRate map[[2]int]float64

	shape Shape
	depth int // the deepest layer
	// What the shape's instrumentation emits: text logs, status on client
	// spans, span kinds, peer attributes on client spans.
	textLogs, clientStatus, spanKinds, peerAttrs bool
	// clientSpans: Config.ClientSpans (exit spans are CLIENT spans with
	// peer attributes whatever the shape).
	clientSpans bool
	// checksAnswers: callers look at a callee's answer and a share of
	// their requests stop at a wrong value (plan.react). TrainTicket's
	// pass it on: in the Nezha return cases the callers' calls do not
	// change beyond the workload's own swings.
	checksAnswers bool
	// respSizes: entry spans carry the size of their answer, as OTel's
	// HTTP (http.response.body.size) and gRPC (SENT message events)
	// instrumentations record it; TrainTicket's data has no attributes.
	respSizes bool
	// rootFaults: the entry service runs business code a fault can hit
	// (a shop's frontend renders pages and checks answers, the chain's
	// API gateway authenticates): it can be the culprit of a CPU,
	// exception or return fault. TrainTicket's gateway only routes and
	// Nezha never injected it. A delay on the entry pod slows only its
	// answers to the untraced client, so the traces would not show it.
	rootFaults bool
}

// buildGraph draws the shape's topology with n services.
func buildGraph(rng *rand.Rand, n int, shape Shape) *graph {
	switch shape {
	case ShapeGRPCShop:
		return buildShop(rng, n)
	case ShapeDeepChain:
		return buildChain(rng, n)
	}
	return buildTrainTicket(rng, n)
}

func buildTrainTicket(rng *rand.Rand, n int) *graph {
	g := &graph{shape: ShapeTrainTicket, depth: maxLayer, textLogs: true, clientStatus: true}
	ls := g.addServices(n)
	hubs := ls.of(maxLayer)
	if len(hubs) > hubCount {
		hubs = hubs[:hubCount]
	}
	g.addPodsAndEndpoints(rng)
	// Calls go only to deeper layers, so index order is a topological order.
	for i := 1; i < len(g.services); i++ {
		s := &g.services[i]
		if s.layer == maxLayer {
			continue
		}
		for e := range s.eps {
			nc := numCalls(rng, s.layer)
			var calls []call
			for range nc {
				c, ok := pickCallee(rng, g, s.layer, hubs, ls.of, calls)
				if ok {
					calls = append(calls, c)
				}
			}
			s.eps[e].groups = groupCalls(rng, calls)
		}
	}
	g.coverEndpoints(rng, ls)
	g.addRoutes(rng, ls)
	g.computeRates()
	return g
}

// layers are the index of each layer's first service (1-based layers; the
// gateway is 0), and the end of the last.
type layers [maxLayer + 1]int

// of lists the services of layer l (1-based).
func (ls *layers) of(l int) []int {
	var out []int
	for i := ls[l-1]; i < ls[l]; i++ {
		out = append(out, i)
	}
	return out
}

// addServices adds the gateway and n-1 services in layers of about a
// quarter, 30 %, a quarter and the rest, named from the layers' pools.
func (g *graph) addServices(n int) layers {
	m := n - 1
	sizes := [maxLayer]int{
		max(1, int(math.Round(0.25*float64(m)))),
		max(1, int(math.Round(0.30*float64(m)))),
		max(1, int(math.Round(0.25*float64(m)))),
	}
	sizes[3] = m - sizes[0] - sizes[1] - sizes[2]
	g.services = append(g.services, newService(gatewayName, "gateway", 0))
	var ls layers
	extra := 0
	for l := range maxLayer {
		ls[l] = len(g.services)
		for i := range sizes[l] {
			if i < len(layerPools[l]) {
				core := layerPools[l][i]
				g.services = append(g.services, newService("ts-"+core+"-service", core, l+1))
				continue
			}
			extra++
			g.services = append(g.services, newService(fmt.Sprintf("svc-%02d", extra), fmt.Sprintf("svc%02d", extra), l+1))
		}
	}
	ls[maxLayer] = len(g.services)
	return ls
}

// addPodsAndEndpoints gives every service one pod (15 %: two) and every
// service but the gateway one to four endpoints.
func (g *graph) addPodsAndEndpoints(rng *rand.Rand) {
	for i := range g.services {
		g.addPods(rng, i)
		s := &g.services[i]
		if i == 0 {
			continue
		}
		ne := 1 + rng.IntN(4)
		vs := slices.Clone(verbs)
		rng.Shuffle(len(vs), func(a, b int) { vs[a], vs[b] = vs[b], vs[a] })
		for e := range ne {
			s.eps = append(s.eps, newEndpoint(rng, s, vs[e]))
		}
	}
}

// coverEndpoints makes every endpoint reachable: an uncalled one gets a
// caller one layer up.
func (g *graph) coverEndpoints(rng *rand.Rand, ls layers) {
	covered := make([][]bool, len(g.services))
	for i := range g.services {
		covered[i] = make([]bool, len(g.services[i].eps))
	}
	for _, i := range ls.of(1) {
		for e := range covered[i] {
			covered[i][e] = true // the gateway routes to every layer-1 endpoint
		}
	}
	for l := 2; l <= maxLayer; l++ {
		for i := 1; i < ls[l-1]; i++ {
			for _, ep := range g.services[i].eps {
				for _, grp := range ep.groups {
					for _, c := range grp {
						covered[c.svc][c.ep] = true
					}
				}
			}
		}
		for _, i := range ls.of(l) {
			for e := range covered[i] {
				if covered[i][e] {
					continue
				}
				callers := ls.of(l - 1)
				cs := &g.services[callers[rng.IntN(len(callers))]]
				ce := &cs.eps[rng.IntN(len(cs.eps))]
				ce.groups = append(ce.groups, []call{newCall(rng, i, e)})
				covered[i][e] = true
			}
		}
	}
}

// addRoutes gives the gateway one "/*" route per layer-1 endpoint,
// Zipf-weighted in shuffled order.
func (g *graph) addRoutes(rng *rand.Rand, ls layers) {
	gw := &g.services[0]
	for _, i := range ls.of(1) {
		for e := range g.services[i].eps {
			gw.eps = append(gw.eps, endpoint{
				op: gatewayOp, ctrl: gatewayCtrl,
				median: 0.4 + 0.8*rng.Float64(), sigma: 0.3,
				groups: [][]call{{newCall(rng, i, e)}},
			})
		}
	}
	rng.Shuffle(len(gw.eps), func(a, b int) { gw.eps[a], gw.eps[b] = gw.eps[b], gw.eps[a] })
	var sum float64
	for r := range gw.eps {
		sum += 1 / math.Pow(float64(r+1), zipfExponent)
		g.routeCDF = append(g.routeCDF, sum)
	}
	for r := range g.routeCDF {
		g.routeCDF[r] /= sum
	}
}

// addStatements gives every endpoint its log statements, from their own
// random stream so the topology does not change with them. As in the real
// data, services differ: some log nothing per request (a rare line at
// most), most log a few statements on every request's path, some on a
// branch only.
func (g *graph) addStatements(rng *rand.Rand) {
	for si := range g.services {
		s := &g.services[si]
		verbose := si > 0 && rng.Float64() < 0.65
		for ei := range s.eps {
			ep := &s.eps[ei]
			nG := len(ep.groups)
			ep.elseLine = ep.logLine + 1 + rng.IntN(20)
			if !verbose {
				if si > 0 {
					ep.stmts = []statement{{at: nG, closing: true, line: ep.logLine, p: 0.03, msg: "[" + ep.verb + "][" + s.camel + " " + ep.verb + " request][ok]"}}
				}
				continue
			}
			n := 1 + rng.IntN(maxStatements)
			for k := range n {
				st := statement{at: rng.IntN(nG + 1), line: ep.logLine + 20 + 7*k + rng.IntN(7), p: 1}
				st.closing = st.at == nG && rng.Float64() < 0.5
				if rng.Float64() < 0.3 {
					st.p = 0.2 + 0.7*rng.Float64()
				}
				st.msg = "[" + ep.verb + "][" + stmtPhrases[rng.IntN(len(stmtPhrases))] + "][" + s.camel + "]"
				ep.stmts = append(ep.stmts, st)
			}
			slices.SortStableFunc(ep.stmts, func(a, b statement) int { return a.at - b.at })
		}
	}
}

// maxStatements bounds an endpoint's statements.
const maxStatements = 5

var stmtPhrases = []string{"Query", "Check exists", "Get by id", "Calculate", "Verify", "Result", "all done", "Find by route", "Save"}

func newService(name, core string, layer int) service {
	parts := strings.Split(core, "-")
	var camel strings.Builder
	for _, p := range parts {
		camel.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return service{
		name:   name,
		layer:  layer,
		camel:  camel.String(),
		logger: core[:1] + ".s." + camel.String() + "ServiceImpl",
	}
}

func newEndpoint(rng *rand.Rand, s *service, verb string) endpoint {
	compact := strings.ToLower(s.camel)
	ep := endpoint{
		verb: verb,
		op:   "/api/v1/" + compact + "service/" + verb,
		ctrl: s.camel + "Controller." + verb,
		// log-uniform median self time 0.5..20 ms
		median:  0.5 * math.Pow(40, rng.Float64()),
		sigma:   0.3 + 0.5*rng.Float64(),
		logLine: 30 + rng.IntN(570),
	}
	if rng.Float64() < 0.75 {
		table := "ts." + strings.ToLower(strings.Join(splitCamel(s.camel), "_"))
		switch verb {
		case "create", "book", "pay":
			ep.repo, ep.sql = s.camel+"Repository.save", "INSERT "+table
		case "update", "modify", "confirm", "cancel", "refresh":
			ep.repo, ep.sql = s.camel+"Repository.save", "UPDATE "+table
		case "delete":
			ep.repo, ep.sql = s.camel+"Repository.deleteById", "DELETE "+table
		default:
			ep.repo, ep.sql = s.camel+"Repository.findBy"+strings.ToUpper(verb[:1])+verb[1:], "SELECT "+table
		}
	}
	return ep
}

func splitCamel(s string) []string {
	var out []string
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			out = append(out, s[start:i])
			start = i
		}
	}
	return append(out, s[start:])
}

func newCall(rng *rand.Rand, svc, ep int) call {
	method := "HTTP POST"
	if rng.Float64() < 0.4 {
		method = "HTTP GET"
	}
	// log-uniform 0.3..2 ms
	return call{svc: svc, ep: ep, method: method, gapMedian: 0.3 * math.Pow(2/0.3, rng.Float64())}
}

// numCalls gives front services a wide fan-out and deeper ones a narrow one,
// which keeps traces near the real data's size.
func numCalls(rng *rand.Rand, layer int) int {
	u := rng.Float64()
	switch layer {
	case 1:
		return 2 + rng.IntN(5)
	case 2:
		switch {
		case u < 0.25:
			return 0
		case u < 0.6:
			return 1
		case u < 0.85:
			return 2
		}
		return 3
	default:
		switch {
		case u < 0.4:
			return 0
		case u < 0.8:
			return 1
		}
		return 2
	}
}

func pickCallee(rng *rand.Rand, g *graph, layer int, hubs []int, layerOf func(int) []int, have []call) (call, bool) {
	for range 5 {
		var svc int
		if rng.Float64() < 0.25 {
			svc = hubs[rng.IntN(len(hubs))]
		} else {
			target := layer + 1
			if target < maxLayer && rng.Float64() >= 0.6 {
				target += 1 + rng.IntN(maxLayer-target)
			}
			cands := layerOf(target)
			svc = cands[rng.IntN(len(cands))]
		}
		ep := rng.IntN(len(g.services[svc].eps))
		dup := slices.ContainsFunc(have, func(c call) bool { return c.svc == svc && c.ep == ep })
		if !dup {
			return newCall(rng, svc, ep), true
		}
	}
	return call{}, false
}

// groupCalls makes most calls sequential and joins some to the previous call
// as parallel work.
func groupCalls(rng *rand.Rand, calls []call) [][]call {
	var groups [][]call
	for i, c := range calls {
		if i > 0 && rng.Float64() < 0.15 {
			groups[len(groups)-1] = append(groups[len(groups)-1], c)
			continue
		}
		groups = append(groups, []call{c})
	}
	return groups
}

// computeRates derives expected calls per request, used to pick an observable
// faulty service and the busiest timeout chain.
func (g *graph) computeRates() {
	epRate := make([][]float64, len(g.services))
	for i := range g.services {
		epRate[i] = make([]float64, len(g.services[i].eps))
	}
	prev := 0.0
	for r, c := range g.routeCDF {
		epRate[0][r] = c - prev
		prev = c
	}
	g.epRate = epRate
	g.svcRate = make([]float64, len(g.services))
	g.edgeRate = map[[2]int]float64{}
	for i := range g.services {
		for e, ep := range g.services[i].eps {
			g.svcRate[i] += epRate[i][e]
			for _, grp := range ep.groups {
				for _, c := range grp {
					epRate[c.svc][c.ep] += epRate[i][e]
					g.edgeRate[[2]int{i, c.svc}] += epRate[i][e]
				}
			}
		}
	}
}

// edges lists the distinct caller->callee service pairs in index order.
func (g *graph) edges() [][2]string {
	var idx [][2]int
	for k := range g.edgeRate {
		idx = append(idx, k)
	}
	slices.SortFunc(idx, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	out := make([][2]string, len(idx))
	for i, k := range idx {
		out[i] = [2]string{g.services[k[0]].name, g.services[k[1]].name}
	}
	return out
}

func (g *graph) pickRoute(rng *rand.Rand) int {
	u := rng.Float64()
	i, _ := slices.BinarySearch(g.routeCDF, u)
	return min(i, len(g.routeCDF)-1)
}

func (g *graph) serviceIndex(name string) int {
	for i := range g.services {
		if g.services[i].name == name {
			return i
		}
	}
	return -1
}

const podAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func randName(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = podAlphabet[rng.IntN(len(podAlphabet))]
	}
	return string(b)
}

// addRespSizes draws each endpoint's answer size, from its own random
// stream so that the shape's other draws stay as they were: a median of 40
// B to 20 KB, spread by what each request asks for.
func (g *graph) addRespSizes(rng *rand.Rand) {
	if !g.respSizes {
		return
	}
	for i := range g.services {
		for j := range g.services[i].eps {
			ep := &g.services[i].eps[j]
			ep.respBytes = 40 * math.Exp(6.2*rng.Float64())
			ep.respSigma = 0.1 + 0.6*rng.Float64()
		}
	}
}
