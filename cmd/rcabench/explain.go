package main

import (
	"fmt"

	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// explain prints, per case, the root cause's features in the scored window
// and its rank by each feature alone.
func explain(all []dayCases, s settings) error {
	for _, d := range all {
		for _, c := range d.cases {
			g, err := rcatrain.CaseGraph(c, d.history, s.train())
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
			fmt.Println()
		}
	}
	return nil
}
