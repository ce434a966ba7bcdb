package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/otelcol-biz/otelcol-biz/internal/rcasim"
	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// crossMethods are the methods the cross-shape table scores.
var crossMethods = slices.Concat(rootcause.Methods, rootcause.BenchMethods)

// shopVariants are the shop's test scenarios replayed again without a
// signal family: a gRPC shop that never sets span status (no logs
// either, as the shop ships), or whose pods report no metrics.
var shopVariants = []struct {
	name    string
	missing rcatrain.Missing
}{
	{"grpc_shop, no status", rcatrain.Missing{Status: true}},
	{"grpc_shop, no metrics", rcatrain.Missing{Metrics: true}},
}

// entryTests is how many scenarios of each entry-culprit test set the
// per-fault table scores (10 of each kind).
const entryTests = 30

// crossTestSeed offsets the test scenarios' seed from the training ones.
const crossTestSeed = 1_000_003

// crossShapes trains, for each shape, on train scenarios of each other
// shape (simulator only, families dropped as in training) and scores the
// gnn and the baselines on test fresh scenarios of the held-out shape, as
// that shape ships them (no families dropped); a last row per shape trains
// on all three for reference (in-distribution). The shop's test scenarios
// are scored again without span status and without pod metrics
// (shopVariants). The per-fault table adds scenarios whose culprit
// is the shop's frontend or the chain's gateway.
func crossShapes(train, test int, seed uint64, epochs int) error {
	start := time.Now()
	s := rcatrain.Defaults
	trainSets := map[rcasim.Shape][]rcatrain.Labeled{}
	testSets := map[rcasim.Shape][]rcatrain.Labeled{}
	for _, sh := range rcasim.Shapes {
		var err error
		if trainSets[sh], err = rcatrain.ShapeExamples(sh, train, seed, s, true); err != nil {
			return err
		}
		if testSets[sh], err = rcatrain.ShapeExamples(sh, test, seed+crossTestSeed, s, false); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: %d training, %d test windows (%s)\n", sh, len(trainSets[sh]), len(testSets[sh]), time.Since(start).Round(time.Millisecond))
	}
	// the shop's test scenarios again without a family (shopVariants)
	variants := make([][]rcatrain.Labeled, len(shopVariants))
	var err error
	for i, v := range shopVariants {
		if variants[i], err = rcatrain.ShapeExamplesWithout(rcasim.ShapeGRPCShop, test, seed+crossTestSeed, s, v.missing); err != nil {
			return err
		}
	}
	// the scenarios whose culprit is the entry service, where a shape's
	// can be (the shop's frontend, the chain's gateway): the shop's also
	// without status
	type entrySet struct {
		name    string
		shape   rcasim.Shape
		missing rcatrain.Missing
		set     []rcatrain.Labeled
	}
	entries := []entrySet{
		{name: "grpc_shop, entry culprit", shape: rcasim.ShapeGRPCShop},
		{name: "grpc_shop, entry, no status", shape: rcasim.ShapeGRPCShop, missing: rcatrain.Missing{Status: true}},
		{name: "deep_chain, entry culprit", shape: rcasim.ShapeDeepChain},
	}
	for i, e := range entries {
		if entries[i].set, err = rcatrain.EntryExamples(e.shape, entryTests, seed+crossTestSeed, s, e.missing); err != nil {
			return err
		}
	}
	cfg := rcatrain.TrainConfig
	cfg.Seed, cfg.Epochs = seed, epochs
	fit := func(shapes []rcasim.Shape) *rootcause.Model {
		var ex []rcatrain.Labeled
		for _, sh := range shapes {
			ex = append(ex, trainSets[sh]...)
		}
		return rcatrain.Fit(ex, cfg)
	}
	all := fit(rcasim.Shapes)
	held := map[rcasim.Shape]*rootcause.Model{}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "test shape\ttrained on\tcases")
	for _, m := range crossMethods {
		fmt.Fprintf(tw, "\t%s AC@1/AC@3", m)
	}
	fmt.Fprintln(tw)
	row := func(test, trained string, model *rootcause.Model, set []rcatrain.Labeled) error {
		fmt.Fprintf(tw, "%s\t%s\t%d", test, trained, len(set))
		for _, name := range crossMethods {
			m, err := rootcause.NewMethod(name, model)
			if err != nil {
				return err
			}
			ac1, ac3 := accuracy(m, set)
			fmt.Fprintf(tw, "\t%.3f / %.3f", ac1, ac3)
		}
		fmt.Fprintln(tw)
		return nil
	}
	for _, h := range rcasim.Shapes {
		others := slices.DeleteFunc(slices.Clone(rcasim.Shapes), func(sh rcasim.Shape) bool { return sh == h })
		rows := []struct {
			name  string
			model *rootcause.Model
		}{
			{fmt.Sprintf("%s + %s", others[0], others[1]), fit(others)},
			{"all three (reference)", all},
		}
		held[h] = rows[0].model
		for _, r := range rows {
			if err := row(string(h), r.name, r.model, testSets[h]); err != nil {
				return err
			}
		}
		if h == rcasim.ShapeGRPCShop {
			for _, r := range rows {
				for i, v := range shopVariants {
					if err := row(v.name, r.name, r.model, variants[i]); err != nil {
						return err
					}
				}
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// by fault kind, the held-out shape's two-shape model
	fmt.Println()
	fmt.Fprint(tw, "test shape\tfault\tcases")
	for _, m := range crossMethods {
		fmt.Fprintf(tw, "\t%s", m)
	}
	fmt.Fprintln(tw)
	type testSet struct {
		name  string
		model *rootcause.Model
		set   []rcatrain.Labeled
	}
	var sets []testSet
	for _, h := range rcasim.Shapes {
		sets = append(sets, testSet{string(h), held[h], testSets[h]})
		if h == rcasim.ShapeGRPCShop {
			for i, v := range shopVariants {
				sets = append(sets, testSet{v.name, held[h], variants[i]})
			}
		}
	}
	for _, e := range entries {
		sets = append(sets, testSet{e.name, held[e.shape], e.set})
	}
	for _, ts := range sets {
		byFault := map[string][]rcatrain.Labeled{}
		for _, l := range ts.set {
			byFault[l.Fault] = append(byFault[l.Fault], l)
		}
		for _, f := range slices.Sorted(maps.Keys(byFault)) {
			fmt.Fprintf(tw, "%s\t%s\t%d", ts.name, f, len(byFault[f]))
			for _, name := range crossMethods {
				m, err := rootcause.NewMethod(name, ts.model)
				if err != nil {
					return err
				}
				ac1, ac3 := accuracy(m, byFault[f])
				fmt.Fprintf(tw, "\t%.2f / %.2f", ac1, ac3)
			}
			fmt.Fprintln(tw)
		}
	}
	fmt.Fprintf(os.Stderr, "done (%s)\n", time.Since(start).Round(time.Millisecond))
	return tw.Flush()
}

// accuracy is AC@1 and AC@3 of m over examples (ties at the worst rank).
func accuracy(m rootcause.Method, examples []rcatrain.Labeled) (ac1, ac3 float64) {
	if len(examples) == 0 {
		return 0, 0
	}
	for _, l := range examples {
		scores, _ := m.Score(l.Graph)
		r := rank(scores, l.Target)
		if r == 1 {
			ac1++
		}
		if r <= 3 {
			ac3++
		}
	}
	n := float64(len(examples))
	return ac1 / n, ac3 / n
}
