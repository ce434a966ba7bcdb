package main

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// minSpans and maxSpans bound a realistic flow's size.
const minSpans, maxSpans = 5, 40

// buildTree grows a call tree breadth-first from the frontend until a span
// budget of 5-40 is spent, then times it, fails it (rarely) and keys it.
func (g *generator) buildTree(f *flow) {
	budget := minSpans + g.rng.IntN(maxSpans-minSpans+1)
	f.split = g.rng.Float64() < g.opts.splitShare
	if f.split {
		budget -= 2 // reserved for the producer and the split-off consumer root
	}
	root := f.add(node{parent: -1, kind: ptrace.SpanKindServer, svc: 0, peer: -1, rt: g.pickRoute(0)}, -1)
	budget--
	queue := []int{root}
	splitPending := f.split
	for budget > 0 {
		if len(queue) == 0 {
			queue = append(queue, root)
		}
		i := queue[0]
		queue = queue[1:]
		if splitPending && f.nodes[i].parent >= 0 && len(g.topo.services[f.nodes[i].svc].topics) > 0 {
			queue = append(queue, g.addAsync(f, i, true))
			splitPending = false
		}
		for ops := 1 + g.rng.IntN(3); ops > 0 && budget > 0; ops-- {
			var next int
			next, budget = g.addOp(f, i, budget)
			if next >= 0 {
				queue = append(queue, next)
			}
		}
	}
	if splitPending { // no inner publisher came up: the frontend publishes
		g.addAsync(f, root, true)
	}
	g.place(f, root, 0)
	g.addError(f)
	g.addKeys(f)
}

// add appends n, linked to node from (its parent, or the producer of a split
// consumer root), and returns its index.
func (f *flow) add(n node, from int) int {
	n.link = from
	if from >= 0 && n.trace == 0 {
		n.trace = f.nodes[from].trace
	}
	f.nodes = append(f.nodes, n)
	i := len(f.nodes) - 1
	if from >= 0 {
		f.nodes[from].children = append(f.nodes[from].children, i)
	}
	return i
}

func (g *generator) pickRoute(svc int) *route {
	rs := g.topo.services[svc].routes
	return &rs[g.rng.IntN(len(rs))]
}

// addOp adds one operation under span i: a database call (1 span), a
// synchronous call (CLIENT + SERVER) or an async publish (PRODUCER +
// CONSUMER). It returns the span to expand later (or -1) and the budget left.
func (g *generator) addOp(f *flow, i, budget int) (int, int) {
	svc := &g.topo.services[f.nodes[i].svc]
	r := g.rng.Float64()
	switch {
	case r < 0.6 && budget >= 2 && len(svc.calls) > 0:
		callee := svc.calls[g.rng.IntN(len(svc.calls))]
		rt := g.pickRoute(callee)
		c := f.add(node{parent: i, kind: ptrace.SpanKindClient, svc: f.nodes[i].svc, peer: callee, rt: rt}, i)
		s := f.add(node{parent: c, kind: ptrace.SpanKindServer, svc: callee, peer: -1, rt: rt}, c)
		return s, budget - 2
	case r < 0.7 && budget >= 2 && len(svc.topics) > 0:
		return g.addAsync(f, i, false), budget - 2
	default:
		op := &svc.ops[g.rng.IntN(len(svc.ops))]
		f.add(node{parent: i, kind: ptrace.SpanKindInternal, svc: f.nodes[i].svc, peer: -1, rt: op}, i)
		return -1, budget - 1
	}
}

// addAsync adds a PRODUCER under i and its CONSUMER; with split the
// consumer lost the context and roots a trace of its own.
func (g *generator) addAsync(f *flow, i int, split bool) int {
	svc := &g.topo.services[f.nodes[i].svc]
	consumer := svc.topics[g.rng.IntN(len(svc.topics))]
	p := f.add(node{parent: i, kind: ptrace.SpanKindProducer, svc: f.nodes[i].svc, peer: consumer}, i)
	c := node{parent: p, kind: ptrace.SpanKindConsumer, svc: consumer, peer: -1, rt: &g.topo.services[consumer].routes[0]}
	if split {
		c.parent, c.trace = -1, 1
		if f.traceIDs[1].IsEmpty() {
			f.traceIDs[1] = g.traceID()
		}
	}
	return f.add(c, p)
}

