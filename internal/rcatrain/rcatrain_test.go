package rcatrain

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func result(start, end int64, report bool, services ...string) rootcause.Result {
	g := &rootcause.Graph{Start: start, End: end}
	for _, s := range services {
		g.Nodes = append(g.Nodes, rootcause.Node{Service: s})
	}
	r := rootcause.Result{Graph: g}
	if report {
		r.Report = &rootcause.Report{}
	}
	return r
}

// TestFeederWindows: the scored window is the first reported one ending at
// or after due; the fault's windows are the reported ones wholly inside
// [from, to).
func TestFeederWindows(t *testing.T) {
	f := &Feeder{due: 125, from: 100, to: 200}
	f.take([]rootcause.Result{
		result(70, 100, true),   // before the fault
		result(90, 120, true),   // straddles its start
		result(100, 130, true),  // starts with it: scored (ends after due) and inside
		result(130, 160, false), // no report
		result(170, 200, true),  // ends with it
		result(190, 220, true),  // straddles its end
	})
	require.NotNil(t, f.Graph)
	assert.Equal(t, int64(100), f.Graph.Start)
	var starts []int64
	for _, g := range f.during {
		starts = append(starts, g.Start)
	}
	assert.Equal(t, []int64{100, 170}, starts)
}

// TestWeighCase: a case's windows holding its faulty service share
// DatasetWeight; without any, the case contributes nothing.
func TestWeighCase(t *testing.T) {
	c := nezha.Case{Fault: nezha.Fault{InjectTime: time.Unix(100, 0).UTC(), Service: "ts-basic-service", Type: "exception"}}
	windows := []*rootcause.Graph{
		result(0, 30, true, "ts-gateway-service", "ts-basic-service").Graph,
		result(30, 60, true, "ts-gateway-service").Graph, // faulty service silent
		result(60, 90, true, "ts-basic-service").Graph,
	}
	ls := weighCase(windows, c)
	require.Len(t, ls, 2)
	var sum float64
	for _, l := range ls {
		assert.Equal(t, "ts-basic-service", l.Graph.Nodes[l.Target].Service)
		assert.Equal(t, CaseID(c), l.Source)
		sum += l.Weight
	}
	assert.InDelta(t, DatasetWeight, sum, 1e-12)
	assert.Nil(t, weighCase(windows[1:2], c))
	assert.Nil(t, weighCase(nil, c))
}

// TestDataEnd: the last span or log line; pod metrics run on by the minute.
func TestDataEnd(t *testing.T) {
	events := []nezha.Event{
		{At: 10, Span: &nezha.Span{}},
		{At: 30, Log: &nezha.LogLine{}},
		{At: 20, Span: &nezha.Span{}},
		{At: 90, Metric: &nezha.Sample{}},
	}
	assert.Equal(t, int64(30), dataEnd(events))
}
