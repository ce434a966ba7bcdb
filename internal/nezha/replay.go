package nezha

import (
	"cmp"
	"encoding/hex"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Metric names the replay gives the pod metrics: kubeletstats' names for
// the same quantities (ratios of the pod's limit).
const (
	MetricCPU    = "k8s.pod.cpu_limit_utilization"
	MetricMemory = "k8s.pod.memory_limit_utilization"
)

// Event is one span, log line or pod metric sample of a replay.
type Event struct {
	At     int64 // ns: span end, log time, sample time
	Span   *Span
	Log    *LogLine
	Metric *Sample
}

// Sample is one pod's CPU and memory utilisation (ratios) at a minute.
type Sample struct {
	Pod      string
	CPU, Mem float64
}

// Case is one labelled fault with its events, from inject_time - 90 s to
// the end of the fault.
type Case struct {
	Fault  Fault
	Events []Event
}

// DayData is one recording day loaded for replay.
type DayData struct {
	// History is the fault-free construct_data traces and logs; empty when
	// the day has none.
	History []Event
	Cases   []Case
	// Skipped counts the malformed rows dropped, by file path, for the
	// files that had any.
	Skipped map[string]Skips
	// Absent names the signals the day has no files of: "history" (no
	// construct_data traces or logs), "logs" (none there nor in rca_data),
	// "pod metrics" (no rca_data metric files). It replays without them.
	Absent []string
}

// ReplayDay is LoadDay without the skipped rows' counts.
func ReplayDay(dir, day string) (history []Event, cases []Case, err error) {
	d, err := LoadDay(dir, day)
	if err != nil {
		return nil, nil, err
	}
	return d.History, d.Cases, nil
}

// LoadDay loads a day for replay: the fault-free history (construct_data
// traces and logs, whatever of them there is) and each labelled case's
// events. Pod metrics come only from rca_data (construct_data's metric
// files span the whole day, including the held-out cases' fault minutes),
// for the 10 minutes before each case's window and during it.
func LoadDay(dir, day string) (DayData, error) {
	d := DayData{Skipped: map[string]Skips{}}
	faults, err := Faults(dir, day)
	if err != nil {
		return DayData{}, err
	}
	// Glob without matches is no error: a day may lack history.
	cTraces, _ := filepath.Glob(filepath.Join(dir, "construct_data", day, "trace", "*_trace.csv"))
	cLogs, _ := filepath.Glob(filepath.Join(dir, "construct_data", day, "log", "*_log.csv"))
	if d.History, err = loadEvents(cTraces, cLogs, 0, math.MaxInt64, d.Skipped); err != nil {
		return DayData{}, err
	}
	if len(cTraces)+len(cLogs) == 0 {
		d.Absent = append(d.Absent, "history")
	}
	// A system whose logs or pod metrics were not collected has no files
	// of them at all: the day replays without them.
	// (LogFiles and MetricFiles fail only when there are none.)
	if logs, _ := LogFiles(dir, "rca_data", day); len(logs)+len(cLogs) == 0 {
		d.Absent = append(d.Absent, "logs")
	}
	metrics, _ := MetricFiles(dir, day)
	if len(metrics) == 0 {
		d.Absent = append(d.Absent, "pod metrics")
	}
	series, err := podSeries(metrics, d.Skipped)
	if err != nil {
		return DayData{}, err
	}
	for _, f := range faults {
		c, err := loadCase(dir, f, series, d.Skipped)
		if err != nil {
			return DayData{}, err
		}
		d.Cases = append(d.Cases, c)
	}
	return d, nil
}

// podSeries reads the pod metric files that have a CPU column.
func podSeries(files []string, skipped map[string]Skips) ([]MetricSeries, error) {
	var series []MetricSeries
	for _, path := range files {
		m, s, err := readPodMetrics(path)
		if err != nil {
			return nil, err
		}
		record(skipped, path, s)
		if m.Index("CpuUsageRate(%)") >= 0 {
			series = append(series, m)
		}
	}
	return series, nil
}

// loadCase reads a fault's events from inject_time - 90 s to its end.
func loadCase(dir string, f Fault, series []MetricSeries, skipped map[string]Skips) (Case, error) {
	from, to := f.InjectTime.Add(-90*time.Second), f.End()
	tf, err := WindowFiles(dir, "rca_data", f.Day, "trace", from, to)
	if err != nil {
		return Case{}, err
	}
	lf, err := WindowFiles(dir, "rca_data", f.Day, "log", from, to)
	if err != nil {
		return Case{}, err
	}
	evs, err := loadEvents(tf, lf, from.UnixNano(), to.UnixNano(), skipped)
	if err != nil {
		return Case{}, err
	}
	evs = append(evs, samples(series, from.Add(-10*time.Minute), to)...)
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
	return Case{Fault: f, Events: evs}, nil
}

// record notes a file's skipped rows; files are read once per case that
// needs them, so counts are set, not added.
func record(skipped map[string]Skips, path string, s Skips) {
	if s.Total() > 0 {
		skipped[path] = s
	}
}

func samples(series []MetricSeries, from, to time.Time) []Event {
	var out []Event
	for _, m := range series {
		cpu, mem := m.Index("CpuUsageRate(%)"), m.Index("MemoryUsageRate(%)")
		for i, t := range m.Times {
			if t < from.Unix() || t >= to.Unix() {
				continue
			}
			s := &Sample{Pod: m.Pod, CPU: m.Rows[i][cpu] / 100, Mem: math.NaN()}
			if mem >= 0 {
				s.Mem = m.Rows[i][mem] / 100
			}
			out = append(out, Event{At: t * 1e9, Metric: s})
		}
	}
	return out
}

// loadEvents reads the spans and log lines of files with time in [from,
// to), each span once (neighbouring files overlap), in time order, and
// records the files' skipped rows.
func loadEvents(traceFiles, logFiles []string, from, to int64, skipped map[string]Skips) ([]Event, error) {
	type key struct{ trace, span string }
	seen := map[key]bool{}
	var evs []Event
	for _, f := range traceFiles {
		s, err := readFile(f, func(r io.Reader) (Skips, error) {
			return ReadTraces(r, func(s Span) {
				k := key{s.TraceID, s.SpanID}
				if s.EndNano < from || s.EndNano >= to || seen[k] {
					return
				}
				seen[k] = true
				evs = append(evs, Event{At: s.EndNano, Span: &s})
			})
		})
		if err != nil {
			return nil, err
		}
		record(skipped, f, s)
	}
	type lineKey struct {
		at       int64
		pod, msg string
	}
	seenLines := map[lineKey]bool{}
	for _, f := range logFiles {
		s, err := readFile(f, func(r io.Reader) (Skips, error) {
			return ReadLogs(r, func(l LogLine) {
				k := lineKey{l.TimeNano, l.Pod, l.Message}
				if l.TimeNano < from || l.TimeNano >= to || seenLines[k] {
					return
				}
				seenLines[k] = true
				evs = append(evs, Event{At: l.TimeNano, Log: &l})
			})
		})
		if err != nil {
			return nil, err
		}
		record(skipped, f, s)
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
	return evs, nil
}

// severities map the lines' levels to OTLP severity numbers.
var severities = map[string]plog.SeverityNumber{
	"TRACE": plog.SeverityNumberTrace, "DEBUG": plog.SeverityNumberDebug, "INFO": plog.SeverityNumberInfo,
	"WARN": plog.SeverityNumberWarn, "ERROR": plog.SeverityNumberError, "FATAL": plog.SeverityNumberFatal,
}

func hexTo(dst []byte, s string) {
	if len(s) == 2*len(dst) {
		_, _ = hex.Decode(dst, []byte(s))
	}
}

// Replay feeds one case to fn as a collector running through the day would
// have seen it: the day's fault-free history moved in time (by whole steps)
// to end where the case's first span or log step begins, merged with the
// case's events (its pod metrics start earlier). Left at its recorded time
// the history would sit hours away from most cases (after some: their spans
// would all be late), and per-time baselines would forget it.
func Replay(history []Event, c Case, step int64, fn func(ptrace.Traces, plog.Logs, pmetric.Metrics)) {
	first := int64(-1)
	for _, e := range c.Events {
		if e.Span != nil || e.Log != nil {
			first = e.At - e.At%step
			break
		}
	}
	if len(history) == 0 || first < 0 {
		Batches(c.Events, step, fn)
		return
	}
	last := history[len(history)-1].At
	shift := first - (last - last%step + step)
	evs := make([]Event, 0, len(history)+len(c.Events))
	for _, e := range history {
		e.At += shift
		switch {
		case e.Span != nil:
			s := *e.Span
			s.StartNano += shift
			s.EndNano += shift
			e.Span = &s
		case e.Log != nil:
			l := *e.Log
			l.TimeNano += shift
			e.Log = &l
		}
		evs = append(evs, e)
	}
	evs = append(evs, c.Events...)
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
	Batches(evs, step, fn)
}

// Batches converts events into OTLP pdata, one batch per step of event
// time: spans under a resource per pod (service.name, k8s.pod.name; a
// span with a Peer as a CLIENT span with server.address), log
// lines as OTel's Java appenders send them (scope = logger, code.lineno,
// level as severity, trace/span ids, the message as body), samples as
// gauges (MetricCPU, MetricMemory).
func Batches(evs []Event, step int64, fn func(ptrace.Traces, plog.Logs, pmetric.Metrics)) {
	for i := 0; i < len(evs); {
		end := evs[i].At - evs[i].At%step + step
		td, ld, md := ptrace.NewTraces(), plog.NewLogs(), pmetric.NewMetrics()
		spansBy, logsBy := map[string]ptrace.SpanSlice{}, map[[2]string]plog.LogRecordSlice{}
		podLogs := map[string]plog.ResourceLogs{}
		for ; i < len(evs) && evs[i].At < end; i++ {
			e := evs[i]
			switch {
			case e.Span != nil:
				s := e.Span
				ss, ok := spansBy[s.Pod]
				if !ok {
					rs := td.ResourceSpans().AppendEmpty()
					rs.Resource().Attributes().PutStr("service.name", s.Service())
					rs.Resource().Attributes().PutStr("k8s.pod.name", s.Pod)
					ss = rs.ScopeSpans().AppendEmpty().Spans()
					spansBy[s.Pod] = ss
				}
				sp := ss.AppendEmpty()
				var tid pcommon.TraceID
				var sid, pid pcommon.SpanID
				hexTo(tid[:], s.TraceID)
				hexTo(sid[:], s.SpanID)
				if s.ParentID != "root" {
					hexTo(pid[:], s.ParentID)
				}
				sp.SetTraceID(tid)
				sp.SetSpanID(sid)
				sp.SetParentSpanID(pid)
				sp.SetName(s.Operation)
				sp.SetStartTimestamp(pcommon.Timestamp(s.StartNano))
				sp.SetEndTimestamp(pcommon.Timestamp(s.EndNano))
				if s.Peer != "" {
					sp.SetKind(ptrace.SpanKindClient)
					sp.Attributes().PutStr("server.address", s.Peer)
				}
			case e.Log != nil:
				l := e.Log
				logger, line, _ := strings.Cut(l.Logger, "#")
				lr, ok := logsBy[[2]string{l.Pod, logger}]
				if !ok {
					rl, ok := podLogs[l.Pod]
					if !ok {
						rl = ld.ResourceLogs().AppendEmpty()
						rl.Resource().Attributes().PutStr("service.name", l.Service)
						rl.Resource().Attributes().PutStr("k8s.pod.name", l.Pod)
						podLogs[l.Pod] = rl
					}
					sl := rl.ScopeLogs().AppendEmpty()
					sl.Scope().SetName(logger)
					lr = sl.LogRecords()
					logsBy[[2]string{l.Pod, logger}] = lr
				}
				r := lr.AppendEmpty()
				r.SetTimestamp(pcommon.Timestamp(l.TimeNano))
				if sev, ok := severities[l.Level]; ok {
					r.SetSeverityNumber(sev)
					r.SetSeverityText(l.Level)
				}
				var tid pcommon.TraceID
				var sid pcommon.SpanID
				hexTo(tid[:], l.TraceID)
				hexTo(sid[:], l.SpanID)
				r.SetTraceID(tid)
				r.SetSpanID(sid)
				// as OTel's Java appenders send it: scope = logger, code
				// line as an attribute, the message as body
				if n, err := strconv.Atoi(line); err == nil {
					r.Attributes().PutInt("code.lineno", int64(n))
				}
				r.Body().SetStr(l.Message)
			case e.Metric != nil:
				m := e.Metric
				rm := md.ResourceMetrics().AppendEmpty()
				rm.Resource().Attributes().PutStr("service.name", ServiceOf(m.Pod))
				rm.Resource().Attributes().PutStr("k8s.pod.name", m.Pod)
				ms := rm.ScopeMetrics().AppendEmpty().Metrics()
				for _, v := range []struct {
					name string
					val  float64
				}{{MetricCPU, m.CPU}, {MetricMemory, m.Mem}} {
					if math.IsNaN(v.val) {
						continue
					}
					g := ms.AppendEmpty()
					g.SetName(v.name)
					g.SetUnit("1")
					dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
					dp.SetTimestamp(pcommon.Timestamp(e.At))
					dp.SetDoubleValue(v.val)
				}
			}
		}
		fn(td, ld, md)
	}
}
