package main

import (
	"fmt"
	"io"
	"os"

	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// explain prints, per case, the root cause's features in the scored window
// and its rank by each feature alone, and the features of the service the
// shipped weights rank first when it is another one; with -mask, in the replay of the
// first seed (a hidden culprit's node is its blind spot's).
func explain(all []dayCases, s settings) error {
	for _, d := range all {
		for _, c := range d.cases {
			history := d.history
			if s.mask.on() {
				var hidden []string
				c, history, hidden = s.mask.hide(c, history, s.mask.seeds[0])
				fmt.Printf("hidden %v: ", hidden)
			}
			g, err := rcatrain.CaseGraph(c, history, s.train())
			if err != nil {
				return err
			}
			if g == nil {
				fmt.Printf("%s %-15s %-30s no window\n", c.Fault.InjectTime.Format("01-02 15:04"), c.Fault.Type, c.Fault.Service)
				continue
			}
			t := g.Index(c.Fault.Service)
			fmt.Printf("%s %-15s %-30s nodes %d", c.Fault.InjectTime.Format("01-02 15:04"), c.Fault.Type, c.Fault.Service, len(g.Nodes))
			if t < 0 {
				fmt.Println(" absent")
				continue
			}
			printFeatures(os.Stdout, g, t)
			fmt.Println()
			// the shipped weights' first, when it is another service:
			// what the culprit would have to outweigh
			if first := firstByShipped(g); first >= 0 && first != t {
				fmt.Printf("  first by the shipped weights: %-30s", g.Nodes[first].Service)
				printFeatures(os.Stdout, g, first)
				fmt.Println()
			}
		}
	}
	return nil
}

// printFeatures writes node t's features to w, each with t's rank by it
// alone.
func printFeatures(w io.Writer, g *rootcause.Graph, t int) {
	for f := range rootcause.NumNodeFeatures {
		rank := 1
		for i := range g.Nodes {
			if i != t && g.Nodes[i].X[f] >= g.Nodes[t].X[f] {
				rank++
			}
		}
		fmt.Fprintf(w, " %s=%.1f#%d", rootcause.FeatureNames[f][:min(5, len(rootcause.FeatureNames[f]))], g.Nodes[t].X[f], rank)
	}
	if g.Nodes[t].BlindSpot {
		fmt.Fprintf(w, " blind spot, callers %v", g.Nodes[t].Callers)
	}
}

// firstByShipped is the node the embedded weights rank first (-1: none).
func firstByShipped(g *rootcause.Graph) int {
	m, err := rootcause.EmbeddedModel()
	if err != nil {
		return -1
	}
	scores, _ := m.Score(g)
	first := -1
	for i, sc := range scores {
		if first < 0 || sc > scores[first] {
			first = i
		}
	}
	return first
}
