// Package rcatrain builds the labelled windows the gnn_root_cause network
// is trained on, from the fault simulator (internal/rcasim) and from the
// Nezha development cases, through the same engine the connector runs; and
// fits the model. cmd/gnntrain writes the embedded weights with it and
// cmd/rcabench cross-validates with it, so both train identically.
package rcatrain // import "github.com/otelcol-biz/otelcol-biz/internal/rcatrain"

import (
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"
)

// Settings are the engine settings of a replay; the scored window is the
// first one (with a report) ending at or after the fault start + Delay.
type Settings struct {
	Window, Baseline, Delay time.Duration
	MinAnomaly              float64
}

// Defaults are rcabench's: 30 s windows (the connector's default), a 3 min
// baseline (the replay has about 2.5 fault-free minutes per case).
var Defaults = Settings{Window: 30 * time.Second, Baseline: 3 * time.Minute, Delay: 60 * time.Second, MinAnomaly: 0.5}

// EngineConfig is the connector's default configuration with s applied.
func (s Settings) EngineConfig(method rootcause.Method) rootcause.Config {
	return rootcause.Config{
		Window: s.Window, Baseline: s.Baseline, MaxLateness: 10 * time.Second, TopK: 5,
		MaxServices: 2000, MaxEdges: 20000, MaxOperations: 20000, MaxPods: 20000, MaxSpansPerWindow: 500_000, MaxLogTemplates: 20000, MaxMetricSeries: 40000,
		MinAnomaly: s.MinAnomaly, Method: method, AllMethods: true,
		CPUMetrics:    []string{nezha.MetricCPU, "k8s.pod.cpu.usage"},
		MemoryMetrics: []string{nezha.MetricMemory, "k8s.pod.memory.usage"},
	}
}

// Feeder collects the scored window of one replay, and for CaseExamples
// the windows wholly inside the fault.
type Feeder struct {
	engine *rootcause.Engine
	due    int64
	Graph  *rootcause.Graph
	// during are the windows (with a report) wholly inside [from, to); from == to: none
	from, to int64
	during   []*rootcause.Graph
}

// NewFeeder returns a feeder scoring the first window ending at or after due.
func NewFeeder(s Settings, due time.Time) (*Feeder, error) {
	e, err := rootcause.NewEngine(s.EngineConfig(rootcause.LatencyZ{}))
	if err != nil {
		return nil, err
	}
	e.SetClock(func() time.Time { return due.Add(time.Hour) })
	return &Feeder{engine: e, due: due.UnixNano()}, nil
}

// Feed adds one batch (metrics, logs, then spans, as the connector gets them).
func (f *Feeder) Feed(td ptrace.Traces, ld plog.Logs, md pmetric.Metrics) {
	f.engine.AddMetrics(md)
	f.engine.AddLogs(ld)
	f.engine.AddTraces(td)
	f.take(f.engine.Advance(false))
}

// Close flushes the open windows.
func (f *Feeder) Close() { f.take(f.engine.Advance(true)) }

func (f *Feeder) take(rs []rootcause.Result) {
	for _, r := range rs {
		if f.Graph == nil && r.Graph.End >= f.due && r.Report != nil {
			f.Graph = r.Graph
		}
		if r.Report != nil && r.Graph.Start >= f.from && r.Graph.End <= f.to {
			f.during = append(f.during, r.Graph)
		}
	}
}

// CaseGraph replays a Nezha case after its day's history and returns the
// scored window's graph (nil if no window qualified).
func CaseGraph(c nezha.Case, history []nezha.Event, s Settings) (*rootcause.Graph, error) {
	f, err := replayCase(c, history, s, 0, 0)
	if err != nil {
		return nil, err
	}
	return f.Graph, nil
}

// replayCase replays a Nezha case after its day's history, collecting the
// scored window and the windows wholly inside [from, to).
func replayCase(c nezha.Case, history []nezha.Event, s Settings, from, to int64) (*Feeder, error) {
	f, err := NewFeeder(s, c.Fault.InjectTime.Add(s.Delay))
	if err != nil {
		return nil, err
	}
	f.from, f.to = from, to
	nezha.Replay(history, c, int64(s.Window), f.Feed)
	f.Close()
	return f, nil
}

