package nezha

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const testDay = "2023-01-29"

// testInject is the one fault of writeDataset's day: 10:12:00 UTC.
var testInject = time.Date(2023, 1, 29, 10, 12, 0, 0, time.UTC)

// testPod is writeDataset's one pod.
const testPod = "ts-a-service-5d-x1"

// spanAt is a trace CSV row of a span ending at t.
func spanAt(id int, t time.Time) string {
	return fmt.Sprintf("52429539bacb6d03b66aaeeb95819f36,%016x,root,%s,GET /a,%d,%d,1000", id, testPod, t.UnixNano()-1e6, t.UnixNano())
}

// logAt is a log CSV row at t.
func logAt(t time.Time, text string) string {
	return fmt.Sprintf("%s,%d,n,%s,c,,,%s", t.Format(time.RFC3339), t.UnixNano(), testPod, text)
}

// writeDataset writes a one-fault day: files maps paths under the dataset
// folder to their contents, written over the defaults (an rca trace, log
// and metric file; a construct_data trace and log file). A nil content
// removes a default.
func writeDataset(t *testing.T, files map[string]*string) string {
	t.Helper()
	str := func(s string) *string { return &s }
	all := map[string]*string{
		"rca_data/2023-01-29/2023-01-29-fault_list.json": str(`{"10": [{"inject_time": "2023-01-29 10:12:00", "inject_pod": "ts-a-service-5d-x1", "inject_type": "cpu_contention"}]}`),
		"rca_data/2023-01-29/trace/10_12_trace.csv": str(traceHeader + spanAt(1, testInject.Add(10*time.Second)) + "\n" +
			spanAt(2, testInject.Add(70*time.Second)) + "\n"),
		"rca_data/2023-01-29/log/10_12_log.csv": str(logHeader + logAt(testInject.Add(20*time.Second), "ERROR boom") + "\n"),
		"rca_data/2023-01-29/metric/ts-a-service-5d-x1_metric.csv": str("TimeStamp,PodName,CpuUsageRate(%),MemoryUsageRate(%)\n" +
			fmt.Sprintf("%d,%s,50,20\n", testInject.Unix(), testPod)),
		"construct_data/2023-01-29/trace/08_50_trace.csv": str(traceHeader + spanAt(3, testInject.Add(-80*time.Minute)) + "\n"),
		"construct_data/2023-01-29/log/08_50_log.csv":     str(logHeader + logAt(testInject.Add(-80*time.Minute), "INFO fine") + "\n"),
	}
	for path, content := range files {
		all[path] = content
	}
	dir := t.TempDir()
	for path, content := range all {
		if content == nil {
			continue
		}
		full := filepath.Join(dir, filepath.FromSlash(path))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(*content), 0o600))
	}
	return dir
}

// replayCounts replays a day's one case and counts what reaches fn.
func replayCounts(t *testing.T, d DayData) (spans, logs, points int) {
	t.Helper()
	require.Len(t, d.Cases, 1)
	Replay(d.History, d.Cases[0], int64(30*time.Second), func(td ptrace.Traces, ld plog.Logs, md pmetric.Metrics) {
		spans += td.SpanCount()
		logs += ld.LogRecordCount()
		points += md.DataPointCount()
	})
	return spans, logs, points
}

// A day without fault-free history, or with an empty one, still replays
// its cases, with the history it has.
func TestLoadDayHistory(t *testing.T) {
	t.Parallel()
	empty, headerOnly := "", traceHeader
	logHeaderOnly := logHeader
	for _, tc := range []struct {
		name    string
		files   map[string]*string
		history int // events
	}{
		{"full", nil, 2},
		{"no construct_data", map[string]*string{"construct_data/2023-01-29/trace/08_50_trace.csv": nil, "construct_data/2023-01-29/log/08_50_log.csv": nil}, 0},
		{"empty files", map[string]*string{"construct_data/2023-01-29/trace/08_50_trace.csv": &empty, "construct_data/2023-01-29/log/08_50_log.csv": &empty}, 0},
		{"headers only", map[string]*string{"construct_data/2023-01-29/trace/08_50_trace.csv": &headerOnly, "construct_data/2023-01-29/log/08_50_log.csv": &logHeaderOnly}, 0},
		{"traces only", map[string]*string{"construct_data/2023-01-29/log/08_50_log.csv": nil}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := LoadDay(writeDataset(t, tc.files), testDay)
			require.NoError(t, err)
			assert.Len(t, d.History, tc.history)
			assert.Empty(t, d.Skipped)
			require.Len(t, d.Cases, 1)
			assert.Len(t, d.Cases[0].Events, 4, "2 spans, 1 log line, 1 sample")
			spans, logs, points := replayCounts(t, d)
			assert.Equal(t, 2+min(tc.history, 1), spans, "the case's spans and the history's")
			assert.Equal(t, 1+tc.history/2, logs)
			assert.Equal(t, 2, points, "CPU and memory")
		})
	}
}

