package gnnrootcause // import "github.com/otelcol-biz/otelcol-biz/processor/gnnrootcause"

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// feature names, in evidence and baselines
const (
	featSelfP90 = iota
	featDurP90
	featErrorRate
	featErrLogs
	featTimeouts
	numFeatures
)

var featureNames = [numFeatures]string{"self_time_p90_ms", "duration_p90_ms", "error_rate", "error_logs", "timeouts"}

// baseline is a ring of a feature's last values for one service; z is robust:
// (x - median) / (1.4826 * MAD), the MAD floored so a flat history does not
// turn noise into infinite scores.
type baseline struct {
	vals []float64
	next int
	n    int
}

func (b *baseline) z(x, floor float64) (float64, bool) {
	if b.n < 3 {
		return 0, false
	}
	v := slices.Clone(b.vals[:b.n])
	slices.Sort(v)
	med := v[len(v)/2]
	for i := range v {
		v[i] = math.Abs(v[i] - med)
	}
	slices.Sort(v)
	mad := 1.4826 * v[len(v)/2]
	return (x - med) / math.Max(mad, floor), true
}

func (b *baseline) add(x float64) {
	b.vals[b.next] = x
	b.next = (b.next + 1) % len(b.vals)
	b.n = min(b.n+1, len(b.vals))
}

// MAD floors per feature: 1 ms of latency, 1% of error rate, 1 log, 1 timeout.
var madFloor = [numFeatures]float64{1, 1, 0.01, 1, 1}

// engine aggregates spans and logs into event-time windows and ranks each
// closed window's services. Not safe for concurrent use.
type engine struct {
	window, lateness int64 // ns
	baselineWindows  int
	cfg              *Config
	services, ops    *names
	open             map[int64]*window
	watermark        int64 // latest span end seen
	base             map[int32]*[numFeatures]baseline
	maxSpans         int
	lateSpans        int64
	droppedSpans     int64
}

func newEngine(cfg *Config) *engine {
	return &engine{
		window:          int64(cfg.Window),
		lateness:        int64(cfg.MaxLateness),
		baselineWindows: max(int(cfg.Baseline/cfg.Window), 3),
		cfg:             cfg,
		services:        newNames(cfg.MaxServices),
		ops:             newNames(cfg.MaxOperations),
		open:            map[int64]*window{},
		base:            map[int32]*[numFeatures]baseline{},
		maxSpans:        cfg.MaxSpansPerWindow,
	}
}

func (e *engine) windowAt(endNs int64) *window {
	start := endNs - endNs%e.window
	if start+e.window+e.lateness <= e.watermark {
		return nil // that window is closed: late
	}
	w := e.open[start]
	if w == nil {
		w = &window{start: start, errLogs: map[int32]int{}}
		e.open[start] = w
	}
	return w
}

// isTimeout recognises Go's context errors in a span's status or events.
func isTimeout(s ptrace.Span) bool {
	if hasTimeoutText(s.Status().Message()) {
		return true
	}
	for _, ev := range s.Events().All() {
		if v, ok := ev.Attributes().Get("exception.message"); ok && hasTimeoutText(v.AsString()) {
			return true
		}
	}
	return false
}

func hasTimeoutText(msg string) bool {
	return strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "context canceled") || strings.Contains(msg, "DeadlineExceeded")
}

// service interns a resource's service.name ("unknown_service" without one).
func (e *engine) service(res pcommon.Map) int32 {
	if v, ok := res.Get("service.name"); ok {
		return e.services.id(v.AsString())
	}
	return e.services.id("unknown_service")
}

func (e *engine) addTraces(td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		svc := e.service(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				end := int64(s.EndTimestamp())
				e.watermark = max(e.watermark, end)
				w := e.windowAt(end)
				if w == nil {
					e.lateSpans++
					continue
				}
				if len(w.spans) >= e.maxSpans {
					w.dropped++
					e.droppedSpans++
					continue
				}
				w.spans = append(w.spans, spanRec{
					trace: s.TraceID(), span: s.SpanID(), parent: s.ParentSpanID(),
					service: svc, operation: e.ops.id(s.Name()),
					startNs: int64(s.StartTimestamp()), endNs: end, kind: s.Kind(),
					err: s.Status().Code() == ptrace.StatusCodeError, timeout: isTimeout(s),
				})
			}
		}
	}
}

