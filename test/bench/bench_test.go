//go:build bench

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMedian(t *testing.T) {
	assert.Equal(t, 0.0, median(nil))
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))
}

func TestPairedRatios(t *testing.T) {
	samples := []sample{
		{Case: "a", Round: 0, CPUPerM: 4}, {Case: "b", Round: 0, CPUPerM: 2}, {Case: "base", Round: 0, CPUPerM: 1},
		{Case: "a", Round: 1, CPUPerM: 9}, {Case: "b", Round: 1, CPUPerM: 3}, {Case: "base", Round: 1, CPUPerM: 1},
	}
	assert.Equal(t, []float64{2, 3}, pairedRatios(samples, ratio{num: "a", den: "b"}))
	assert.Equal(t, []float64{3, 4}, pairedRatios(samples, ratio{num: "a", den: "b", base: "base"}))
}

func TestParseProm(t *testing.T) {
	m, err := parseProm(strings.NewReader(`# HELP x
otelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 10
otelcol_receiver_accepted_spans{receiver="kafka",transport="kafka"} 5
otelcol_exporter_sent_spans_total{exporter="debug"} 2e+06
plain 3
`))
	require.NoError(t, err)
	assert.Equal(t, 15.0, m[metricSpansIn])
	assert.Equal(t, 2e6, m["otelcol_exporter_sent_spans"])
	assert.Equal(t, 3.0, m["plain"])
}

func TestProcReaders(t *testing.T) {
	ticks, err := cpuTicks(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ticks, uint64(0))
	hwm, err := vmHWM(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, hwm, uint64(1<<20))
}

func TestRotate(t *testing.T) {
	g := []benchCase{{name: "a"}, {name: "b"}, {name: "c"}}
	names := func(cs []benchCase) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.name)
		}
		return strings.Join(s, "")
	}
	assert.Equal(t, "abc", names(rotate(g, 0)))
	assert.Equal(t, "bca", names(rotate(g, 1)))
	assert.Equal(t, "cab", names(rotate(g, 2)))
}

func TestFuncKey(t *testing.T) {
	a := "0 0% 14.46% 0.29s 17.47% github.com/x/bizdyeprocessor.(*holdBuffer).holdSpans-range1 (inline)"
	b := "0 0% 14.46% 0.29s 17.47% github.com/x/bizdyeprocessor.(*holdBuffer).holdSpans.(*holdBuffer).holdSpans.ResourceSpansSlice.All.func2"
	assert.Equal(t, "github.com/x/bizdyeprocessor.(*holdBuffer).holdSpans", funcKey(a))
	assert.Equal(t, funcKey(a), funcKey(b))
	assert.Equal(t, "github.com/x/kafkareceiver.newTracesReceiver", funcKey("0 0% 0% 1s 5% github.com/x/kafkareceiver.newTracesReceiver.func1.1"))
}

func TestPprofOn(t *testing.T) {
	on, err := pprofOn("../../config/gateway.yaml")
	require.NoError(t, err)
	require.Len(t, on, 1, "config/gateway.yaml defines pprof and leaves it off")
	assert.Contains(t, on[0], "--config=yaml:service::extensions: [healthcheckv2, ")
	assert.True(t, strings.HasSuffix(on[0], ", pprof]"), on[0])

	on, err = pprofOn("configs/traces-gateway.yaml")
	require.NoError(t, err)
	assert.Empty(t, on, "pprof already on")
}