// A system whose logs or pod metrics were not collected has no files of
// them: the day loads, replays without them and says so.
func TestLoadDayAbsentSignals(t *testing.T) {
	t.Parallel()
	ptr := func(s string) *string { return &s }
	for _, tc := range []struct {
		name                string
		files               map[string]*string
		absent              []string
		events, logs, point int
	}{
		{"all there", nil, nil, 4, 2, 2},
		{"no case logs", map[string]*string{"rca_data/2023-01-29/log/10_12_log.csv": nil}, nil, 3, 1, 2},
		{"no logs", map[string]*string{"rca_data/2023-01-29/log/10_12_log.csv": nil, "construct_data/2023-01-29/log/08_50_log.csv": nil}, []string{"logs"}, 3, 0, 2},
		{"metric files without CPU", map[string]*string{"rca_data/2023-01-29/metric/ts-a-service-5d-x1_metric.csv": ptr("TimeStamp,PodName,NetworkReceiveBytes\n")}, nil, 3, 2, 0},
		{"no pod metrics", map[string]*string{"rca_data/2023-01-29/metric/ts-a-service-5d-x1_metric.csv": nil}, []string{"pod metrics"}, 3, 2, 0},
		{"traces alone", map[string]*string{
			"rca_data/2023-01-29/log/10_12_log.csv": nil, "rca_data/2023-01-29/metric/ts-a-service-5d-x1_metric.csv": nil,
			"construct_data/2023-01-29/trace/08_50_trace.csv": nil, "construct_data/2023-01-29/log/08_50_log.csv": nil,
		}, []string{"history", "logs", "pod metrics"}, 2, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := LoadDay(writeDataset(t, tc.files), testDay)
			require.NoError(t, err)
			assert.Equal(t, tc.absent, d.Absent)
			require.Len(t, d.Cases, 1)
			assert.Len(t, d.Cases[0].Events, tc.events)
			_, logs, points := replayCounts(t, d)
			assert.Equal(t, tc.logs, logs, "the case's and the history's")
			assert.Equal(t, tc.point, points)
		})
	}
}

// Dirty rows are dropped and counted per file; the day still loads.
func TestLoadDaySkipped(t *testing.T) {
	t.Parallel()
	trace := traceHeader + spanAt(1, testInject.Add(10*time.Second)) + "\n" +
		spanAt(2, testInject.Add(70*time.Second))[:40] + "\n" + // cut short
		strings.Replace(spanAt(4, testInject.Add(80*time.Second)), ",1000", ",x", 1) + "\n" // bad number
	hist := logHeader + logAt(testInject.Add(-80*time.Minute), `"{""log"":""cut`) + "\n" +
		logAt(testInject.Add(-79*time.Minute), "INFO \xff") + "\n" +
		logAt(testInject.Add(-78*time.Minute), "INFO fine") + "\n"
	metric := "TimeStamp,PodName,CpuUsageRate(%)\nnever,x,1\n"
	dir := writeDataset(t, map[string]*string{
		"rca_data/2023-01-29/trace/10_12_trace.csv":                &trace,
		"construct_data/2023-01-29/log/08_50_log.csv":              &hist,
		"rca_data/2023-01-29/metric/ts-b-service-5d-x1_metric.csv": &metric,
	})
	d, err := LoadDay(dir, testDay)
	require.NoError(t, err)
	assert.Equal(t, map[string]Skips{
		filepath.Join(dir, "rca_data", testDay, "trace", "10_12_trace.csv"):                {Fields: 1, Value: 1},
		filepath.Join(dir, "construct_data", testDay, "log", "08_50_log.csv"):              {Quote: 1, UTF8: 1},
		filepath.Join(dir, "rca_data", testDay, "metric", "ts-b-service-5d-x1_metric.csv"): {Value: 1},
	}, d.Skipped)
	assert.Len(t, d.History, 2, "1 span, 1 log line")
	require.Len(t, d.Cases, 1)
	assert.Len(t, d.Cases[0].Events, 3, "1 span, 1 log line, 1 sample")

	h, c, err := ReplayDay(dir, testDay)
	require.NoError(t, err)
	assert.Equal(t, d.History, h)
	assert.Equal(t, d.Cases, c)
}
