// Command rcabench scores gnn_root_cause on the Nezha TrainTicket
// fault-injection data (../shared/datasets, see its README): for each
// labelled case it replays the day's fault-free minute, then the case's
// minutes, converted to OTLP (spans; ERROR-level logs with their trace ids),
// THROUGH THE REAL CONNECTOR (its factory and Consume* calls), reads the
// reports from the connector's logs output, and scores the first report
// whose window ends at or after inject_time + delay.
//
//	go run ./cmd/rcabench -data .cache/datasets/nezha-tt-dev -day 2023-01-29 -methods latency
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	data := flag.String("data", ".cache/datasets/nezha-tt-dev", "the dataset folder (rca_data/<day>/..., construct_data/<day>/...)")
	days := flag.String("day", "2023-01-29,2023-01-30", "comma-separated days")
	methods := flag.String("methods", "latency", "comma-separated ranking methods; implemented: latency (gnn, pagerank, tracerca: not yet)")
	delay := flag.Duration("delay", 60*time.Second, "score the first report whose window ends at or after inject_time + delay")
	window := flag.Duration("window", 10*time.Second, "the connector's window (the replay has about one fault-free minute of history)")
	baseline := flag.Duration("baseline", time.Minute, "the connector's baseline")
	jsonOut := flag.String("json", "", "write the summary as JSON to this file")
	flag.Parse()

	for _, m := range strings.Split(*methods, ",") {
		if m != "latency" {
			fmt.Fprintf(os.Stderr, "rcabench: method %q is not implemented yet (implemented: latency)\n", m)
			os.Exit(2)
		}
	}
	var results []caseResult
	for _, day := range strings.Split(*days, ",") {
		rs, err := runDay(*data, day, *delay, *window, *baseline)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rcabench:", err)
			os.Exit(1)
		}
		results = append(results, rs...)
	}
	for _, r := range results {
		rank := "miss"
		if r.Rank > 0 {
			rank = fmt.Sprint(r.Rank)
		}
		fmt.Printf("%s %-15s %-34s rank %-4s top %v\n", r.Fault.InjectTime.Format("2006-01-02 15:04:05"), r.Fault.Type, r.Fault.Service, rank, r.Top)
	}
	summary := map[string]scores{"latency": score(results)}
	for _, m := range slices.Sorted(func(yield func(string) bool) {
		for k := range summary {
			if !yield(k) {
				return
			}
		}
	}) {
		s := summary[m]
		fmt.Printf("\n%s: cases %d  AC@1 %.3f  AC@3 %.3f  Avg@5 %.3f\n", m, s.Cases, s.AC1, s.AC3, s.Avg5)
		for _, ft := range slices.Sorted(func(yield func(string) bool) {
			for k := range s.ByFault {
				if !yield(k) {
					return
				}
			}
		}) {
			b := s.ByFault[ft]
			fmt.Printf("  %-15s cases %2d  AC@1 %.3f  AC@3 %.3f  Avg@5 %.3f\n", ft, b.Cases, b.AC1, b.AC3, b.Avg5)
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(summary, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "rcabench:", err)
			os.Exit(1)
		}
	}
}
