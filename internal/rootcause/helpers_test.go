package rootcause

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// hop is one service of a synthetic call chain.
type hop struct {
	service string
	selfMs  float64 // median self time
	gapMs   float64 // network time before it (caller's exit span minus its entry span)
	errRate float64
}

// chainTraffic builds n traces over [at, at+spread) through the chain:
// each service has an entry span and, except the last, an exit span whose
// child is the next service's entry span (the shape of SkyWalking and OTel
// HTTP instrumentation).
func chainTraffic(rng *rand.Rand, at time.Time, spread time.Duration, n int, chain []hop) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := map[string]ptrace.SpanSlice{}
	for _, h := range chain {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", h.service)
		rs.Resource().Attributes().PutStr("k8s.pod.name", h.service+"-5d8f9c7b6-x1y2z")
		ss[h.service] = rs.ScopeSpans().AppendEmpty().Spans()
	}
	for i := range n {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
		self := make([]time.Duration, len(chain))
		gap := make([]time.Duration, len(chain))
		for k, h := range chain {
			self[k] = time.Duration(h.selfMs * (0.8 + 0.4*rng.Float64()) * float64(time.Millisecond))
			gap[k] = time.Duration((h.gapMs + 0.2*rng.Float64()) * float64(time.Millisecond))
		}
		// durations from the innermost out
		dur := make([]time.Duration, len(chain))
		for k := len(chain) - 1; k >= 0; k-- {
			dur[k] = self[k]
			if k+1 < len(chain) {
				dur[k] += dur[k+1] + gap[k+1]
			}
		}
		end := at.Add(time.Duration(float64(spread) * float64(i) / float64(n)))
		start := end.Add(-dur[0])
		var parent pcommon.SpanID
		for k, h := range chain {
			entry := ss[h.service].AppendEmpty()
			entry.SetTraceID(tid)
			entry.SetSpanID(spanID(rng))
			entry.SetParentSpanID(parent)
			entry.SetName("/api/" + h.service)
			entry.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			entry.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur[k])))
			if rng.Float64() < h.errRate {
				entry.Status().SetCode(ptrace.StatusCodeError)
			}
			if k+1 == len(chain) {
				break
			}
			exit := ss[h.service].AppendEmpty()
			exit.SetTraceID(tid)
			exit.SetSpanID(spanID(rng))
			exit.SetParentSpanID(entry.SpanID())
			exit.SetName("HTTP POST")
			exitStart := start.Add(self[k] / 2)
			exitDur := dur[k+1] + gap[k+1]
			exit.SetStartTimestamp(pcommon.NewTimestampFromTime(exitStart))
			exit.SetEndTimestamp(pcommon.NewTimestampFromTime(exitStart.Add(exitDur)))
			start = exitStart.Add(gap[k+1] / 2)
			parent = exit.SpanID()
		}
	}
	return td
}

func spanID(rng *rand.Rand) pcommon.SpanID {
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(s[:], rng.Uint64()|1)
	return s
}

func testConfig(m Method) Config {
	return Config{
		Window: 30 * time.Second, Baseline: 5 * time.Minute, MaxLateness: 5 * time.Second, TopK: 5,
		MaxServices: 100, MaxEdges: 1000, MaxOperations: 1000, MaxPods: 1000, MaxSpansPerWindow: 100_000, MaxLogTemplates: 10000, MaxMetricSeries: 1000,
		MinAnomaly: 3, Method: m, CPUMetrics: []string{"k8s.pod.cpu.usage"}, MemoryMetrics: []string{"k8s.pod.memory.usage"},
	}
}

// newTestEngine returns an engine of testConfig(m) with edits applied.
func newTestEngine(t testing.TB, m Method, edits ...func(*Config)) *Engine {
	cfg := testConfig(m)
	for _, edit := range edits {
		edit(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.SetClock(func() time.Time { return t0.Add(24 * time.Hour) })
	return e
}

// shop is gateway -> order -> inventory -> payment.
func shop() []hop {
	return []hop{{service: "gateway", selfMs: 4}, {service: "order", selfMs: 15, gapMs: 1}, {service: "inventory", selfMs: 8, gapMs: 1}, {service: "payment", selfMs: 25, gapMs: 1}}
}

// replay feeds windows of traffic (one call per window, from mutate(w))
// and returns the reports.
func replay(e *Engine, windows int, mutate func(w int, chain []hop)) []Result {
	return replayChains(e, windows, func(w int) []hop {
		chain := shop()
		mutate(w, chain)
		return chain
	})
}

// replayChains is replay with window w's chain from chainOf(w) (which may
// leave services out).
func replayChains(e *Engine, windows int, chainOf func(w int) []hop) []Result {
	rng := rand.New(rand.NewPCG(7, 11))
	var out []Result
	for w := range windows {
		chain := chainOf(w)
		e.AddTraces(chainTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 28*time.Second, 150, chain))
		out = append(out, e.Advance(false)...)
	}
	return append(out, e.Advance(true)...)
}

func firstReport(rs []Result) *Report {
	for _, r := range rs {
		if r.Report != nil {
			return r.Report
		}
	}
	return nil
}
