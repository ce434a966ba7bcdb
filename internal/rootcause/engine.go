package rootcause

import (
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Config configures an Engine; the connector maps its YAML onto it.
type Config struct {
	Window, Baseline, MaxLateness time.Duration
	// MaxFuture: spans, log records and samples stamped further than this
	// ahead of the wall clock are dropped as bad clocks (counted): a span
	// would close every window, a record or sample would open windows that
	// never close. 0: DefaultMaxFuture.
	MaxFuture   time.Duration
	TopK        int
	MaxServices int
	// MaxEdges bounds the caller -> callee edges per window and in the
	// baselines, and separately the call patterns (callpattern.go).
	MaxEdges               int
	MaxOperations, MaxPods int
	MaxSpansPerWindow      int
	// MaxLogTemplates bounds the log templates counted per window and kept
	// in the baseline, and separately the statement pairs and the runs of
	// new templates (logRun).
	MaxLogTemplates int
	// MaxMetricSeries bounds the pod CPU and memory series one window keeps.
	MaxMetricSeries int
	MinAnomaly      float64
	Method          Method
	// AllMethods fills every method's per-node scores, not only Method's:
	// for tools that rank one graph by several methods (rcatrain). Off,
	// a close skips TraceRCA's pass over the traces unless Method is it.
	AllMethods bool
	// CPUMetrics and MemoryMetrics are the metric names read as pod CPU and memory.
	CPUMetrics, MemoryMetrics []string
}

// Stats are the engine's counters since it started.
type Stats struct {
	Spans, Logs                                                     int64 // received
	LateSpans, DroppedSpans, DroppedLogs, DroppedEdges, FutureSpans int64
	FutureLogs, FutureSamples                                       int64 // beyond MaxFuture, like FutureSpans
	DroppedTemplates                                                int64 // beyond MaxLogTemplates
	DroppedMetrics                                                  int64 // samples of series beyond MaxMetricSeries
	Windows, Reports                                                int64
}

func (s Stats) plus(o Stats) Stats {
	return Stats{
		Spans: s.Spans + o.Spans, Logs: s.Logs + o.Logs,
		LateSpans: s.LateSpans + o.LateSpans, DroppedSpans: s.DroppedSpans + o.DroppedSpans, DroppedLogs: s.DroppedLogs + o.DroppedLogs,
		DroppedEdges: s.DroppedEdges + o.DroppedEdges, FutureSpans: s.FutureSpans + o.FutureSpans,
		FutureLogs: s.FutureLogs + o.FutureLogs, FutureSamples: s.FutureSamples + o.FutureSamples,
		DroppedTemplates: s.DroppedTemplates + o.DroppedTemplates, DroppedMetrics: s.DroppedMetrics + o.DroppedMetrics,
		Windows: s.Windows + o.Windows, Reports: s.Reports + o.Reports,
	}
}

// Result is one closed window: its graph, and its report when some node
// reached min_anomaly.
type Result struct {
	Graph  *Graph
	Report *Report
}

// Engine aggregates telemetry into event-time windows and ranks each closed
// window. Ingestion (Add*) and ranking (Close) may run on different
// goroutines: they share only the intake, whose lock a close takes for a
// few short steps. Closes are serialised.
type Engine struct {
	cfg             Config
	window          int64 // ns
	baselineWindows int
	in              *intake

	mu       sync.Mutex // held by a close; guards what follows
	nodes    map[int32]*nodeState
	blind    map[int32]*nodeState // blind spots' baselines (blindspot.go)
	alias    map[int32]int32      // peer name -> the service calls with that peer reached
	edges    map[edgeKey]*edgeState
	opBase   map[opKey]*opState
	tmplBase map[tmplKey]*tmplState
	logExp   map[int32]*logExposure
	opExp    map[opKey]*opExposure
	seqBase  map[seqKey]*tmplState
	newRun   map[svcTmpl]*logRun // FeatLogNew's runs, at most max_log_templates
	calls    callBook            // call patterns (callpattern.go)
	scratch  []float64
	stats    Stats // the ranking's counters; the intake keeps the ingest's
}

type nodeState struct {
	rings     [NumNodeFeatures]ring // only fromRing features; the others come from edges, logs and calls
	cpu, mem  float64               // latest samples, NaN before the first
	last      *Node                 // the node in the window starting at lastStart, when anomalous
	lastStart int64
	hold      hold // a blind spot's latency (blindLatencyHeld)
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

// NewEngine checks cfg and returns an engine.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Window <= 0 || cfg.Baseline < cfg.Window || cfg.TopK <= 0 || cfg.MaxServices <= 0 || cfg.MaxEdges <= 0 ||
		cfg.MaxOperations <= 0 || cfg.MaxPods <= 0 || cfg.MaxSpansPerWindow <= 0 || cfg.MaxLogTemplates <= 0 || cfg.MaxMetricSeries <= 0 || cfg.MaxLateness < 0 {
		return nil, errors.New("rootcause: invalid engine configuration")
	}
	if cfg.MaxFuture <= 0 {
		cfg.MaxFuture = DefaultMaxFuture
	}
	if cfg.Method == nil {
		return nil, errors.New("rootcause: no ranking method")
	}
	e := &Engine{
		cfg:             cfg,
		window:          int64(cfg.Window),
		baselineWindows: max(int(cfg.Baseline/cfg.Window), minHistory),
		nodes:           map[int32]*nodeState{},
		blind:           map[int32]*nodeState{},
		alias:           map[int32]int32{},
		edges:           map[edgeKey]*edgeState{},
		opBase:          map[opKey]*opState{},
		tmplBase:        map[tmplKey]*tmplState{},
		logExp:          map[int32]*logExposure{},
		opExp:           map[opKey]*opExposure{},
		seqBase:         map[seqKey]*tmplState{},
		newRun:          map[svcTmpl]*logRun{},
		calls:           newCallBook(),
	}
	e.in = newIntake(&e.cfg)
	return e, nil
}

// SetClock replaces the wall clock that spans from the future are judged
// by (tests, replays of old data).
func (e *Engine) SetClock(now func() time.Time) {
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	e.in.now = now
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	return e.stats.plus(e.in.stats)
}

// OpenWindows is the number of windows not closed yet.
func (e *Engine) OpenWindows() int {
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	return len(e.in.open)
}

// AddTraces puts each span into the window of its end time.
func (e *Engine) AddTraces(td ptrace.Traces) {
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	e.in.addTraces(td)
}

// AddLogs counts every record by template (see logtemplate.go) and keeps
// the ERROR-or-worse ones: counted per service, and joined to their span
// (when they carry its ids) to mark it failed.
func (e *Engine) AddLogs(ld plog.Logs) {
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	e.in.addLogs(ld)
}

// AddMetrics reads pod CPU and memory gauges/sums (the configured names);
// samples of closed windows update the carried-forward value at the next
// close.
func (e *Engine) AddMetrics(md pmetric.Metrics) {
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	e.in.addMetrics(md)
}

// Due returns the starts of the windows to close, oldest first: those the
// watermark has passed (plus lateness), or every open one when flush.
func (e *Engine) Due(flush bool) []int64 {
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	return e.in.due(flush)
}

// Close closes the window starting at start (false when it is not open)
// and ranks it. Closing the windows Due returns, in its order, ranks them
// as Advance does, also while ingestion goes on.
func (e *Engine) Close(start int64) (Result, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.in.mu.Lock()
	w, late := e.in.detach(start)
	e.in.mu.Unlock()
	if w == nil {
		return Result{}, false
	}
	for k, v := range late {
		if st := e.nodes[k.service]; st != nil {
			if k.cpu {
				st.cpu = v
			} else {
				st.mem = v
			}
		}
	}
	return e.close(w), true
}

// Advance closes the windows the watermark has passed (plus lateness), or
// all when flush, in time order.
func (e *Engine) Advance(flush bool) []Result {
	starts := e.Due(flush)
	out := make([]Result, 0, len(starts))
	for _, s := range starts {
		if r, ok := e.Close(s); ok {
			out = append(out, r)
		}
	}
	return out
}
