package main

import (
	"fmt"

	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// explain prints, per case, the root cause's features in the scored window
// and its rank by each feature alone; with -mask, in the replay of the
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
			for f := range rootcause.NumNodeFeatures {
				vals := make([]float64, len(g.Nodes))
				for i := range g.Nodes {
					vals[i] = g.Nodes[i].X[f]
				}
				rank := 1
				for i, v := range vals {
					if i != t && v >= vals[t] {
						rank++
					}
				}
				fmt.Printf(" %s=%.1f#%d", rootcause.FeatureNames[f][:min(5, len(rootcause.FeatureNames[f]))], g.Nodes[t].X[f], rank)
			}
			if g.Nodes[t].BlindSpot {
				fmt.Printf(" blind spot, callers %v", g.Nodes[t].Callers)
			}
			fmt.Println()
		}
	}
	return nil
}