// addLogs counts ERROR-or-worse logs per service in the window of their time.
func (e *engine) addLogs(ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		svc := e.service(rl.Resource().Attributes())
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				if r.SeverityNumber() < plog.SeverityNumberError && !strings.EqualFold(r.SeverityText(), "ERROR") {
					continue
				}
				ts := int64(r.Timestamp())
				if ts == 0 {
					ts = int64(r.ObservedTimestamp())
				}
				if w := e.windowAt(ts); w != nil {
					w.errLogs[svc]++
				}
			}
		}
	}
}

// candidate is one ranked service of a report.
type candidate struct {
	Rank       int      `json:"rank"`
	Service    string   `json:"service"`
	Pod        string   `json:"pod"`
	Operation  string   `json:"operation"`
	Score      float64  `json:"score"`
	Confidence float64  `json:"confidence"`
	Evidence   []string `json:"evidence"`
}

// report is one window's ranking (the log record body).
type report struct {
	WindowStart string      `json:"window_start"`
	WindowEnd   string      `json:"window_end"`
	Pattern     string      `json:"pattern"`
	Candidates  []candidate `json:"candidates"`
	Exemplars   []string    `json:"exemplar_trace_ids"`
	maxScore    float64
}

func (r *report) json() string {
	b, _ := json.Marshal(r) // plain structs: cannot fail
	return string(b)
}

// advance closes the windows the watermark has passed (plus lateness), in
// time order, and returns their reports (nil entries: nothing anomalous).
func (e *engine) advance(flush bool) []*report {
	var starts []int64
	for s := range e.open {
		if flush || s+e.window+e.lateness <= e.watermark {
			starts = append(starts, s)
		}
	}
	slices.Sort(starts)
	var out []*report
	for _, s := range starts {
		w := e.open[s]
		delete(e.open, s)
		g, _ := w.build(e.window, e.cfg.MaxEdges)
		out = append(out, e.rank(g))
	}
	return out
}

// rank scores each service of a closed window with the latency-z floor
// (robust z of its p90 self time, with error rate, error logs and timeouts
// as evidence), then folds the window into the baselines.
func (e *engine) rank(g *graph) *report {
	type scored struct {
		svc      int32
		score    float64
		evidence []string
	}
	var all []scored
	timeouts := 0
	for svc, n := range g.nodes {
		b := e.base[svc]
		if b == nil {
			if len(e.base) >= e.cfg.MaxServices {
				continue
			}
			b = &[numFeatures]baseline{}
			for i := range b {
				b[i].vals = make([]float64, e.baselineWindows)
			}
			e.base[svc] = b
		}
		feats := [numFeatures]float64{n.p90Self, n.p90Duration, float64(n.errors) / math.Max(float64(n.calls), 1), float64(n.errLogs), float64(n.timeouts)}
		s := scored{svc: svc}
		for f, x := range feats {
			if z, ok := b[f].z(x, madFloor[f]); ok {
				if f == featSelfP90 {
					s.score = z
				}
				if z >= e.cfg.MinAnomaly {
					s.evidence = append(s.evidence, fmt.Sprintf("%s=%.4g (z=%.1f)", featureNames[f], x, z))
				}
			}
			b[f].add(x)
		}
		timeouts += n.timeouts
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(e.services.name(a.svc), e.services.name(b.svc))
	})
	if len(all) == 0 || all[0].score < e.cfg.MinAnomaly {
		return nil
	}
	top := all[:min(len(all), e.cfg.TopK)]
	// softmax confidence over the top-k scores
	var sum float64
	for _, s := range top {
		sum += math.Exp(s.score - top[0].score)
	}
	r := &report{
		WindowStart: time.Unix(0, g.start).UTC().Format(time.RFC3339),
		WindowEnd:   time.Unix(0, g.end).UTC().Format(time.RFC3339),
		Pattern:     "latency",
		maxScore:    top[0].score,
	}
	if timeouts > 0 {
		r.Pattern = "timeout"
	}
	for i, s := range top {
		r.Candidates = append(r.Candidates, candidate{
			Rank: i + 1, Service: e.services.name(s.svc), Score: s.score,
			Confidence: math.Exp(s.score-top[0].score) / sum, Evidence: s.evidence,
		})
		if tr, ok := g.exemplars[s.svc]; ok {
			r.Exemplars = append(r.Exemplars, tr.String())
		}
	}
	return r
}
