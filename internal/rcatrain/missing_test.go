package rcatrain

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
)

// TestDrawMissing: over many scenarios about a fifth ship no logs and a
// fifth no span status, every sixth no pod metrics, and in the scenarios
// with logs about one service in five ships none; a scenario's draw
// depends on its seed alone.
func TestDrawMissing(t *testing.T) {
	services := make([]string, 30)
	for i := range services {
		services[i] = fmt.Sprintf("svc-%02d", i)
	}
	const n = 3000
	var noLogs, noStatus, noMetrics, logless, withLogs int
	for i := range n {
		m := drawMissing(i, int64(i)*7919+1, services)
		assert.Equal(t, m, drawMissing(i, int64(i)*7919+1, services))
		if m.Logs {
			noLogs++
			assert.Empty(t, m.LoglessServices, "no logs at all: no list")
		} else {
			withLogs++
			logless += len(m.LoglessServices)
		}
		if m.Status {
			noStatus++
		}
		if m.Metrics {
			noMetrics++
		}
	}
	assert.InDelta(t, noLogsShare, float64(noLogs)/n, 0.03)
	assert.InDelta(t, noStatusShare, float64(noStatus)/n, 0.03)
	assert.Equal(t, n/noMetricsPeriod, noMetrics)
	assert.InDelta(t, loglessShare, float64(logless)/float64(withLogs*len(services)), 0.01)
}

func batch() (ptrace.Traces, plog.Logs, pmetric.Metrics) {
	td := ptrace.NewTraces()
	ld := plog.NewLogs()
	md := pmetric.NewMetrics()
	for _, svc := range []string{"a", "b"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage("context deadline exceeded")
		sp.Events().AppendEmpty().SetName("exception")
		sp.Events().AppendEmpty().SetName("retry")
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", svc)
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", svc)
		rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(1)
	}
	return td, ld, md
}

// TestMissingApply: each family leaves the batch, a logless service's
// records alone go, the rest stays.
func TestMissingApply(t *testing.T) {
	td, ld, md := Missing{}.apply(batch())
	assert.Equal(t, 2, ld.LogRecordCount())
	assert.Equal(t, 2, md.DataPointCount())
	assert.Equal(t, ptrace.StatusCodeError, td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Status().Code())

	_, ld, _ = Missing{LoglessServices: map[string]bool{"b": true}}.apply(batch())
	require.Equal(t, 1, ld.ResourceLogs().Len())
	v, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get("service.name")
	assert.Equal(t, "a", v.Str())

	td, ld, md = Missing{Hidden: map[string]bool{"a": true}}.apply(batch())
	for _, n := range []int{td.ResourceSpans().Len(), ld.ResourceLogs().Len(), md.ResourceMetrics().Len()} {
		assert.Equal(t, 1, n, "a hidden service sends nothing")
	}
	v, _ = md.ResourceMetrics().At(0).Resource().Attributes().Get("service.name")
	assert.Equal(t, "b", v.Str())

	td, ld, md = Missing{Logs: true, Status: true, Metrics: true}.apply(batch())
	assert.Zero(t, ld.LogRecordCount())
	assert.Zero(t, md.DataPointCount())
	assert.Equal(t, 2, td.SpanCount(), "spans stay")
	for _, rs := range td.ResourceSpans().All() {
		sp := rs.ScopeSpans().At(0).Spans().At(0)
		assert.Equal(t, ptrace.StatusCodeUnset, sp.Status().Code())
		assert.Empty(t, sp.Status().Message())
		require.Equal(t, 1, sp.Events().Len(), "exception events go, others stay")
		assert.Equal(t, "retry", sp.Events().At(0).Name())
	}
}

// TestPickBystanders: n services other than the entry service and the
// culprit (fewer when there are not as many).
func TestPickBystanders(t *testing.T) {
	services := []string{"entry", "a", "b", "c", "d"}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		got := pickBystanders(rng, services, "b", 2)
		assert.Len(t, got, 2)
		assert.False(t, got["entry"] || got["b"], "%v", got)
		assert.Len(t, pickBystanders(rng, services, "b", 9), 3, "all the others")
	}
}

// TestMissingEvents: recorded log lines and samples leave a copy, per
// family or per service; the events passed in stay as they were.
func TestMissingEvents(t *testing.T) {
	evs := []nezha.Event{
		{At: 1, Span: &nezha.Span{Pod: "ts-a-service-6f6cfc45b-h5m2n"}},
		{At: 2, Log: &nezha.LogLine{Pod: "ts-a-service-6f6cfc45b-h5m2n"}},
		{At: 3, Log: &nezha.LogLine{Pod: "ts-b-service-6f6cfc45b-h5m2n"}},
		{At: 4, Metric: &nezha.Sample{Pod: "ts-a-service-6f6cfc45b-h5m2n"}},
	}
	at := func(evs []nezha.Event) (out []int64) {
		for _, e := range evs {
			out = append(out, e.At)
		}
		return out
	}
	kept, logs, samples := Missing{}.Events(evs)
	assert.Equal(t, []int64{1, 2, 3, 4}, at(kept))
	assert.Equal(t, []int{0, 0}, []int{logs, samples})
	kept, logs, samples = Missing{Logs: true, Metrics: true}.Events(evs)
	assert.Equal(t, []int64{1}, at(kept))
	assert.Equal(t, []int{2, 1}, []int{logs, samples})
	kept, logs, _ = Missing{LoglessServices: map[string]bool{"ts-b-service": true}}.Events(evs)
	assert.Equal(t, []int64{1, 2, 4}, at(kept))
	assert.Equal(t, 1, logs)
	assert.Equal(t, []int64{1, 2, 3, 4}, at(evs))
}
