package nezha

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Minute returns the "HH_MM" prefix of the per-minute trace and log files
// for t, in UTC.
//
// A file's name is only roughly its time window: a file HH_MM holds about 60 s
// somewhere between HH:MM-60s and HH:MM+60s (on some files the window ends
// near HH:MM:08, on others it starts near HH:MM-7s; one, rca 2023-01-29
// 15_44, spans two minutes). Neighbouring files overlap and share rows, so
// filter rows by their own times; WindowFiles lists the files to read.
func Minute(t time.Time) string { return t.UTC().Format("15_04") }

// TraceFileAt is the path of the trace file named after t's minute (kind
// "construct_data" or "rca_data"); the file may not exist. See Minute for how
// loosely a name matches its contents.
func TraceFileAt(dir, kind, day string, t time.Time) string {
	return filepath.Join(dir, kind, day, "trace", Minute(t)+"_trace.csv")
}

// LogFileAt is the path of the log file named after t's minute; the file may
// not exist.
func LogFileAt(dir, kind, day string, t time.Time) string {
	return filepath.Join(dir, kind, day, "log", Minute(t)+"_log.csv")
}

// windowMargin widens a time range to the file names that may hold its rows:
// a file HH_MM held rows from HH:MM-111s to HH:MM+64s in this dataset.
const windowMargin = 2 * time.Minute

// WindowFiles lists the existing files of one signal ("trace" or "log") that
// may hold rows timed in [from, to) on day, sorted by minute: those named
// from the minute of from-2min to the minute of to+2min. They also hold rows
// outside the range and duplicate rows of their neighbours, so callers must
// filter rows by time (and deduplicate, e.g. spans by TraceID+SpanID). For a
// fault f, WindowFiles(dir, "rca_data", f.Day, "trace", f.InjectTime, f.End()).
func WindowFiles(dir, kind, day, signal string, from, to time.Time) ([]string, error) {
	if signal != "trace" && signal != "log" {
		return nil, fmt.Errorf("nezha: signal %q is neither trace nor log", signal)
	}
	var files []string
	end := to.Add(windowMargin)
	for m := from.Add(-windowMargin).UTC().Truncate(time.Minute); !m.After(end); m = m.Add(time.Minute) {
		if m.Format(time.DateOnly) != day {
			continue
		}
		path := filepath.Join(dir, kind, day, signal, Minute(m)+"_"+signal+".csv")
		if _, err := os.Stat(path); err == nil {
			files = append(files, path)
		}
	}
	return files, nil
}

// LogFiles lists a data folder's log files (kind "construct_data" or
// "rca_data", day "2023-01-29"), sorted by minute.
func LogFiles(dir, kind, day string) ([]string, error) {
	return glob(filepath.Join(dir, kind, day), "log", "*_log.csv")
}

// MetricFiles lists rca_data/<day>/metric/<pod>_metric.csv, sorted by pod
// name. front_service.csv (frontend success rate and latency) is not listed;
// ReadPodMetrics reads it too.
//
// The metric files are whole-day series (2023-01-29 from 08:41, 2023-01-30
// from 11:39, both to about 23:59) with the held-out cases' windows cut out.
func MetricFiles(dir, day string) ([]string, error) {
	return glob(filepath.Join(dir, "rca_data", day), "metric", "*_metric.csv")
}

func glob(folder, sub, pattern string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(folder, sub, pattern))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no %s files under %s", sub, folder)
	}
	return files, nil // Glob sorts
}
