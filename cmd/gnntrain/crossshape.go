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

// extraSets are test scenarios beyond each shape as it ships, scored with
// the held-out shape's model: the shop replayed without a signal family (a
// gRPC shop that never sets span status nor records its answers' sizes,
// and ships no logs either; one without the sizes only; one whose pods
// report no metrics), scenarios whose culprit is the entry service
// (the shop's frontend, the chain's gateway), entryTests of each, and
// scenarios whose culprit sends nothing (a blind spot: its callers' CLIENT
// spans name it).
var extraSets = []struct {
	name    string
	shape   rcasim.Shape
	missing rcatrain.Missing
	entry   bool
}{
	{"grpc_shop, no status or sizes", rcasim.ShapeGRPCShop, rcatrain.Missing{Status: true, Sizes: true}, false},
	{"grpc_shop, no sizes", rcasim.ShapeGRPCShop, rcatrain.Missing{Sizes: true}, false},
	{"grpc_shop, no metrics", rcasim.ShapeGRPCShop, rcatrain.Missing{Metrics: true}, false},
	{"grpc_shop, entry culprit", rcasim.ShapeGRPCShop, rcatrain.Missing{}, true},
	{"grpc_shop, entry, no status or sizes", rcasim.ShapeGRPCShop, rcatrain.Missing{Status: true, Sizes: true}, true},
	{"deep_chain, entry culprit", rcasim.ShapeDeepChain, rcatrain.Missing{}, true},
	{"grpc_shop, culprit hidden", rcasim.ShapeGRPCShop, rcatrain.Missing{HideCulprit: true}, false},
	{"deep_chain, culprit hidden", rcasim.ShapeDeepChain, rcatrain.Missing{HideCulprit: true}, false},
	{"grpc_shop, two others hidden", rcasim.ShapeGRPCShop, rcatrain.Missing{HideBystanders: 2}, false},
	{"deep_chain, two others hidden", rcasim.ShapeDeepChain, rcatrain.Missing{HideBystanders: 2}, false},
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
// on all three for reference (in-distribution). Both tables add the
// extraSets: the entry-service culprits only the per-fault one.
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
	extras := make([][]rcatrain.Labeled, len(extraSets))
	for i, x := range extraSets {
		var err error
		if x.entry {
			extras[i], err = rcatrain.EntryExamples(x.shape, entryTests, seed+crossTestSeed, s, x.missing)
		} else {
			extras[i], err = rcatrain.ShapeExamplesWithout(x.shape, test, seed+crossTestSeed, s, x.missing)
		}
		if err != nil {
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
		for _, r := range rows {
			for i, x := range extraSets {
				if x.shape != h || x.entry {
					continue
				}
				if err := row(x.name, r.name, r.model, extras[i]); err != nil {
					return err
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
		for i, x := range extraSets {
			if x.shape == h && !x.entry {
				sets = append(sets, testSet{x.name, held[h], extras[i]})
			}
		}
	}
	for i, x := range extraSets {
		if x.entry {
			sets = append(sets, testSet{x.name, held[x.shape], extras[i]})
		}
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
