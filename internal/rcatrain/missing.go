package rcatrain

import (
	"math/rand/v2"
	"slices"

	"github.com/otelcol-biz/otelcol-biz/internal/nezha"
	"github.com/otelcol-biz/otelcol-biz/internal/rootcause"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Missing is the signal families a training replay goes without: a
// collector often gets no logs from some services (or none at all), spans
// whose status is never set, or no pod metrics. A network trained only on
// complete telemetry learns that a service without log evidence is not the
// culprit, and fails on the first system that ships no logs.
type Missing struct {
	// Logs: no log record at all.
	Logs bool
	// LoglessServices ship no log records (by service.name).
	LoglessServices map[string]bool
	// Status: span status and exception events are never set.
	Status bool
	// Metrics: no pod metrics.
	Metrics bool
	// Sizes: spans carry no response size (the attributes and gRPC
	// message events rootcause reads).
	Sizes bool
	// Hidden services send nothing at all (by service.name): no spans,
	// logs or pod metrics, as an uninstrumented service or one whose
	// collector is down. Their callers' CLIENT spans still name them, so
	// they are blind spots. Simulated batches only (rcabench -mask hides
	// the recorded services).
	Hidden map[string]bool
	// HideCulprit hides the scenario's culprit as Hidden would (not an
	// entry service: its root spans are every request's first);
	// ShapeExamplesWithout reads it.
	HideCulprit bool
	// HideBystanders hides this many services other than the culprit and
	// the entry service, drawn from the scenario's seed: blind spots that
	// must not take the blame. ShapeExamplesWithout reads it.
	HideBystanders int
}

// Shares of the simulated scenarios without a family, and of the services
// of a scenario with logs that ship none.
const (
	noLogsShare     = 0.2
	loglessShare    = 0.2
	noStatusShare   = 0.2
	noMetricsPeriod = 6 // every sixth scenario, as before families were dropped otherwise
	noSizesPeriod   = 3 // every third, counted from the second: never with the metrics
)

// pickBystanders draws n services (at most all) other than the entry
// service (services[0]) and the culprit.
func pickBystanders(rng *rand.Rand, services []string, culprit string, n int) map[string]bool {
	bystanders := slices.DeleteFunc(slices.Clone(services[1:]), func(s string) bool { return s == culprit })
	rng.Shuffle(len(bystanders), func(i, j int) { bystanders[i], bystanders[j] = bystanders[j], bystanders[i] })
	out := map[string]bool{}
	for _, s := range bystanders[:min(n, len(bystanders))] {
		out[s] = true
	}
	return out
}

// drawMissing is scenario i's families: every sixth without pod metrics,
// every third of the others without response sizes; a
// fifth without logs and, independently, a fifth without span status; in
// the others one service in five (the faulty one too) ships no logs. The
// draws come from the scenario's own seed, so a scenario's families do not
// depend on the ones before it.
func drawMissing(i int, seed int64, services []string) Missing {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xab1a7e))
	m := Missing{
		Metrics: i%noMetricsPeriod == noMetricsPeriod-1,
		Sizes:   i%noSizesPeriod == 1,
		Logs:    rng.Float64() < noLogsShare,
		Status:  rng.Float64() < noStatusShare,
	}
	for _, s := range services {
		if rng.Float64() < loglessShare && !m.Logs {
			if m.LoglessServices == nil {
				m.LoglessServices = map[string]bool{}
			}
			m.LoglessServices[s] = true
		}
	}
	return m
}

// apply returns one batch without m's families. The batch is changed in
// place: simulated batches are fed once.
func (m Missing) apply(td ptrace.Traces, ld plog.Logs, md pmetric.Metrics) (ptrace.Traces, plog.Logs, pmetric.Metrics) {
	if m.Metrics {
		md = pmetric.NewMetrics()
	}
	if len(m.Hidden) > 0 {
		td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool { return serviceIn(rs.Resource(), m.Hidden) })
		ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool { return serviceIn(rl.Resource(), m.Hidden) })
		md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool { return serviceIn(rm.Resource(), m.Hidden) })
	}
	switch {
	case m.Logs:
		ld = plog.NewLogs()
	case len(m.LoglessServices) > 0:
		ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool { return serviceIn(rl.Resource(), m.LoglessServices) })
	}
	if m.Status {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					s.Status().SetCode(ptrace.StatusCodeUnset)
					s.Status().SetMessage("")
					s.Events().RemoveIf(func(ev ptrace.SpanEvent) bool { return ev.Name() == "exception" })
				}
			}
		}
	}
	if m.Sizes {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					for _, k := range rootcause.RespSizeKeys {
						s.Attributes().Remove(k)
					}
					s.Events().RemoveIf(func(ev ptrace.SpanEvent) bool { return ev.Name() == rootcause.GRPCMessageEvent })
				}
			}
		}
	}
	return td, ld, md
}

// serviceIn reports whether res's service.name is one of services.
func serviceIn(res pcommon.Resource, services map[string]bool) bool {
	v, ok := res.Attributes().Get("service.name")
	return ok && services[v.Str()]
}

// Events returns the recorded events without m's families, and how many
// log lines and pod metric samples went; evs is left as it is. Status has
// nothing to clear: the recorded spans carry none (a span's only error
// signal is an ERROR log line with its ids, which Logs removes).
func (m Missing) Events(evs []nezha.Event) (kept []nezha.Event, logs, samples int) {
	if !m.Logs && !m.Metrics && len(m.LoglessServices) == 0 {
		return evs, 0, 0
	}
	kept = make([]nezha.Event, 0, len(evs))
	for _, e := range evs {
		switch {
		case e.Log != nil && (m.Logs || m.LoglessServices[nezha.ServiceOf(e.Log.Pod)]):
			logs++
		case e.Metric != nil && m.Metrics:
			samples++
		default:
			kept = append(kept, e)
		}
	}
	return kept, logs, samples
}
