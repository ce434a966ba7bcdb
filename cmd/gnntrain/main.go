// Command gnntrain trains the gnn_root_cause network and writes its weights
// file: deterministic for a given seed (a second run writes the same
// bytes). It simulates faults on real-shaped call graphs (internal/rcasim),
// each scenario without the signal families it draws (no logs, no span
// status, no pod metrics, services without logs), and replays the Nezha
// development cases as recorded, without logs and without pod metrics,
// all through the connector's engine, and fits the network (five members
// from different initial weights, trained at once on as many cores) on
// the simulator's scored windows and every window of each Nezha case's
// fault (internal/rcatrain). The default output is the file embedded in
// the build; -out elsewhere makes a file for the connector's `model` option.
//
//	go run ./cmd/gnntrain -data .cache/datasets/nezha-tt-dev
//
// Honest accuracy comes from cmd/rcabench, which cross-validates this same
// training (each fold trained without its cases).
//
// The simulator draws three system shapes (rcasim.Shapes): TrainTicket
// (-sim scenarios), a gRPC shop and a deep chain with a Kafka hop
// (-shape-sim each). -cross-shape writes no weights: for each shape it
// trains on the other two (simulator only) and prints AC@1/AC@3 of the gnn
// and the baselines on fresh scenarios of the held-out one:
//
//	go run ./cmd/gnntrain -cross-shape
package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
)

func main() {
	data := flag.String("data", nezha.DefaultDir, "the Nezha dataset folder (the default is extracted from ../shared/datasets on first use); empty: simulator only")
	days := flag.String("day", "2023-01-29,2023-01-30", "comma-separated days of the dataset")
	sims := flag.Int("sim", rcatrain.SimScenarios, "simulated TrainTicket-shaped fault scenarios")
	shapeSims := flag.Int("shape-sim", rcatrain.ShapeScenarios, "simulated fault scenarios of each other shape (gRPC shop, deep chain)")
	crossShape := flag.Bool("cross-shape", false, "train on two shapes, test on the third, for each shape; print the table and write nothing")
	crossTrain := flag.Int("cross-train", 150, "-cross-shape: training scenarios per shape")
	crossTest := flag.Int("cross-test", 100, "-cross-shape: test scenarios of the held-out shape")
	seed := flag.Uint64("seed", rcatrain.TrainConfig.Seed, "seed of the simulator and the weight initialisation")
	epochs := flag.Int("epochs", rcatrain.TrainConfig.Epochs, "full-batch Adam epochs")
	out := flag.String("out", "internal/rootcause/gnn_model.json", "weights file to write")
	flag.Parse()
	var err error
	switch {
	case *crossShape:
		err = crossShapes(*crossTrain, *crossTest, *seed, *epochs)
	case *data == nezha.DefaultDir:
		if _, err = nezha.Dir("."); err == nil {
			err = run(*data, strings.Split(*days, ","), *sims, *shapeSims, *seed, *epochs, *out)
		}
	default:
		err = run(*data, strings.Split(*days, ","), *sims, *shapeSims, *seed, *epochs, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnntrain:", err)
		os.Exit(1)
	}
}

func run(data string, days []string, sims, shapeSims int, seed uint64, epochs int, out string) error {
	start := time.Now()
	s := rcatrain.Defaults
	examples, err := rcatrain.TrainExamples(sims, shapeSims, seed, s)
	if err != nil {
		return err
	}
	fmt.Printf("simulated %d windows (%s)\n", len(examples), time.Since(start).Round(time.Millisecond))
	if data != "" {
		for _, day := range days {
			history, cases, err := nezha.ReplayDay(data, day)
			if err != nil {
				return err
			}
			for _, c := range cases {
				ls, err := rcatrain.CaseExamples(c, history, s)
				if err != nil {
					return err
				}
				if len(ls) == 0 {
					fmt.Printf("  %s: faulty service in no window of the fault, skipped\n", rcatrain.CaseID(c))
					continue
				}
				examples = append(examples, ls...)
			}
		}
	}
	fmt.Printf("%d training windows (%s)\n", len(examples), time.Since(start).Round(time.Millisecond))
	cfg := rcatrain.TrainConfig
	cfg.Seed, cfg.Epochs = seed, epochs
	m := rcatrain.Fit(examples, cfg)
	hits := map[string][2]int{}
	for _, l := range examples {
		scores, _ := m.Score(l.Graph)
		k := l.Fault
		if rcatrain.IsSim(l) {
			k = l.Source + "/" + k
		}
		h := hits[k]
		h[1]++
		if rank(scores, l.Target) == 1 {
			h[0]++
		}
		hits[k] = h
	}
	fmt.Printf("trained: loss %.4f (%s)\nin-sample AC@1 (optimistic; cmd/rcabench cross-validates):\n", m.Trained.Loss, time.Since(start).Round(time.Millisecond))
	for _, k := range slices.Sorted(maps.Keys(hits)) {
		h := hits[k]
		fmt.Printf("  %-28s %3d/%3d\n", k, h[0], h[1])
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// rank is the target's rank, ties at the worst.
func rank(scores []float64, target int) int {
	r := 0
	for _, s := range scores {
		if s >= scores[target] {
			r++
		}
	}
	return r
}