// Labeled is a training example with where it came from.
type Labeled struct {
	rootcause.Example
	Source string // "sim", "sim/<shape>" or the case's inject time and service
	Fault  string
}

// CaseExamples are all of a case's windows wholly inside the fault and its
// recorded data (the fault lasts 3 minutes, the files about 2: a window the
// data stops in holds a few seconds of it), labelled with its faulty
// service (none when the service is in no such window), replayed as
// recorded and once without each family of CaseVariants. Training on every
// one of them, not only the scored one, shows the network the fault's
// course, and on the variants what the same fault looks like where a
// family is missing; they share the case's DatasetWeight.
func CaseExamples(c nezha.Case, history []nezha.Event, s Settings) ([]Labeled, error) {
	var windows []*rootcause.Graph
	for _, m := range CaseVariants {
		vc := c
		h, _, _ := m.Events(history)
		vc.Events, _, _ = m.Events(c.Events)
		f, err := replayCase(vc, h, s, c.Fault.InjectTime.UnixNano(), min(c.Fault.End().UnixNano(), dataEnd(c.Events)))
		if err != nil {
			return nil, err
		}
		windows = append(windows, f.during...)
	}
	return weighCase(windows, c), nil
}

// weighCase labels a case's fault windows and shares DatasetWeight among
// those holding the faulty service.
func weighCase(windows []*rootcause.Graph, c nezha.Case) []Labeled {
	var out []Labeled
	for _, g := range windows {
		if l, ok := label(g, c.Fault.Service, CaseID(c), c.Fault.Type); ok {
			out = append(out, l)
		}
	}
	for i := range out {
		out[i].Weight = DatasetWeight / float64(len(out))
	}
	return out
}

// CaseVariants are the families the real cases are replayed without for
// training, besides as recorded: the simulator drops them per scenario and
// per service (drawMissing), the real cases whole.
var CaseVariants = []Missing{{}, {Logs: true}, {Metrics: true}}

// dataEnd is the time of the last span or log line of events (metrics are
// per minute and may run on).
func dataEnd(events []nezha.Event) int64 {
	end := int64(math.MinInt64)
	for _, e := range events {
		if e.Span != nil || e.Log != nil {
			end = max(end, e.At)
		}
	}
	return end
}

// CaseID names a case: its inject time and service.
func CaseID(c nezha.Case) string {
	return c.Fault.InjectTime.Format("2006-01-02T15:04:05") + " " + c.Fault.Service
}

// TrainConfig is the network cmd/gnntrain trains: five members, whose mean
// share ranks (one network's AC@1 on the Nezha cases moved between 0.867
// and 0.900 with the seed of its initial weights, five networks' did not).
var TrainConfig = rootcause.TrainConfig{Hidden: 8, Layers: 2, Members: 5, Epochs: 200, LearningRate: 0.01, L2: 1e-3, Seed: 1}

// Fit trains the model on examples (dataset examples carry their share of
// DatasetWeight, see weighCase; simulated ones weigh 1).
func Fit(examples []Labeled, cfg rootcause.TrainConfig) *rootcause.Model {
	ex := make([]rootcause.Example, len(examples))
	sim, data := 0, 0
	for i, l := range examples {
		ex[i] = l.Example
		if IsSim(l) {
			sim++
		} else {
			data++
		}
	}
	m := rootcause.Train(ex, cfg)
	m.Trained.SimGraphs, m.Trained.DatasetGraphs = sim, data
	return m
}

// IsSim tells a simulated example from a dataset one.
func IsSim(l Labeled) bool { return strings.HasPrefix(l.Source, "sim") }

// DatasetWeight is how many simulated scenarios a real case counts as: ten, so the ~30 cases
// weigh about as much as the 300 scenarios: the simulator teaches the
// shapes, the data the magnitudes.
const DatasetWeight = 10.0

// label is g's example with the faulty service as target; false when there
// is no scored window or the service is not in it.
func label(g *rootcause.Graph, service, source, fault string) (Labeled, bool) {
	if g == nil {
		return Labeled{}, false
	}
	t := g.Index(service)
	if t < 0 {
		return Labeled{}, false
	}
	return Labeled{Example: rootcause.Example{Graph: g, Target: t}, Source: source, Fault: fault}, true
}
