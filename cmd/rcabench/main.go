// Command rcabench scores gnn_root_cause on the Nezha TrainTicket
// fault-injection data (../shared/datasets, see its README): for each
// labelled case it replays the day's fault-free minute, then the case's
// minutes, converted to OTLP (spans, ERROR-level logs with their trace ids,
// pod CPU/memory gauges), THROUGH THE REAL CONNECTOR (its factory and
// Consume* calls), reads the reports from the connector's logs output, and
// scores the first report whose window ends at or after inject_time + delay.
//
// The gnn method is cross-validated: the embedded weights were trained on
// these cases, so each fold is scored with weights trained (by the same
// code as cmd/gnntrain) on the simulator and the other folds' cases only.
// -model scores one weights file on every case instead.
//
// -without logs,status,metrics replays the same cases without those signal
// families (ablation.go); the gnn's cross-validation still trains as
// cmd/gnntrain does, so a fold is scored with the weights the shipped ones
// would be on a system without them. Besides the connector's methods, -methods takes
// the engine's extra baselines simple and baro (rootcause.BenchMethods).
//
// Dirty data is skipped and counted, never fatal: malformed rows per file
// (printed on stderr), and a day without history, logs or pod metrics
// files (a system whose logs were not collected) replays without them,
// saying so.
//
// -mask N replays each case with N random non-root services hidden
// entirely (mask.go), once per seed (-mask-seed, -mask-repeats), the
// culprit among them with -mask-culprit: their callers' CLIENT spans
// remain, and a hidden culprit counts as found only where the report names
// it as a blind spot. The scores pool the replays and add those of the
// replays whose culprit was hidden (culprit_hidden).
//
//	go run ./cmd/rcabench -data .cache/datasets/nezha-tt-dev -methods gnn,pagerank,tracerca,latency -json out.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

