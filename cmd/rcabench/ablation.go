package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/internal/rcatrain"
)

// ablation is the signal families a run replays without (-without).
type ablation struct {
	logs, status, metrics bool
}

// ablationNames are the -without values, in the order Names lists them.
var ablationNames = []string{"logs", "status", "metrics"}

// parseAblation reads -without: a comma-separated list of ablationNames.
func parseAblation(s string) (ablation, error) {
	var a ablation
	if s == "" {
		return a, nil
	}
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "logs":
			a.logs = true
		case "status":
			a.status = true
		case "metrics":
			a.metrics = true
		default:
			return ablation{}, fmt.Errorf("-without: unknown signal family %q (one of %v)", name, ablationNames)
		}
	}
	return a, nil
}

// names are the families left out, in ablationNames order.
func (a ablation) names() []string {
	var out []string
	for i, on := range []bool{a.logs, a.status, a.metrics} {
		if on {
			out = append(out, ablationNames[i])
		}
	}
	return out
}

// apply returns the days without the families, leaving all as it is:
// every method's replays and -explain see the reduced data, while the gnn
// cross-validation trains on all (cv.go). Status has nothing to clear: the
// dataset's spans carry no status, kind or attributes, and nezha.Batches
// emits them UNSET without attributes or events (TestReplayCarriesNoStatus);
// a span's only error signal is an ERROR log line with its ids, which logs
// removes.
func (a ablation) apply(all []dayCases) (out []dayCases, removedLogs, removedSamples int) {
	if !a.logs && !a.metrics {
		return all, 0, 0
	}
	m := rcatrain.Missing{Logs: a.logs, Metrics: a.metrics}
	keep := func(evs []nezha.Event) []nezha.Event {
		kept, logs, samples := m.Events(evs)
		removedLogs, removedSamples = removedLogs+logs, removedSamples+samples
		return kept
	}
	out = make([]dayCases, len(all))
	for d, dc := range all {
		out[d] = dayCases{history: keep(dc.history), cases: slices.Clone(dc.cases)}
		for c := range out[d].cases {
			out[d].cases[c].Events = keep(dc.cases[c].Events)
		}
	}
	return out, removedLogs, removedSamples
}
