package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
)

func TestParseAblation(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"logs", []string{"logs"}, ""},
		{"metrics,logs", []string{"logs", "metrics"}, ""},
		{"logs, status,logs", []string{"logs", "status"}, ""},
		{"logs,traces", nil, `-without: unknown signal family "traces" (one of [logs status metrics])`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := parseAblation(tt.in)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, a.names())
		})
	}
}

// TestAblationApply: each family goes from the history and every case,
// the rest stays in order; the days passed in keep every event (the
// cross-validation trains on them).
func TestAblationApply(t *testing.T) {
	events := func() []nezha.Event {
		return []nezha.Event{
			{At: 1, Span: &nezha.Span{Pod: "a-1-2"}}, {At: 2, Log: &nezha.LogLine{Pod: "a-1-2"}},
			{At: 3, Metric: &nezha.Sample{Pod: "a-1-2"}}, {At: 4, Span: &nezha.Span{Pod: "b-1-2"}},
		}
	}
	kinds := func(evs []nezha.Event) (out string) {
		for _, e := range evs {
			switch {
			case e.Span != nil:
				out += "s"
			case e.Log != nil:
				out += "l"
			case e.Metric != nil:
				out += "m"
			}
		}
		return out
	}
	tests := []struct {
		without       string
		want          string
		logs, samples int
	}{
		{"", "slms", 0, 0},
		{"status", "slms", 0, 0},
		{"logs", "sms", 2, 0},
		{"metrics", "sls", 0, 2},
		{"logs,status,metrics", "ss", 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.without, func(t *testing.T) {
			a, err := parseAblation(tt.without)
			require.NoError(t, err)
			all := []dayCases{{history: events(), cases: []nezha.Case{{Events: events()}}}}
			out, logs, samples := a.apply(all)
			assert.Equal(t, tt.want, kinds(out[0].history))
			assert.Equal(t, tt.want, kinds(out[0].cases[0].Events))
			assert.Equal(t, []int{tt.logs, tt.samples}, []int{logs, samples})
			assert.Equal(t, "slms", kinds(all[0].history))
			assert.Equal(t, "slms", kinds(all[0].cases[0].Events))
		})
	}
}

// TestReplayCarriesNoStatus guards the status ablation, which clears
// nothing: the replay's spans have status UNSET, no attributes and no
// events. If the replay ever sends status, ablation.apply must clear it.
func TestReplayCarriesNoStatus(t *testing.T) {
	evs := []nezha.Event{
		{At: 5, Span: &nezha.Span{TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", ParentID: "root", Pod: "ts-order-service-6f6cfc45b-h5m2n", Operation: "POST /order", StartNano: 1, EndNano: 5}},
		{At: 6, Log: &nezha.LogLine{Pod: "ts-order-service-6f6cfc45b-h5m2n", Level: "ERROR", TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Message: "boom"}},
	}
	spans := 0
	nezha.Batches(evs, 100, func(td ptrace.Traces, _ plog.Logs, _ pmetric.Metrics) {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					spans++
					assert.Equal(t, ptrace.StatusCodeUnset, sp.Status().Code())
					assert.Equal(t, 0, sp.Attributes().Len())
					assert.Equal(t, 0, sp.Events().Len())
				}
			}
		}
	})
	assert.Equal(t, 1, spans)
}

// TestWriteJSON: without an ablation or -mask the file is the summary
// alone (as before -without existed); with one it gains "without", with
// -mask "mask" and each method's "culprit_hidden".
func TestWriteJSON(t *testing.T) {
	summary := map[string]scores{"gnn": {Cases: 2, AC1: 0.5, AC3: 1, Avg5: 0.9}}
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.json")
	require.NoError(t, writeJSON(plain, summary, ablation{}, masking{}))
	got, err := os.ReadFile(plain)
	require.NoError(t, err)
	want, err := json.MarshalIndent(summary, "", "  ")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))

	abl := filepath.Join(dir, "abl.json")
	require.NoError(t, writeJSON(abl, summary, ablation{logs: true, status: true}, masking{}))
	got, err = os.ReadFile(abl)
	require.NoError(t, err)
	var v struct {
		Without []string `json:"without"`
		GNN     scores   `json:"gnn"`
	}
	require.NoError(t, json.Unmarshal(got, &v))
	assert.Equal(t, []string{"logs", "status"}, v.Without)
	assert.Equal(t, summary["gnn"], v.GNN)

	masked := filepath.Join(dir, "mask.json")
	hidden := scores{Cases: 1, AC1: 1, AC3: 1, Avg5: 1}
	summary["gnn"] = scores{Cases: 2, AC1: 0.5, AC3: 1, Avg5: 0.9, CulpritHidden: &hidden}
	require.NoError(t, writeJSON(masked, summary, ablation{}, masking{n: 3, seeds: []uint64{1, 2}}))
	got, err = os.ReadFile(masked)
	require.NoError(t, err)
	var mv struct {
		Without []string `json:"without"`
		Mask    maskJSON `json:"mask"`
		GNN     scores   `json:"gnn"`
	}
	require.NoError(t, json.Unmarshal(got, &mv))
	assert.Empty(t, mv.Without)
	assert.Equal(t, maskJSON{N: 3, Seeds: []uint64{1, 2}}, mv.Mask)
	assert.Equal(t, summary["gnn"], mv.GNN)
}