// place times span i starting at start and returns its end: synchronous
// children run one after the other inside their parent; a consumer starts
// after its producer ends and may outlive everything (async).
func (g *generator) place(f *flow, i int, start int64) int64 {
	n := &f.nodes[i]
	n.start = start
	switch n.kind {
	case ptrace.SpanKindInternal:
		n.end = start + n.rt.sample(g.rng)
	case ptrace.SpanKindClient:
		net := 100_000 + g.rng.Int64N(900_000)
		n.end = g.place(f, n.children[0], start+net/2) + net/2
	case ptrace.SpanKindProducer:
		n.end = start + 300_000 + g.rng.Int64N(2_000_000)
		queued := 1_000_000 + g.rng.Int64N(40_000_000)
		g.place(f, n.children[0], n.end+queued)
	default: // SERVER, CONSUMER
		self := n.rt.sample(g.rng)
		t := start + self/5
		for _, c := range n.children {
			t = g.place(f, c, t) + 20_000
		}
		n.end = t + self - self/5
	}
	return n.end
}

// addError fails one inner call of an errorRate share of flows; the error
// propagates to every caller up to the root (a 500 all the way up).
func (g *generator) addError(f *flow) {
	if g.rng.Float64() >= g.opts.errorRate {
		return
	}
	var servers []int
	for i := range f.nodes {
		if f.nodes[i].kind == ptrace.SpanKindServer && f.nodes[i].parent >= 0 {
			servers = append(servers, i)
		}
	}
	i := 0
	if len(servers) > 0 {
		i = servers[g.rng.IntN(len(servers))]
	}
	for ; i >= 0; i = f.nodes[i].parent {
		f.nodes[i].err = true
	}
}

// addKeys puts business keys on inner spans only (never on the main root):
// order_id, user.id (+ user_tier), 1-3 skus, tenant, sometimes canary. A
// split flow's producer and its consumer root both carry the order_id.
func (g *generator) addKeys(f *flow) {
	if !f.split && g.rng.Float64() >= g.opts.keyedShare {
		return
	}
	var inner []int
	for i := range f.nodes {
		if f.nodes[i].trace == 0 && f.nodes[i].parent >= 0 {
			inner = append(inner, i)
		}
	}
	f.orderID = fmt.Sprintf("ORD-%s-%d", g.tag, f.seq)
	pick := func() *node { return &f.nodes[inner[g.rng.IntN(len(inner))]] }
	pick().addKey("order_id", f.orderID)
	u := pick()
	u.addKey("user.id", fmt.Sprintf("u-%d", g.rng.IntN(100_000)))
	u.addKey("user_tier", tiers[weighted(g.rng.Float64(), tierWeights)])
	for range 1 + g.rng.IntN(3) {
		pick().addKey("sku", fmt.Sprintf("SKU-%d", g.rng.IntN(5_000)))
	}
	pick().addKey("tenant", tenants[g.rng.IntN(len(tenants))])
	if g.rng.Float64() < 0.01 {
		pick().addKey("canary", "true")
	}
	for i := range f.nodes {
		if f.nodes[i].trace == 1 && f.nodes[i].parent < 0 {
			f.nodes[i].addKey("order_id", f.orderID)
			f.nodes[f.nodes[i].link].addKey("order_id", f.orderID)
		}
	}
}

func (n *node) addKey(k, v string) { n.keys = append(n.keys, keyValue{k, v}) }

var (
	tiers       = []string{"vip", "gold", "standard"}
	tierWeights = []float64{0.03, 0.2, 0.77}
	tenants     = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"}
)

// weighted returns the index whose cumulative weight first exceeds u.
func weighted(u float64, w []float64) int {
	for i, x := range w {
		if u < x {
			return i
		}
		u -= x
	}
	return len(w) - 1
}
