package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// protocol is how a service is called.
type protocol int

const (
	protocolHTTP protocol = iota
	protocolGRPC
)

// route is one endpoint (or internal operation) with its own latency
// distribution: lognormal around median, and a rare slow tail, which is what
// span_metrics histograms and latency sampling rules are for.
type route struct {
	name    string // http.route, "Service/Method" or the operation name
	method  string // HTTP method or rpc.method
	rpcSvc  string // rpc.service (gRPC only)
	dbOp    string // db.operation.name (internal operations only)
	median  float64
	sigma   float64
	slowP   float64 // share of calls in the slow tail
	slowMul float64 // slow tail: median times this
}

// sample draws one latency in nanoseconds.
func (r *route) sample(rng *rand.Rand) int64 {
	ms := r.median * math.Exp(r.sigma*rng.NormFloat64())
	if rng.Float64() < r.slowP {
		ms *= r.slowMul * (0.5 + rng.Float64())
	}
	return int64(ms * 1e6)
}

// service is one deployable of the simulated shop.
type service struct {
	name     string
	proto    protocol
	routes   []route
	ops      []route // database and cache operations (INTERNAL spans)
	calls    []int   // services it calls synchronously (higher indexes: a DAG)
	topics   []int   // consumer services it publishes to through Kafka
	topic    string  // the topic this service consumes, if any
	instance string
	host     string
}

// topology is the simulated system: services, their endpoints and call graph.
type topology struct {
	services []service
}

var serviceNames = []string{
	"frontend", "order", "inventory", "payment", "cart", "user", "catalog",
	"pricing", "shipping", "auth", "search", "recommendation", "review",
	"coupon", "tax", "currency", "fraud", "ledger", "session", "warehouse",
	"loyalty", "media", "config", "delivery", "fulfilment", "notification",
	"email", "analytics", "audit", "billing",
}

// minServices and maxServices bound the topology size.
const minServices, maxServices = 5, 30

// newTopology builds n services (5..30): the first is the HTTP frontend,
// the last quarter consume Kafka topics, every other service publishes to
// at least one of them.
func newTopology(rng *rand.Rand, n int) *topology {
	n = max(minServices, min(maxServices, n))
	consumers := max(1, n/4)
	t := &topology{services: make([]service, n)}
	for i := range n {
		s := &t.services[i]
		s.name = serviceNames[i]
		s.proto = protocolHTTP
		if i > 0 && rng.IntN(2) == 0 {
			s.proto = protocolGRPC
		}
		s.routes = newRoutes(rng, s.name, s.proto)
		s.ops = newOps(rng, s.name)
		s.instance = fmt.Sprintf("%s-%08x", s.name, rng.Uint32())
		s.host = fmt.Sprintf("node-%d", rng.IntN(8))
		if i >= n-consumers {
			s.topic = s.name + ".events"
		}
	}
	for i := range n - consumers {
		t.services[i].calls = pickAfter(rng, i, n-consumers, 1+rng.IntN(3))
		t.services[i].topics = pickAfter(rng, n-consumers-1, n, 1+rng.IntN(2))
	}
	return t
}

// pickAfter picks up to k distinct indexes in (from, to).
func pickAfter(rng *rand.Rand, from, to, k int) []int {
	var out []int
	for range k {
		if to-from-1 <= 0 {
			break
		}
		j := from + 1 + rng.IntN(to-from-1)
		if !containsInt(out, j) {
			out = append(out, j)
		}
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// newLatency draws a route's distribution: medians 1-60 ms, 1% slow tail.
func newLatency(rng *rand.Rand, lo, hi float64) (median, sigma float64) {
	median = math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
	return median, 0.3 + 0.6*rng.Float64()
}

func newRoutes(rng *rand.Rand, svc string, p protocol) []route {
	noun := svc + "s"
	verb := strings.ToUpper(svc[:1]) + svc[1:]
	var rs []route
	if p == protocolHTTP {
		rs = []route{
			{name: "/api/" + noun + "/{id}", method: "GET"},
			{name: "/api/" + noun, method: "POST"},
			{name: "/api/" + noun, method: "GET"},
			{name: "/api/" + noun + "/{id}", method: "PUT"},
		}
	} else {
		full := "shop." + verb + "Service"
		for _, m := range []string{"Get" + verb, "Create" + verb, "List" + verb + "s", "Update" + verb} {
			rs = append(rs, route{name: full + "/" + m, method: m, rpcSvc: full})
		}
	}
	rs = rs[:2+rng.IntN(len(rs)-1)]
	for i := range rs {
		rs[i].median, rs[i].sigma = newLatency(rng, 1, 60)
		rs[i].slowP, rs[i].slowMul = 0.01, 10+10*rng.Float64()
	}
	return rs
}

func newOps(rng *rand.Rand, svc string) []route {
	ops := []route{
		{name: "SELECT shop." + svc, dbOp: "SELECT"},
		{name: "INSERT shop." + svc, dbOp: "INSERT"},
		{name: "GET", dbOp: "GET"}, // redis
	}
	for i := range ops {
		ops[i].median, ops[i].sigma = newLatency(rng, 0.2, 8)
		ops[i].slowP, ops[i].slowMul = 0.005, 20
	}
	return ops
}
