package nezha

import (
	"errors"
	"io"
	"math"
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
// (Time,TimeStamp,ServiceName,SuccessRate(%),…) with ReadMetrics, without
// the counts of the rows it skipped; Pod falls back to the file's name.
func ReadPodMetrics(path string) (MetricSeries, error) {
	m, _, err := readPodMetrics(path)
	return m, err
}

func readPodMetrics(path string) (MetricSeries, Skips, error) {
	var m MetricSeries
	s, err := readFile(path, func(r io.Reader) (Skips, error) {
		var err error
		var s Skips
		m, s, err = ReadMetrics(r)
		return s, err
	})
	if err == nil && m.Pod == "" {
		m.Pod = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".csv"), "_metric")
	}
	return m, s, err
}

// ReadMetrics reads a metric CSV: every column other than Time, TimeStamp
// and the name (PodName or ServiceName) becomes a float column. Rows whose
// time (TimeStamp, else Time) or a value does not parse, and malformed rows,
// are skipped and counted; it fails only on a read error or a header
// without a time column. Pod is the first kept row's name, "" if none.
func ReadMetrics(r io.Reader) (MetricSeries, Skips, error) {
	var m MetricSeries
	rows, header, err := newRowReader(r)
	if errors.Is(err, io.EOF) {
		return m, Skips{}, nil
	}
	if err != nil {
		return m, Skips{}, err
	}
	col := metricColumns{time: -1, stamp: -1, name: -1}
	for i, h := range header {
		switch h {
		case "Time":
			col.time = i
		case "TimeStamp":
			col.stamp = i
		case "PodName", "ServiceName":
			col.name = i
		default:
			col.values = append(col.values, i)
			m.Columns = append(m.Columns, h)
		}
	}
	if col.stamp < 0 && col.time < 0 {
		return m, Skips{}, errors.New("no TimeStamp or Time column")
	}
	var flat []float64
	for {
		rec, err := rows.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, rows.skips, err
		}
		t, values, ok := col.row(rec, flat)
		if !ok {
			rows.skips.Value++
			continue
		}
		if m.Pod == "" && col.name >= 0 {
			m.Pod = strings.Clone(rec[col.name])
		}
		m.Times, flat = append(m.Times, t), values
	}
	n := len(col.values)
	m.Rows = make([][]float64, len(m.Times))
	for i := range m.Rows {
		m.Rows[i] = flat[i*n : (i+1)*n : (i+1)*n]
	}
	return m, rows.skips, nil
}

// metricColumns are a metric file's column positions, -1 if absent.
type metricColumns struct {
	time, stamp, name int
	values            []int
}

// row reads a row's time and appends its values to flat; false, with flat
// unchanged in length, if either does not parse.
func (c metricColumns) row(rec []string, flat []float64) (int64, []float64, bool) {
	var t int64 = -1
	if c.stamp >= 0 {
		if v, err := strconv.ParseInt(rec[c.stamp], 10, 64); err == nil {
			t = v
		}
	}
	if t < 0 && c.time >= 0 {
		t = parseGoTime(rec[c.time])
	}
	if t < 0 {
		return 0, flat, false
	}
	n := len(flat)
	for _, i := range c.values {
		v, err := parseMetric(rec[i])
		if err != nil {
			return 0, flat[:n], false
		}
		flat = append(flat, v)
	}
	return t, flat, true
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
