package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// TestExplainRival: -explain names the service the shipped weights rank
// first, and prints a node's features with its rank by each alone (ties at the worst).
func TestExplainRival(t *testing.T) {
	g := &rootcause.Graph{Nodes: make([]rootcause.Node, 3)}
	for i, name := range []string{"gateway", "orders", "payment"} {
		g.Nodes[i].Service = name
	}
	g.Nodes[2].X[rootcause.FeatErrorRate] = 12
	g.Nodes[2].X[rootcause.FeatErrorLogs] = 9
	g.Nodes[1].X[rootcause.FeatErrorRate] = 2
	g.Edges = []rootcause.Edge{{From: 0, To: 1}, {From: 1, To: 2}}
	assert.Equal(t, 2, firstByShipped(g))

	var b strings.Builder
	printFeatures(&b, g, 1)
	out := b.String()
	assert.Contains(t, out, " error=2.0#2 ")
	assert.True(t, strings.HasPrefix(out, " self_=0.0#3 "), out)
}
