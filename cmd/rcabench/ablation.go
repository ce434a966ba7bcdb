package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
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

// apply removes the families from the loaded events, before any replay, so
// the connector runs, the cross-validation's training replays and -explain
// all see the same data. Status has nothing to clear: the dataset's spans
// carry no status, kind or attributes, and nezha.Batches emits them UNSET
// without attributes or events (TestReplayCarriesNoStatus); a span's only
// error signal is an ERROR log line with its ids, which logs removes.
func (a ablation) apply(all []dayCases) (removedLogs, removedSamples int) {
	if !a.logs && !a.metrics {
		return 0, 0
	}
	drop := func(e nezha.Event) bool {
		if a.logs && e.Log != nil {
			removedLogs++
			return true
		}
		if a.metrics && e.Metric != nil {
			removedSamples++
			return true
		}
		return false
	}
	for d := range all {
		all[d].history = slices.DeleteFunc(all[d].history, drop)
		for c := range all[d].cases {
			all[d].cases[c].Events = slices.DeleteFunc(all[d].cases[c].Events, drop)
		}
	}
	return removedLogs, removedSamples
}
