package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// node is one span of a flow. Times are nanoseconds from the flow's start.
type node struct {
	parent   int // index in flow.nodes; -1 for a trace root
	link     int // the node it was created under (a split consumer root: its producer)
	trace    int // 0: the flow's trace; 1: the trace a lost async context split off
	kind     ptrace.SpanKind
	svc      int
	rt       *route
	peer     int // CLIENT: the callee service; PRODUCER: the consumer service
	children []int
	spanID   pcommon.SpanID
	start    int64
	end      int64
	err      bool
	keys     []keyValue // business keys (inner spans only)
}

type keyValue struct{ key, value string }

// logSpec is one log record written while a span ran.
type logSpec struct {
	node int
	json bool
	msg  string
}

// flow is one business flow: one trace, or two when an async hop lost its
// context (the consumer's trace then starts with a CONSUMER root).
type flow struct {
	seq      uint64
	traceIDs [2]pcommon.TraceID
	nodes    []node
	logs     []logSpec
	split    bool
	orderID  string
	simStart int64 // simulated start (the emitter starts one flow every gap)
	base     int64 // wall-clock ns of the flow's start, set when its first span is emitted
	hasBase  bool
}

// genOptions shape the generated traffic.
type genOptions struct {
	flat       bool
	logs       int     // log records per flow
	splitShare float64 // flows split in two traces by a lost async context
	errorRate  float64 // flows with a failing call
	keyedShare float64 // flows carrying business keys (the rest: browsing, health checks)
}

// generator builds flows from a topology; the same seed yields the same flows.
type generator struct {
	rng  *rand.Rand
	topo *topology
	opts genOptions
	seq  uint64
	tag  string // order id prefix, unique per worker
}

func newGenerator(seed uint64, worker int, topo *topology, opts genOptions) *generator {
	return &generator{
		rng:  rand.New(rand.NewPCG(seed, uint64(worker)+1)),
		topo: topo,
		opts: opts,
		tag:  fmt.Sprintf("%x%d", seed&0xffff, worker),
	}
}

// next returns the next flow.
func (g *generator) next() *flow {
	g.seq++
	f := &flow{seq: g.seq}
	f.traceIDs[0] = g.traceID()
	if g.opts.flat {
		g.buildFlat(f)
	} else {
		g.buildTree(f)
	}
	for i := range f.nodes {
		f.nodes[i].spanID = g.spanID()
	}
	g.addLogs(f)
	return f
}

func (g *generator) traceID() pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], g.rng.Uint64())
	binary.BigEndian.PutUint64(id[8:], g.rng.Uint64()|1)
	return id
}

func (g *generator) spanID() pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], g.rng.Uint64()|1)
	return id
}

// flatSpans is the size of a telemetrygen-like trace: a root and 9 children.
const flatSpans = 10

// buildFlat makes a telemetrygen-like trace: one service, one root, flat
// children of 123 µs each, no keys, no errors.
func (g *generator) buildFlat(f *flow) {
	f.nodes = make([]node, flatSpans)
	f.nodes[0] = node{parent: -1, kind: ptrace.SpanKindServer, peer: -1}
	var t int64
	for i := 1; i < flatSpans; i++ {
		f.nodes[i] = node{parent: 0, kind: ptrace.SpanKindClient, peer: -1, start: t, end: t + 123_000}
		f.nodes[0].children = append(f.nodes[0].children, i)
		t += 124_000
	}
	f.nodes[0].end = t
}

// addLogs attaches the flow's log records to random spans of it.
func (g *generator) addLogs(f *flow) {
	for range g.opts.logs {
		n := g.rng.IntN(len(f.nodes))
		f.logs = append(f.logs, logSpec{node: n, json: g.rng.IntN(2) == 0, msg: logMessages[g.rng.IntN(len(logMessages))]})
	}
}

var logMessages = []string{
	"request handled", "order placed", "stock reserved", "payment authorized",
	"cache miss", "retrying upstream call", "message published", "message consumed",
}
