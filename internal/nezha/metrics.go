package nezha

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MetricSeries is one metric file in column-oriented form: Rows[i][j] is
// Columns[j] at Times[i]. Rows share one backing array.
type MetricSeries struct {
	// Pod is the PodName column ("Frontend", the ServiceName column, in
	// front_service.csv).
	Pod string
	// Columns are the numeric columns in file order, e.g. "CpuUsage(m)",
	// "CpuUsageRate(%)", "MemoryUsageRate(%)", "PodServerLatencyP90(s)".
	Columns []string
	// Times are Unix seconds (the TimeStamp column), about 60 s apart,
	// increasing; the held-out cases' minutes are cut out.
	Times []int64
	// Rows hold one value per column; math.NaN() for empty or NaN cells.
	Rows [][]float64
}

// Service is ServiceOf(Pod).
func (m MetricSeries) Service() string { return ServiceOf(m.Pod) }

// Index is the position of a column in Columns and Rows, or -1.
func (m MetricSeries) Index(column string) int { return slices.Index(m.Columns, column) }

// Column returns a copy of one column's values over Times, or nil if there is
// no such column.
func (m MetricSeries) Column(column string) []float64 {
	j := m.Index(column)
	if j < 0 {
		return nil
	}
	out := make([]float64, len(m.Rows))
	for i, row := range m.Rows {
		out[i] = row[j]
	}
	return out
}

// ReadPodMetrics reads one rca_data/<day>/metric/<pod>_metric.csv
// (Time,TimeStamp,PodName,CpuUsage(m),…) or front_service.csv
// (Time,TimeStamp,ServiceName,SuccessRate(%),…). Every column other than
// Time, TimeStamp and the name becomes a float column.
func ReadPodMetrics(path string) (MetricSeries, error) {
	var m MetricSeries
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	header = slices.Clone(header) // the reader reuses its slice
	iTime, iStamp, iName := -1, -1, -1
	var valueCols []int
	for i, h := range header {
		switch h {
		case "Time":
			iTime = i
		case "TimeStamp":
			iStamp = i
		case "PodName", "ServiceName":
			iName = i
		default:
			valueCols = append(valueCols, i)
			m.Columns = append(m.Columns, h)
		}
	}
	if iStamp < 0 && iTime < 0 {
		return m, fmt.Errorf("%s: no TimeStamp or Time column", path)
	}
	var flat []float64
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("%s: %w", path, err)
		}
		var t int64 = -1
		if iStamp >= 0 {
			if v, err := strconv.ParseInt(rec[iStamp], 10, 64); err == nil {
				t = v
			}
		}
		if t < 0 && iTime >= 0 {
			t = parseGoTime(rec[iTime])
		}
		if t < 0 {
			return m, fmt.Errorf("%s:%d: bad time", path, line)
		}
		if m.Pod == "" && iName >= 0 {
			m.Pod = strings.Clone(rec[iName])
		}
		m.Times = append(m.Times, t)
		for _, i := range valueCols {
			v, err := parseMetric(rec[i])
			if err != nil {
				return m, fmt.Errorf("%s:%d: %s: %w", path, line, header[i], err)
			}
			flat = append(flat, v)
		}
	}
	if m.Pod == "" {
		m.Pod = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".csv"), "_metric")
	}
	n := len(valueCols)
	m.Rows = make([][]float64, len(m.Times))
	for i := range m.Rows {
		m.Rows[i] = flat[i*n : (i+1)*n : (i+1)*n]
	}
	return m, nil
}

// parseMetric parses a metric cell; empty and NaN cells are math.NaN().
func parseMetric(s string) (float64, error) {
	if s == "" {
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64) // accepts "NaN", "nan", "Inf"
}

// parseGoTime parses the Time column, Go's time.Time.String() output
// ("2023-01-29 08:41:09.969234525 +0000 UTC m=+1.045396385"), into Unix
// seconds; -1 if it cannot.
func parseGoTime(s string) int64 {
	if i := strings.Index(s, " m="); i >= 0 {
		s = s[:i]
	}
	t, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", s)
	if err != nil {
		return -1
	}
	return t.Unix()
}
