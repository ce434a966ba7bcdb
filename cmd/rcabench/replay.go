package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"
)

// event is one span or ERROR log of the replay, in end-time order.
type event struct {
	at   int64
	span *nezha.Span
	log  *nezha.LogLine
}

// load reads the spans and ERROR logs of files, keeping those with time in
// [from, to) and each span once (neighbouring files overlap).
func load(traceFiles, logFiles []string, from, to int64) ([]event, error) {
	type key struct{ trace, span string }
	seen := map[key]bool{}
	var evs []event
	for _, f := range traceFiles {
		err := nezha.ReadTraceFile(f, func(s nezha.Span) {
			k := key{s.TraceID, s.SpanID}
			if s.EndNano < from || s.EndNano >= to || seen[k] {
				return
			}
			seen[k] = true
			evs = append(evs, event{at: s.EndNano, span: &s})
		})
		if err != nil {
			return nil, err
		}
	}
	for _, f := range logFiles {
		err := nezha.ReadLogFile(f, func(l nezha.LogLine) {
			if l.Level != "ERROR" || l.TimeNano < from || l.TimeNano >= to {
				return
			}
			evs = append(evs, event{at: l.TimeNano, log: &l})
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	return evs, nil
}

func hexTo(dst []byte, s string) {
	if len(s) == 2*len(dst) {
		_, _ = hex.Decode(dst, []byte(s))
	}
}

// batches turns events into pdata, one batch of spans and one of logs per
// step of event time.
func batches(evs []event, step int64, fn func(ptrace.Traces, plog.Logs)) {
	for i := 0; i < len(evs); {
		end := evs[i].at - evs[i].at%step + step
		td, ld := ptrace.NewTraces(), plog.NewLogs()
		spansBy, logsBy := map[string]ptrace.SpanSlice{}, map[string]plog.LogRecordSlice{}
		for ; i < len(evs) && evs[i].at < end; i++ {
			e := evs[i]
			if s := e.span; s != nil {
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
				continue
			}
			l := e.log
			lr, ok := logsBy[l.Pod]
			if !ok {
				rl := ld.ResourceLogs().AppendEmpty()
				rl.Resource().Attributes().PutStr("service.name", l.Service)
				rl.Resource().Attributes().PutStr("k8s.pod.name", l.Pod)
				lr = rl.ScopeLogs().AppendEmpty().LogRecords()
				logsBy[l.Pod] = lr
			}
			r := lr.AppendEmpty()
			r.SetTimestamp(pcommon.Timestamp(l.TimeNano))
			r.SetSeverityNumber(plog.SeverityNumberError)
			r.SetSeverityText("ERROR")
			var tid pcommon.TraceID
			var sid pcommon.SpanID
			hexTo(tid[:], l.TraceID)
			hexTo(sid[:], l.SpanID)
			r.SetTraceID(tid)
			r.SetSpanID(sid)
			r.Body().SetStr(l.Message)
		}
		fn(td, ld)
	}
}

// runDay scores every labelled case of a day.
func runDay(dir, day string, delay, window, baseline time.Duration) ([]caseResult, error) {
	faults, err := nezha.Faults(dir, day)
	if err != nil {
		return nil, err
	}
	cTraces, err := nezha.TraceFiles(dir, "construct_data", day)
	if err != nil {
		return nil, err
	}
	cLogs, err := nezha.LogFiles(dir, "construct_data", day)
	if err != nil {
		return nil, err
	}
	history, err := load(cTraces, cLogs, 0, 1<<62)
	if err != nil {
		return nil, err
	}
	var out []caseResult
	for _, f := range faults {
		from, to := f.InjectTime.Add(-90*time.Second), f.End()
		tf, err := nezha.WindowFiles(dir, "rca_data", day, "trace", from, to)
		if err != nil {
			return nil, err
		}
		lf, err := nezha.WindowFiles(dir, "rca_data", day, "log", from, to)
		if err != nil {
			return nil, err
		}
		evs, err := load(tf, lf, from.UnixNano(), to.UnixNano())
		if err != nil {
			return nil, err
		}
		r, err := runCase(f, history, evs, delay, window, baseline)
		if err != nil {
			return nil, fmt.Errorf("case %s %s: %w", f.InjectTime, f.Service, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// runCase replays the history, then the case, through a new connector and
// scores its first report ending at or after inject_time + delay.
func runCase(f nezha.Fault, history, evs []event, delay, window, baseline time.Duration) (caseResult, error) {
	ctx := context.Background()
	fac := gnnrootcause.NewFactory()
	cfg := fac.CreateDefaultConfig().(*gnnrootcause.Config)
	cfg.Window, cfg.Baseline, cfg.MinAnomaly = window, baseline, 0.5
	set := connectortest.NewNopSettings(component.MustNewType("gnn_root_cause"))
	sink := &consumertest.LogsSink{}
	spansIn, err := fac.CreateTracesToLogs(ctx, set, cfg, sink)
	if err != nil {
		return caseResult{}, err
	}
	logsIn, err := fac.CreateLogsToLogs(ctx, set, cfg, sink)
	if err != nil {
		return caseResult{}, err
	}
	host := componenttest.NewNopHost()
	if err := spansIn.Start(ctx, host); err != nil {
		return caseResult{}, err
	}
	if err := logsIn.Start(ctx, host); err != nil {
		return caseResult{}, err
	}
	var feedErr error
	feed := func(td ptrace.Traces, ld plog.Logs) {
		if ld.LogRecordCount() > 0 {
			feedErr = logsIn.ConsumeLogs(ctx, ld)
		}
		if td.SpanCount() > 0 && feedErr == nil {
			feedErr = spansIn.ConsumeTraces(ctx, td)
		}
	}
	batches(history, int64(window), feed)
	batches(evs, int64(window), feed)
	if err := spansIn.Shutdown(ctx); err != nil {
		return caseResult{}, err
	}
	if err := logsIn.Shutdown(ctx); err != nil {
		return caseResult{}, err
	}
	if feedErr != nil {
		return caseResult{}, feedErr
	}
	res := caseResult{Fault: f}
	due := f.InjectTime.Add(delay)
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, r := range sl.LogRecords().All() {
					var rep struct {
						WindowEnd  string           `json:"window_end"`
						Candidates []candidateScore `json:"candidates"`
					}
					if json.Unmarshal([]byte(r.Body().Str()), &rep) != nil {
						continue
					}
					end, err := time.Parse(time.RFC3339, rep.WindowEnd)
					if err != nil || end.Before(due) {
						continue
					}
					res.Rank = rankOf(f.Service, rep.Candidates)
					for _, c := range rep.Candidates {
						res.Top = append(res.Top, c.Service)
					}
					return res, nil
				}
			}
		}
	}
	return res, nil // no report: a miss
}
