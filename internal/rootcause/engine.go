package rootcause

import (
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Config configures an Engine; the connector maps its YAML onto it.
type Config struct {
	Window, Baseline, MaxLateness time.Duration
	TopK                          int
	MaxServices, MaxEdges         int
	MaxOperations, MaxPods        int
	MaxSpansPerWindow             int
	// MaxLogTemplates bounds the log templates counted per window and kept
	// in the baseline, and separately the statement pairs and the runs of
	// new templates (logRun).
	MaxLogTemplates int
	MinAnomaly      float64
	Method          Method
	// CPUMetrics and MemoryMetrics are the metric names read as pod CPU and memory.
	CPUMetrics, MemoryMetrics []string
}

// Stats are the engine's counters since it started.
type Stats struct {
	Spans, Logs                                                     int64 // received
	LateSpans, DroppedSpans, DroppedLogs, DroppedEdges, FutureSpans int64
	DroppedTemplates                                                int64 // beyond MaxLogTemplates
	Windows, Reports                                                int64
}

// Result is one closed window: its graph, and its report when some node
// reached min_anomaly.
type Result struct {
	Graph  *Graph
	Report *Report
}

// Engine aggregates telemetry into event-time windows and ranks each closed
// window. Not safe for concurrent use.
type Engine struct {
	cfg              Config
	window, lateness int64 // ns
	baselineWindows  int
	services, pods   *names
	ops              *names
	open             map[int64]*window
	watermark        int64 // latest span end seen
	nodes            map[int32]*nodeState
	edges            map[edgeKey]*edgeState
	opBase           map[opKey]*opState
	cpuNames         map[string]bool
	memNames         map[string]bool
	tmplBase         map[tmplKey]*tmplState
	logExp           map[int32]*logExposure
	opExp            map[opKey]*opExposure
	seqBase          map[seqKey]*tmplState
	resid            []residual          // scoreTemplates -> foldTemplates
	scored           []scored            // scoreMissing -> foldTemplates
	newScored        []newScored         // scoreNew -> foldTemplates
	newRun           map[svcTmpl]*logRun // FeatLogNew's runs, at most max_log_templates
	tmplBuf          []byte
	scratch          []float64
	stats            Stats
	now              func() time.Time
}

type nodeState struct {
	rings     [NumNodeFeatures]ring // FeatGapIn/FeatGapOut unused: they come from edges
	cpu, mem  float64               // latest samples, NaN before the first
	last      *Node                 // the node in the window starting at lastStart, when anomalous
	lastStart int64
}

type edgeState struct {
	rings    [NumEdgeFeatures]ring
	tail     ring // the windows' p90 gap: traceRCA's per-call threshold
	hold     hold // of windows whose gap stands out (gapHoldZ)
	lastSeen int64
}

type opKey struct{ service, op int32 }

// opState is an operation's baseline: the p90 self time of its windows, so
// a candidate's operation is the one slowest against its own usual.
type opState struct {
	self     ring
	lastSeen int64
}

// futureSkew: spans ending further than this ahead of the wall clock are
// dropped as bad clocks; one of them would otherwise close every window.
const futureSkew = time.Hour

// NewEngine checks cfg and returns an engine.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Window <= 0 || cfg.Baseline < cfg.Window || cfg.TopK <= 0 || cfg.MaxServices <= 0 || cfg.MaxEdges <= 0 ||
		cfg.MaxOperations <= 0 || cfg.MaxPods <= 0 || cfg.MaxSpansPerWindow <= 0 || cfg.MaxLogTemplates <= 0 || cfg.MaxLateness < 0 {
		return nil, errors.New("rootcause: invalid engine configuration")
	}
	if cfg.Method == nil {
		return nil, errors.New("rootcause: no ranking method")
	}
	e := &Engine{
		cfg:             cfg,
		window:          int64(cfg.Window),
		lateness:        int64(cfg.MaxLateness),
		baselineWindows: max(int(cfg.Baseline/cfg.Window), minHistory),
		services:        newNames(cfg.MaxServices),
		pods:            newNames(cfg.MaxPods),
		ops:             newNames(cfg.MaxOperations),
		open:            map[int64]*window{},
		nodes:           map[int32]*nodeState{},
		edges:           map[edgeKey]*edgeState{},
		opBase:          map[opKey]*opState{},
		tmplBase:        map[tmplKey]*tmplState{},
		logExp:          map[int32]*logExposure{},
		opExp:           map[opKey]*opExposure{},
		seqBase:         map[seqKey]*tmplState{},
		newRun:          map[svcTmpl]*logRun{},
		cpuNames:        map[string]bool{},
		memNames:        map[string]bool{},
		now:             time.Now,
	}
	for _, n := range cfg.CPUMetrics {
		e.cpuNames[n] = true
	}
	for _, n := range cfg.MemoryMetrics {
		e.memNames[n] = true
	}
	return e, nil
}

// SetClock replaces the wall clock (tests, replays of old data).
func (e *Engine) SetClock(now func() time.Time) { e.now = now }

// Stats returns the counters.
func (e *Engine) Stats() Stats { return e.stats }

// OpenWindows is the number of windows not closed yet.
func (e *Engine) OpenWindows() int { return len(e.open) }

func (e *Engine) windowAt(ts int64) *window {
	start := ts - ts%e.window
	if start+e.window+e.lateness <= e.watermark {
		return nil // closed: late
	}
	w := e.open[start]
	if w == nil {
		w = &window{start: start, tmpl: map[tmplKey]int32{}, seq: map[seqKey]int32{}}
		e.open[start] = w
	}
	return w
}

