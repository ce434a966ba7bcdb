package nezha

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMinute(t *testing.T) {
	at := time.Date(2023, 1, 29, 10, 12, 48, 0, time.UTC)
	assert.Equal(t, "10_12", Minute(at))
	assert.Equal(t, "10_12", Minute(at.In(time.FixedZone("CST", 8*3600))), "always UTC")
	assert.Equal(t, filepath.Join("d", "rca_data", "2023-01-29", "trace", "10_12_trace.csv"), TraceFileAt("d", "rca_data", "2023-01-29", at))
	assert.Equal(t, filepath.Join("d", "rca_data", "2023-01-29", "log", "10_12_log.csv"), LogFileAt("d", "rca_data", "2023-01-29", at))
}

func TestFileLists(t *testing.T) {
	dir := dataDir(t)
	traces, err := TraceFiles(dir, "rca_data", "2023-01-29")
	require.NoError(t, err)
	logs, err := LogFiles(dir, "rca_data", "2023-01-29")
	require.NoError(t, err)
	assert.Len(t, logs, len(traces), "one log file per trace file")
	assert.Equal(t, "08_43_log.csv", filepath.Base(logs[0]))
	metrics, err := MetricFiles(dir, "2023-01-29")
	require.NoError(t, err)
	assert.Len(t, metrics, 46, "one per pod; front_service.csv not listed")
	_, err = LogFiles(dir, "rca_data", "1999-01-01")
	assert.Error(t, err)
}

// Every case's fault window is covered by the files WindowFiles lists, and
// TraceFileAt names an existing file for the minute after injection.
func TestWindowFiles(t *testing.T) {
	dir := dataDir(t)
	days, err := Days(dir)
	require.NoError(t, err)
	for _, day := range days {
		faults, err := Faults(dir, day)
		require.NoError(t, err)
		for _, f := range faults {
			_, err := os.Stat(TraceFileAt(dir, "rca_data", day, f.InjectTime.Add(time.Minute)))
			assert.NoError(t, err, "%v", f)
			files, err := WindowFiles(dir, "rca_data", day, "trace", f.InjectTime, f.End())
			require.NoError(t, err)
			require.NotEmpty(t, files)
			from, to := f.InjectTime.UnixNano(), f.End().UnixNano()
			inWindow := 0
			for _, path := range files {
				require.NoError(t, ReadTraceFile(path, func(s Span) {
					if s.StartNano >= from && s.StartNano < to {
						inWindow++
					}
				}))
			}
			assert.Greater(t, inWindow, 1000, "%v: %v", f, files)
			logs, err := WindowFiles(dir, "rca_data", day, "log", f.InjectTime, f.End())
			require.NoError(t, err)
			assert.Len(t, logs, len(files))
		}
	}
	_, err = WindowFiles(dir, "rca_data", "2023-01-29", "metric", time.Now(), time.Now())
	assert.Error(t, err)
}