func main() {
	data := flag.String("data", nezha.DefaultDir, "the dataset folder (rca_data/<day>/..., construct_data/<day>/...); the default is extracted from ../shared/datasets on first use")
	days := flag.String("day", "", "comma-separated days (default: every rca_data/<day> folder)")
	methods := flag.String("methods", "gnn,pagerank,tracerca,latency", "comma-separated ranking methods: "+strings.Join(benchMethods(), ", "))
	delay := flag.Duration("delay", 60*time.Second, "score the first report whose window ends at or after inject_time + delay")
	window := flag.Duration("window", 30*time.Second, "the connector's window")
	baseline := flag.Duration("baseline", 3*time.Minute, "the connector's baseline (the replay has about 2.5 fault-free minutes per case)")
	model := flag.String("model", "", "gnn: score this weights file on every case instead of cross-validating")
	folds := flag.Int("folds", 5, "gnn: cross-validation folds")
	seed := flag.Uint64("seed", rcatrain.TrainConfig.Seed, "gnn: seed of the cross-validation's simulator and weight initialisation (the spread across seeds shows the training noise)")
	jsonOut := flag.String("json", "", "write the summary as JSON to this file")
	explainFlag := flag.Bool("explain", false, "print each case's root-cause features in the scored window and its rank by each feature alone, and the features of the service the shipped weights rank first when it is another one")
	without := flag.String("without", "", "replay without these signal families, comma-separated: logs (no log records), status (span status and error attributes), metrics (no pod metrics)")
	mask := flag.Int("mask", 0, "hide this many random non-root services per case entirely (their spans, logs and pod metrics; their callers' CLIENT spans remain): a hidden culprit counts as found only as a blind spot")
	maskSeed := flag.Uint64("mask-seed", 1, "-mask: the first seed of the random choice")
	maskRepeats := flag.Int("mask-repeats", 5, "-mask: replay each case with this many seeds (mask-seed, mask-seed+1, ...), scores over all replays")
	maskCulprit := flag.Bool("mask-culprit", false, "-mask: the culprit is always one of the hidden services")
	flag.Parse()
	explainOnly = *explainFlag

	abl, err := parseAblation(*without)
	if err == nil && (*mask < 0 || *maskRepeats < 1) {
		err = fmt.Errorf("-mask must be 0 or more and -mask-repeats 1 or more")
	}
	if err == nil && *data == nezha.DefaultDir {
		_, err = nezha.Dir(".")
	}
	if err == nil {
		s := settings{model: *model, delay: *delay, window: *window, baseline: *baseline, seed: *seed,
			mask: masking{n: *mask, seeds: maskSeeds(*maskSeed, *maskRepeats), culprit: *maskCulprit}}
		var dayList []string
		if dayList, err = daysOf(*data, *days); err == nil {
			err = run(*data, dayList, strings.Split(*methods, ","), s, *folds, *jsonOut, abl)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rcabench:", err)
		os.Exit(1)
	}
}

// daysOf is -day's list, or every day of the dataset's rca_data when it
// is empty: a dataset recorded on other days replays without naming them.
func daysOf(data, flagValue string) ([]string, error) {
	if flagValue != "" {
		return strings.Split(flagValue, ","), nil
	}
	days, err := nezha.Days(data)
	if err == nil && len(days) == 0 {
		err = fmt.Errorf("no rca_data/<day> folder (YYYY-MM-DD) in %s", data)
	}
	return days, err
}

func run(data string, days, methods []string, s settings, folds int, jsonOut string, abl ablation) error {
	for _, m := range methods {
		if !slices.Contains(benchMethods(), m) {
			return fmt.Errorf("unknown method %q (one of %v)", m, benchMethods())
		}
	}
	var all []dayCases
	for _, day := range days {
		d, err := nezha.LoadDay(data, day)
		if err != nil {
			return err
		}
		reportSkips(os.Stderr, data, d.Skipped)
		if len(d.Absent) > 0 {
			fmt.Fprintf(os.Stderr, "rcabench: %s: no files of %s: replayed without them\n", day, strings.Join(d.Absent, ", "))
		}
		all = append(all, dayCases{d.History, d.Cases})
	}
	scored := all
	if without := abl.names(); len(without) > 0 {
		var logs, samples int
		scored, logs, samples = abl.apply(all)
		fmt.Fprintf(os.Stderr, "rcabench: without %s: removed %d log lines, %d pod metric samples\n", strings.Join(without, ","), logs, samples)
	}
	if explainOnly {
		return explain(scored, s)
	}
	summary := map[string]scores{}
	for _, m := range methods {
		s := s
		s.method = m
		var results []caseResult
		var err error
		if m == "gnn" && s.model == "" {
			results, err = crossValidate(all, scored, s, folds)
		} else {
			results, err = replayAll(scored, s, nil)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		fmt.Printf("== %s\n", m)
		for _, r := range results {
			rank := "miss"
			if r.Rank > 0 {
				rank = fmt.Sprint(r.Rank)
			}
			hidden := ""
			if s.mask.on() {
				hidden = fmt.Sprintf(" hidden %v", r.Hidden)
			}
			fmt.Printf("%s %-15s %-30s rank %-4s top %v%s\n", r.Fault.InjectTime.Format("2006-01-02 15:04:05"), r.Fault.Type, r.Fault.Service, rank, r.Top, hidden)
		}
		summary[m] = score(results)
	}
	for _, m := range methods {
		sc := summary[m]
		fmt.Printf("\n%s: cases %d  AC@1 %.3f  AC@3 %.3f  Avg@5 %.3f\n", m, sc.Cases, sc.AC1, sc.AC3, sc.Avg5)
		for _, ft := range slices.Sorted(mapKeys(sc.ByFault)) {
			b := sc.ByFault[ft]
			fmt.Printf("  %-15s cases %2d  AC@1 %.3f  AC@3 %.3f  Avg@5 %.3f\n", ft, b.Cases, b.AC1, b.AC3, b.Avg5)
		}
		if h := sc.CulpritHidden; h != nil {
			fmt.Printf("  %-15s cases %2d  AC@1 %.3f  AC@3 %.3f  Avg@5 %.3f\n", "culprit hidden", h.Cases, h.AC1, h.AC3, h.Avg5)
		}
	}
	if jsonOut != "" {
		return writeJSON(jsonOut, summary, abl, s.mask)
	}
	return nil
}

// writeJSON writes the summary by method; an ablation adds its families
// under "without", -mask its settings under "mask", and without either the
// file is as it always was.
func writeJSON(path string, summary map[string]scores, abl ablation, mask masking) error {
	var v any = summary
	without := abl.names()
	if len(without) > 0 || mask.on() {
		m := map[string]any{}
		if len(without) > 0 {
			m["without"] = without
		}
		if mask.on() {
			m["mask"] = maskJSON{N: mask.n, Seeds: mask.seeds, Culprit: mask.culprit}
		}
		for k, sc := range summary {
			m[k] = sc
		}
		v = m
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// maskJSON is -mask in the JSON summary.
type maskJSON struct {
	N       int      `json:"n"`
	Seeds   []uint64 `json:"seeds"`
	Culprit bool     `json:"culprit"`
}

// benchMethods are the connector's methods and the engine's extra baselines.
func benchMethods() []string {
	return slices.Concat(rootcause.Methods, rootcause.BenchMethods)
}

var explainOnly bool

type dayCases struct {
	history []nezha.Event
	cases   []nezha.Case
}

// replayAll scores every case (those keep accepts, all when nil), once
// per pass (settings.passes).
func replayAll(all []dayCases, s settings, keep func(nezha.Case) bool) ([]caseResult, error) {
	var out []caseResult
	for _, d := range all {
		for _, c := range d.cases {
			if keep != nil && !keep(c) {
				continue
			}
			for _, p := range s.passes() {
				r, err := runCase(c, d.history, p)
				if err != nil {
					return nil, fmt.Errorf("case %s %s: %w", c.Fault.InjectTime, c.Fault.Service, err)
				}
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// reportSkips prints the malformed rows the readers dropped, by file
// (relative to the data folder); nothing for clean data.
func reportSkips(w io.Writer, data string, skipped map[string]nezha.Skips) {
	var total nezha.Skips
	for _, s := range skipped {
		total = total.Add(s)
	}
	if total.Total() == 0 {
		return
	}
	fmt.Fprintf(w, "rcabench: skipped %s in %d files\n", total, len(skipped))
	for _, path := range slices.Sorted(maps.Keys(skipped)) {
		name := path
		if rel, err := filepath.Rel(data, path); err == nil {
			name = rel
		}
		fmt.Fprintf(w, "rcabench:   %s: %s\n", name, skipped[path])
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