// serviceOf is the resource's service.name, else the deployment or the pod
// name without its ReplicaSet and pod hashes.
func serviceOf(res pcommon.Map) string {
	if v, ok := res.Get("service.name"); ok && v.Str() != "" {
		return v.Str()
	}
	if v, ok := res.Get("k8s.deployment.name"); ok && v.Str() != "" {
		return v.Str()
	}
	if v, ok := res.Get("k8s.pod.name"); ok && v.Str() != "" {
		return ServiceOfPod(v.Str())
	}
	return "unknown_service"
}

// ServiceOfPod strips a Deployment pod name's two generated suffixes:
// ts-order-service-7d9f8b-x2x9z -> ts-order-service.
func ServiceOfPod(pod string) string {
	s := pod
	for range 2 {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return pod
		}
		s = s[:i]
	}
	return s
}

func podOf(res pcommon.Map) string {
	for _, k := range []string{"k8s.pod.name", "service.instance.id", "host.name"} {
		if v, ok := res.Get(k); ok && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}

// AddTraces puts each span into the window of its end time.
func (e *Engine) AddTraces(td ptrace.Traces) {
	horizon := e.now().Add(futureSkew).UnixNano()
	for _, rs := range td.ResourceSpans().All() {
		res := rs.Resource().Attributes()
		svcName, podName := serviceOf(res), podOf(res)
		for _, ss := range rs.ScopeSpans().All() {
			e.stats.Spans += int64(ss.Spans().Len())
			for _, s := range ss.Spans().All() {
				end := int64(s.EndTimestamp())
				if end > horizon {
					e.stats.FutureSpans++
					continue
				}
				e.watermark = max(e.watermark, end)
				w := e.windowAt(end)
				if w == nil {
					e.stats.LateSpans++
					continue
				}
				if len(w.spans) >= e.cfg.MaxSpansPerWindow {
					e.stats.DroppedSpans++
					continue
				}
				start := int64(s.StartTimestamp())
				if start > end || start == 0 {
					start = end
				}
				w.spans = append(w.spans, spanRec{
					trace: s.TraceID(), span: s.SpanID(), parent: s.ParentSpanID(),
					service: e.services.id(svcName, w.start), pod: e.pods.id(podName, w.start), op: e.ops.id(s.Name(), w.start),
					startNs: start, endNs: end,
					err: s.Status().Code() == ptrace.StatusCodeError, timeout: isTimeout(s),
					entry: s.Kind() == ptrace.SpanKindServer || s.Kind() == ptrace.SpanKindConsumer || s.Kind() == ptrace.SpanKindInternal,
					exit:  s.Kind() == ptrace.SpanKindClient || s.Kind() == ptrace.SpanKindProducer,
				})
			}
		}
	}
}

// AddLogs counts every record by template (see logtemplate.go) and keeps
// the ERROR-or-worse ones: counted per service, and joined to their span
// (when they carry its ids) to mark it failed.
func (e *Engine) AddLogs(ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource().Attributes()
		svcName, podName := serviceOf(res), podOf(res)
		for _, sl := range rl.ScopeLogs().All() {
			e.stats.Logs += int64(sl.LogRecords().Len())
			scope := sl.Scope().Name()
			for _, r := range sl.LogRecords().All() {
				ts := int64(r.Timestamp())
				if ts == 0 {
					ts = int64(r.ObservedTimestamp())
				}
				w := e.windowAt(ts)
				if w == nil {
					e.stats.DroppedLogs++
					continue
				}
				svc := e.services.id(svcName, w.start)
				if e.countTemplate(w, svc, scope, r) != sevError {
					continue
				}
				if len(w.logs) >= e.cfg.MaxSpansPerWindow {
					e.stats.DroppedLogs++
					continue
				}
				w.logs = append(w.logs, logRec{trace: r.TraceID(), span: r.SpanID(), service: svc, pod: e.pods.id(podName, w.start)})
			}
		}
	}
}

// AddMetrics reads pod CPU and memory gauges/sums (the configured names);
// samples of closed windows update the carried-forward value directly.
func (e *Engine) AddMetrics(md pmetric.Metrics) {
	for _, rm := range md.ResourceMetrics().All() {
		res := rm.Resource().Attributes()
		svcName, podName := serviceOf(res), podOf(res)
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				cpu, mem := e.cpuNames[m.Name()], e.memNames[m.Name()]
				if !cpu && !mem {
					continue
				}
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				default:
					continue
				}
				for _, dp := range dps.All() {
					v := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						v = float64(dp.IntValue())
					}
					if math.IsNaN(v) || math.IsInf(v, 0) {
						continue
					}
					if w := e.windowAt(int64(dp.Timestamp())); w != nil {
						w.metrics = append(w.metrics, metricRec{service: e.services.id(svcName, w.start), pod: e.pods.id(podName, w.start), cpu: cpu, value: v})
						continue
					}
					if id, ok := e.services.ids[svcName]; ok {
						if st := e.nodes[id]; st != nil {
							if cpu {
								st.cpu = v
							} else {
								st.mem = v
							}
						}
					}
				}
			}
		}
	}
}

// Advance closes the windows the watermark has passed (plus lateness), or
// all when flush, in time order.
func (e *Engine) Advance(flush bool) []Result {
	var starts []int64
	for s := range e.open {
		if flush || s+e.window+e.lateness <= e.watermark {
			starts = append(starts, s)
		}
	}
	slices.Sort(starts)
	out := make([]Result, 0, len(starts))
	for _, s := range starts {
		w := e.open[s]
		delete(e.open, s)
		out = append(out, e.close(w))
	}
	return out
}
