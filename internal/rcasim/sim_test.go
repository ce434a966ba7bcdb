package rcasim

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var allFaults = []string{FaultNone, FaultCPU, FaultDelay, FaultException, FaultReturn, FaultTimeoutCascade}

// fspan is a span flattened out of the batches, for whole-scenario checks.
type fspan struct {
	trace      pcommon.TraceID
	id, parent pcommon.SpanID
	svc, pod   string
	name       string
	start, end int64
	batch      int
	span       ptrace.Span
	children   []*fspan
}

func (s *fspan) dur() int64        { return s.end - s.start }
func (s *fspan) isExit() bool      { return strings.HasPrefix(s.name, "HTTP ") }
func (s *fspan) isErr() bool       { return s.span.Status().Code() == ptrace.StatusCodeError }
func (s *fspan) statusMsg() string { return s.span.Status().Message() }

type flog struct {
	svc     string
	batch   int
	rec     plog.LogRecord
	traced  bool
	isError bool
}

type flat struct {
	sc    Scenario
	spans []*fspan
	byID  map[pcommon.SpanID]*fspan
	logs  []flog
	// inject is sc.InjectAt in ns, or the end of the scenario without a fault.
	inject int64
	// infos counts INFO records per span (request logs hang off the controller span).
	infos map[pcommon.SpanID]int
}

func flatten(t testing.TB, sc Scenario) *flat {
	f := &flat{sc: sc, byID: map[pcommon.SpanID]*fspan{}, infos: map[pcommon.SpanID]int{}}
	f.inject = sc.Batches[len(sc.Batches)-1].End.UnixNano()
	if !sc.InjectAt.IsZero() {
		f.inject = sc.InjectAt.UnixNano()
	}
	for b, batch := range sc.Batches {
		rss := batch.Traces.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			rs := rss.At(i)
			svc, _ := rs.Resource().Attributes().Get(attrServiceName)
			pod, _ := rs.Resource().Attributes().Get(attrPodName)
			sss := rs.ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				ss := sss.At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					sp := ss.At(k)
					s := &fspan{
						trace: sp.TraceID(), id: sp.SpanID(), parent: sp.ParentSpanID(),
						svc: svc.Str(), pod: pod.Str(), name: sp.Name(),
						start: int64(sp.StartTimestamp()), end: int64(sp.EndTimestamp()),
						batch: b, span: sp,
					}
					_, dup := f.byID[s.id]
					require.False(t, dup, "duplicate span id %s", s.id)
					f.byID[s.id] = s
					f.spans = append(f.spans, s)
				}
			}
		}
		rls := batch.Logs.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			svc, _ := rls.At(i).Resource().Attributes().Get(attrServiceName)
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if lr.SeverityNumber() == plog.SeverityNumberInfo {
						f.infos[lr.SpanID()]++
					}
					f.logs = append(f.logs, flog{
						svc: svc.Str(), batch: b, rec: lr,
						traced:  !lr.TraceID().IsEmpty(),
						isError: lr.SeverityNumber() == plog.SeverityNumberError,
					})
				}
			}
		}
	}
	for _, s := range f.spans {
		if p, ok := f.byID[s.parent]; ok {
			p.children = append(p.children, s)
		}
	}
	return f
}

// isEntry: the span where a request enters a service.
func (f *flat) isEntry(s *fspan) bool {
	p, ok := f.byID[s.parent]
	return !ok || p.svc != s.svc
}

// under reports whether s is a span of svc or runs below one.
func (f *flat) under(s *fspan, svc string) bool {
	for ; s != nil; s = f.byID[s.parent] {
		if s.svc == svc {
			return true
		}
	}
	return false
}

func (f *flat) fault(s *fspan) bool { return s.start >= f.inject }

// statements counts the INFO statements a request logged in the service of
// its entry span s.
func (f *flat) statements(s *fspan) int64 {
	n := f.infos[s.id]
	for _, c := range s.children {
		if c.svc == s.svc {
			n += f.infos[c.id]
		}
	}
	return int64(n)
}

// self is the span's duration outside its children.
func self(s *fspan) int64 {
	iv := make([][2]int64, 0, len(s.children))
	for _, c := range s.children {
		iv = append(iv, [2]int64{c.start, c.end})
	}
	slices.SortFunc(iv, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	covered, curS, curE := int64(0), int64(-1), int64(-1)
	for _, x := range iv {
		if x[0] > curE {
			covered += curE - curS
			curS, curE = x[0], x[1]
		} else {
			curE = max(curE, x[1])
		}
	}
	covered += curE - curS
	return s.dur() - covered
}

// busy is the service's own time for one request: the self time of its spans
// below the entry span, leaving out exit spans (network).
func busy(s *fspan) int64 {
	total := self(s)
	for _, c := range s.children {
		if c.svc == s.svc && !c.isExit() {
			total += busy(c)
		}
	}
	return total
}

// exitCount counts the service's exit spans for one request.
func exitCount(s *fspan) int {
	n := 0
	for _, c := range s.children {
		switch {
		case c.svc != s.svc:
		case c.isExit():
			n++
		default:
			n += exitCount(c)
		}
	}
	return n
}

func median(v []int64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return float64(v[len(v)/2])
}

// phases splits a per-span value of the faulty service's entry spans into
// normal and fault phase.
func (f *flat) phases(svc string, val func(*fspan) int64) (normal, fault []int64) {
	for _, s := range f.spans {
		if s.svc != svc || !f.isEntry(s) {
			continue
		}
		if f.fault(s) {
			fault = append(fault, val(s))
		} else {
			normal = append(normal, val(s))
		}
	}
	return normal, fault
}

// ratio compares fault to normal phase for svc's entry spans. Endpoints
// differ by an order of magnitude and their mix is noisy, so each value is
// first divided by its operation's normal-phase median, then the medians of
// the pooled values are compared.
func (f *flat) ratio(svc string, val func(*fspan) int64) float64 {
	normal := map[string][]int64{}
	for _, s := range f.spans {
		if s.svc == svc && f.isEntry(s) && !f.fault(s) {
			normal[s.name] = append(normal[s.name], val(s))
		}
	}
	base := map[string]float64{}
	for op, v := range normal {
		if len(v) >= 10 {
			base[op] = median(v)
		}
	}
	var n, fl []float64
	for _, s := range f.spans {
		b, ok := base[s.name]
		if s.svc != svc || !f.isEntry(s) || !ok || b == 0 {
			continue
		}
		if f.fault(s) {
			fl = append(fl, float64(val(s))/b)
		} else {
			n = append(n, float64(val(s))/b)
		}
	}
	if len(fl) == 0 {
		return 0
	}
	slices.Sort(n)
	slices.Sort(fl)
	return fl[len(fl)/2] / n[len(n)/2]
}

func (f *flat) errorSpans() []*fspan {
	var out []*fspan
	for _, s := range f.spans {
		if s.isErr() {
			out = append(out, s)
		}
	}
	return out
}

func (f *flat) cpu(svc string) (normal, fault []float64) {
	for _, b := range f.sc.Batches {
		rms := b.Metrics.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			v, _ := rms.At(i).Resource().Attributes().Get(attrServiceName)
			if v.Str() != svc {
				continue
			}
			ms := rms.At(i).ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				if ms.At(j).Name() != metricCPU {
					continue
				}
				x := ms.At(j).Gauge().DataPoints().At(0).DoubleValue()
				if b.Start.UnixNano() >= f.inject {
					fault = append(fault, x)
				} else {
					normal = append(normal, x)
				}
			}
		}
	}
	return normal, fault
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func marshal(t testing.TB, b Batch) [3][]byte {
	tb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(b.Traces)
	require.NoError(t, err)
	lb, err := (&plog.ProtoMarshaler{}).MarshalLogs(b.Logs)
	require.NoError(t, err)
	mb, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(b.Metrics)
	require.NoError(t, err)
	return [3][]byte{tb, lb, mb}
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "defaults", cfg: Config{Seed: 1}},
		{name: "cpu_45_services", cfg: Config{Seed: 7, Services: 45, TracesPerStep: 50, Fault: FaultCPU}},
		{name: "delay", cfg: Config{Seed: 2, TracesPerStep: 50, Fault: FaultDelay}},
		{name: "exception", cfg: Config{Seed: 3, TracesPerStep: 50, Fault: FaultException}},
		{name: "return", cfg: Config{Seed: 4, TracesPerStep: 50, Fault: FaultReturn}},
		{name: "cascade", cfg: Config{Seed: 5, TracesPerStep: 50, Fault: FaultTimeoutCascade}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := Generate(tt.cfg), Generate(tt.cfg)
			require.Equal(t, a.Services, b.Services)
			require.Equal(t, a.Edges, b.Edges)
			require.Equal(t, a.FaultService, b.FaultService)
			require.Equal(t, a.InjectAt, b.InjectAt)
			require.Len(t, b.Batches, len(a.Batches))
			for k := range a.Batches {
				assert.Equal(t, marshal(t, a.Batches[k]), marshal(t, b.Batches[k]), "batch %d", k)
			}

			other := tt.cfg
			other.Seed++
			c := Generate(other)
			assert.NotEqual(t, marshal(t, a.Batches[0])[0], marshal(t, c.Batches[0])[0], "another seed must give other traces")
		})
	}
}

// Fault-free steps do not depend on the fault injected later, which gives
// like-for-like comparisons between fault kinds.
func TestNormalStepsIndependentOfFault(t *testing.T) {
	t.Parallel()
	base := Generate(Config{Seed: 11, TracesPerStep: 80})
	for _, kind := range allFaults[1:] {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			sc := Generate(Config{Seed: 11, TracesPerStep: 80, Fault: kind})
			require.Equal(t, base.Edges, sc.Edges)
			// The last normal step may hold spans of traces that reach into the fault.
			for k := 0; k < defaultNormalSteps-1; k++ {
				assert.Equal(t, marshal(t, base.Batches[k]), marshal(t, sc.Batches[k]), "batch %d", k)
			}
		})
	}
}

func TestTopology(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 5, 45, 60} {
		sc := Generate(Config{Seed: int64(n) + 1, Services: n, TracesPerStep: 20, NormalSteps: 2, FaultSteps: -1})
		want := cmp.Or(n, defaultServices)
		require.Len(t, sc.Services, want)
		assert.Equal(t, gatewayName, sc.Services[0])
		assert.Len(t, sc.Batches, 2)

		callers := map[string][]string{}
		callees := map[string][]string{}
		for _, e := range sc.Edges {
			callers[e[1]] = append(callers[e[1]], e[0])
			callees[e[0]] = append(callees[e[0]], e[1])
		}
		for _, s := range sc.Services[1:] {
			assert.NotEmpty(t, callers[s], "%s is never called", s)
		}
		assert.Empty(t, callers[gatewayName])
		// Depth in services, which also proves the graph has no cycle.
		var depth func(s string, seen int) int
		depth = func(s string, seen int) int {
			require.Less(t, seen, len(sc.Services), "cycle through %s", s)
			d := 1
			for _, c := range callees[s] {
				d = max(d, 1+depth(c, seen+1))
			}
			return d
		}
		d := depth(gatewayName, 0)
		assert.LessOrEqual(t, d, maxLayer+1)
		assert.GreaterOrEqual(t, d, 3)
		if want >= defaultServices {
			hub := 0
			for _, s := range sc.Services {
				hub = max(hub, len(callers[s]))
			}
			assert.GreaterOrEqual(t, hub, 4, "shared leaves are called by many")
		}
	}

	g := buildGraph(newGraphRNG(1), defaultServices, ShapeTrainTicket)
	ops := map[string]bool{}
	for _, s := range g.services[1:] {
		assert.True(t, len(s.eps) >= 1 && len(s.eps) <= 4, s.name)
		for _, ep := range s.eps {
			assert.True(t, strings.HasPrefix(ep.op, "/api/v1/"), ep.op)
			ops[ep.op], ops[ep.ctrl] = true, true
			if ep.sql != "" {
				ops[ep.repo], ops[ep.sql] = true, true
			}
			if s.layer == 1 {
				n := 0
				for _, grp := range ep.groups {
					n += len(grp)
				}
				assert.GreaterOrEqual(t, n, 2, "front endpoints fan out")
			}
		}
	}
	assert.Greater(t, len(ops), 100)
	assert.Less(t, len(ops), 1000)
}

func TestStructure(t *testing.T) {
	t.Parallel()
	for _, kind := range allFaults {
		t.Run(cmp.Or(kind, "none"), func(t *testing.T) {
			t.Parallel()
			sc := Generate(Config{Seed: 21, TracesPerStep: 100, Fault: kind})
			require.Len(t, sc.Batches, defaultNormalSteps+defaultFaultSteps)
			if kind != FaultNone {
				require.NotEmpty(t, sc.FaultService)
				assert.NotEqual(t, gatewayName, sc.FaultService)
				assert.Equal(t, defaultStart.Add(defaultNormalSteps*defaultStep), sc.InjectAt)
			}
			f := flatten(t, sc)
			require.NotEmpty(t, f.spans)
			checkSpans(t, sc, f)
			checkLogs(t, sc, f)
			checkBatches(t, sc, f)
		})
	}
}

// checkSpans: spans lie in their batch's step and inside their parent, one
// gateway root per trace, calls into other services through exit spans.
func checkSpans(t *testing.T, sc Scenario, f *flat) {
	roots := map[pcommon.TraceID]int{}
	for _, s := range f.spans {
		b := sc.Batches[s.batch]
		assert.Equal(t, ptrace.SpanKindUnspecified, s.span.Kind())
		assert.LessOrEqual(t, s.start, s.end)
		assert.GreaterOrEqual(t, s.end, b.Start.UnixNano())
		assert.Less(t, s.end, b.End.UnixNano())
		assert.True(t, strings.HasPrefix(s.pod, s.svc+"-"), s.pod)
		if !s.isErr() {
			assert.Equal(t, ptrace.StatusCodeUnset, s.span.Status().Code())
			assert.Zero(t, s.span.Events().Len())
		}
		if s.parent.IsEmpty() {
			roots[s.trace]++
			assert.Equal(t, gatewayName, s.svc)
			assert.Equal(t, gatewayOp, s.name)
			continue
		}
		p, ok := f.byID[s.parent]
		if !assert.True(t, ok, "parent of %s missing", s.name) {
			continue
		}
		assert.Equal(t, p.trace, s.trace)
		assert.GreaterOrEqual(t, s.start, p.start, "%s starts before parent %s", s.name, p.name)
		assert.LessOrEqual(t, s.end, p.end, "%s ends after parent %s", s.name, p.name)
		if p.svc != s.svc {
			assert.True(t, p.isExit(), "cross-service child of %s", p.name)
			assert.True(t, strings.HasPrefix(s.name, "/"), s.name)
		}
	}
	for _, s := range f.spans {
		if s.isExit() {
			assert.LessOrEqual(t, len(s.children), 1, "exit span with several children")
			for _, c := range s.children {
				assert.NotEqual(t, s.svc, c.svc)
			}
		}
	}
	for tid, n := range roots {
		assert.Equal(t, 1, n, "trace %s", tid)
	}
}

// checkLogs: records lie in their batch's step, INFO or ERROR, and traced
// ones name a span of their service.
func checkLogs(t *testing.T, sc Scenario, f *flat) {
	for _, l := range f.logs {
		b := sc.Batches[l.batch]
		ts := int64(l.rec.Timestamp())
		assert.GreaterOrEqual(t, ts, b.Start.UnixNano())
		assert.Less(t, ts, b.End.UnixNano())
		assert.Contains(t, []string{"INFO", "ERROR"}, l.rec.SeverityText())
		assert.Equal(t, l.isError, l.rec.SeverityText() == "ERROR")
		if l.traced {
			s, ok := f.byID[l.rec.SpanID()]
			require.True(t, ok, "log span id unknown")
			assert.Equal(t, s.trace, l.rec.TraceID())
			assert.Equal(t, l.svc, s.svc)
			assert.Contains(t, l.rec.Body().Str(), "TraceID: "+l.rec.TraceID().String())
		}
	}
}

// checkBatches: every batch has one CPU and one memory sample per pod in
// its step, and one ResourceSpans per pod.
func checkBatches(t *testing.T, sc Scenario, f *flat) {
	pods := map[string]bool{}
	for _, s := range f.spans {
		pods[s.pod] = true
	}
	for _, b := range sc.Batches {
		rms := b.Metrics.ResourceMetrics()
		require.Equal(t, len(pods), rms.Len())
		seen := map[string]bool{}
		for i := 0; i < rms.Len(); i++ {
			pod, ok := rms.At(i).Resource().Attributes().Get(attrPodName)
			require.True(t, ok)
			assert.False(t, seen[pod.Str()])
			seen[pod.Str()] = true
			ms := rms.At(i).ScopeMetrics().At(0).Metrics()
			require.Equal(t, 2, ms.Len())
			for j := 0; j < ms.Len(); j++ {
				dps := ms.At(j).Gauge().DataPoints()
				require.Equal(t, 1, dps.Len())
				ts := int64(dps.At(0).Timestamp())
				assert.GreaterOrEqual(t, ts, b.Start.UnixNano())
				assert.Less(t, ts, b.End.UnixNano())
			}
			assert.Positive(t, ms.At(0).Gauge().DataPoints().At(0).DoubleValue())
			assert.Positive(t, ms.At(1).Gauge().DataPoints().At(0).IntValue())
		}
		rss := b.Traces.ResourceSpans()
		seen = map[string]bool{}
		for i := 0; i < rss.Len(); i++ {
			pod, _ := rss.At(i).Resource().Attributes().Get(attrPodName)
			assert.False(t, seen[pod.Str()], "one ResourceSpans per pod and batch")
			seen[pod.Str()] = true
		}
	}
}

func TestNoFault(t *testing.T) {
	t.Parallel()
	sc := Generate(Config{Seed: 1})
	assert.Empty(t, sc.FaultService)
	assert.True(t, sc.InjectAt.IsZero())
	f := flatten(t, sc)
	assert.Empty(t, f.errorSpans())
	errorLogs := 0
	for _, l := range f.logs {
		if l.isError {
			errorLogs++
			assert.False(t, l.traced, "only traceless background ERROR logs: %s", l.rec.Body().Str())
		}
	}
	assert.Positive(t, errorLogs, "background ERROR noise")
}

func TestFaultSignatures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind  string
		check func(t *testing.T, f *flat)
	}{
		{kind: FaultCPU, check: checkCPU},
		{kind: FaultDelay, check: checkDelay},
		{kind: FaultException, check: checkException},
		{kind: FaultReturn, check: checkReturn},
		{kind: FaultTimeoutCascade, check: checkCascade},
	}
	for _, tt := range tests {
		for _, seed := range []int64{1, 2, 3} {
			t.Run(tt.kind+"/"+string(rune('0'+seed)), func(t *testing.T) {
				t.Parallel()
				sc := Generate(Config{Seed: seed, Fault: tt.kind})
				require.Equal(t, tt.kind, sc.Fault)
				f := flatten(t, sc)
				n, fl := f.phases(sc.FaultService, busy)
				require.Greater(t, len(n), 50, "faulty service %s needs traffic", sc.FaultService)
				require.Greater(t, len(fl), 25)
				for _, s := range f.errorSpans() {
					assert.True(t, f.fault(s) || s.end >= f.inject, "error before the fault: %s", s.name)
				}
				tt.check(t, f)
			})
		}
	}
}

// TestDelaySparesCallsOut: a delayed service's own calls out keep their
// gap (TestFaultSignatures' seeds may pick a leaf, so pick one with callees).
func TestDelaySparesCallsOut(t *testing.T) {
	f := flatten(t, Generate(Config{Seed: 1, Fault: FaultDelay}))
	exits := map[string]int{}
	for _, s := range f.spans {
		if s.isExit() && s.svc != gatewayName {
			exits[s.svc]++
		}
	}
	busiest := ""
	for svc, n := range exits {
		if n > exits[busiest] || (n == exits[busiest] && svc < busiest) {
			busiest = svc
		}
	}
	require.NotEmpty(t, busiest)
	f = flatten(t, Generate(Config{Seed: 1, Fault: FaultDelay, FaultService: busiest}))
	_, fl := f.gaps(func(exit, _ *fspan) bool { return exit.svc == busiest })
	require.Greater(t, len(fl), 10, "calls out of %s during the fault", busiest)
	checkDelay(t, f)
}

func checkCPU(t *testing.T, f *flat) {
	svc := f.sc.FaultService
	assert.Greater(t, f.ratio(svc, busy), 2.5, "self time of %s", svc)
	ref := f.busiestOther(svc)
	assert.InDelta(t, 1, f.ratio(ref, busy), 0.25, "self time of %s unchanged", ref)
	cn, cf := f.cpu(svc)
	assert.Greater(t, mean(cf), mean(cn)+1, "CPU of %s", svc)
	assert.Empty(t, f.errorSpans())
}

// busiestOther returns the service other than svc and the gateway with the
// most requests, as a reference that a fault in svc must not change.
func (f *flat) busiestOther(svc string) string {
	n := map[string]int{}
	for _, s := range f.spans {
		if s.svc != svc && s.svc != gatewayName && f.isEntry(s) {
			n[s.svc]++
		}
	}
	best := ""
	for s, c := range n {
		if c > n[best] || (c == n[best] && s < best) {
			best = s
		}
	}
	return best
}

// gaps returns, per call into svc, the exit span's time outside the callee's entry span.
func (f *flat) gaps(into func(exit, entry *fspan) bool) (normal, fault []int64) {
	for _, s := range f.spans {
		if !s.isExit() || len(s.children) != 1 || !into(s, s.children[0]) {
			continue
		}
		g := s.dur() - s.children[0].dur()
		if f.fault(s) {
			fault = append(fault, g)
		} else {
			normal = append(normal, g)
		}
	}
	return normal, fault
}

func checkDelay(t *testing.T, f *flat) {
	svc := f.sc.FaultService
	const minDelay = 40 * float64(time.Millisecond)
	n, fl := f.gaps(func(_, entry *fspan) bool { return entry.svc == svc })
	assert.Greater(t, median(fl)-median(n), minDelay, "calls into %s", svc)
	assert.InDelta(t, 1, f.ratio(svc, busy), 0.3, "callee's own time unchanged")
	n, fl = f.gaps(func(exit, _ *fspan) bool { return exit.svc == svc })
	if len(fl) > 0 {
		assert.InDelta(t, median(n), median(fl), float64(time.Millisecond), "calls out of %s unchanged", svc)
	}
	n, fl = f.gaps(func(exit, entry *fspan) bool { return exit.svc != svc && entry.svc != svc })
	assert.InDelta(t, median(n), median(fl), float64(time.Millisecond), "other calls unchanged")
	assert.Empty(t, f.errorSpans())
}

func checkException(t *testing.T, f *flat) {
	svc := f.sc.FaultService
	var faultyLogs, callerLogs int
	for _, l := range f.logs {
		if !l.isError || !l.traced {
			continue
		}
		s := f.byID[l.rec.SpanID()]
		require.True(t, f.fault(s) || s.end >= f.inject, "traced ERROR log before the fault")
		assert.True(t, s.isErr(), "ERROR log on a span without error status")
		if l.svc == svc {
			faultyLogs++
			assert.Contains(t, l.rec.Body().Str(), "java.lang.RuntimeException")
		} else {
			callerLogs++
		}
	}
	assert.Greater(t, faultyLogs, 10)
	if slices.ContainsFunc(f.sc.Edges, func(e [2]string) bool { return e[1] == svc && e[0] != gatewayName }) {
		assert.Positive(t, callerLogs, "failures propagate to callers") // the gateway does not log
	}

	var failed, total int
	var failedExits, okExits []int64
	for _, s := range f.spans {
		if s.svc != svc || !f.isEntry(s) || !f.fault(s) {
			continue
		}
		total++
		if !s.isErr() {
			okExits = append(okExits, int64(exitCount(s)))
			continue
		}
		failed++
		failedExits = append(failedExits, int64(exitCount(s)))
		assert.True(t, strings.HasPrefix(s.statusMsg(), "java.lang.RuntimeException: "), s.statusMsg())
		ev := s.span.Events()
		require.Equal(t, 1, ev.Len())
		assert.Equal(t, "exception", ev.At(0).Name())
		parent := f.byID[s.parent]
		assert.True(t, parent.isErr(), "caller's exit span fails")
	}
	assert.Greater(t, float64(failed)/float64(total), 0.25)
	if len(okExits) > 0 && median(okExits) > 0 {
		assert.Less(t, mean(toF(failedExits)), mean(toF(okExits)), "failures skip downstream calls")
	}
	if n, fl := f.phases(svc, f.statements); mean(toF(n)) >= 1 {
		assert.Less(t, mean(toF(fl)), mean(toF(n)), "statements after the throw go missing")
	}
}

func toF(v []int64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func checkReturn(t *testing.T, f *flat) {
	svc := f.sc.FaultService
	assert.Less(t, f.ratio(svc, (*fspan).dur), 0.8, "entry spans of %s get faster", svc)
	en, ef := f.phases(svc, func(s *fspan) int64 { return int64(exitCount(s)) })
	if mean(toF(en)) > 0 {
		assert.Less(t, mean(toF(ef)), mean(toF(en)), "downstream calls skipped")
	}
	assert.Empty(t, f.errorSpans())
	if n, fl := f.phases(svc, f.statements); mean(toF(n)) >= 1 {
		assert.Less(t, mean(toF(fl)), mean(toF(n)), "statements after the early return go missing")
	}
	var before, after int // the branch taken by the early return
	for _, l := range f.logs {
		if l.svc == svc && l.isError && strings.Contains(l.rec.Body().Str(), "][return empty]") {
			if int64(l.rec.Timestamp()) < f.inject {
				before++
			} else {
				after++
			}
		}
	}
	assert.Zero(t, before)
	if after > 0 { // three scenarios of five
		_, returns := f.phases(svc, func(*fspan) int64 { return 0 })
		assert.Equal(t, len(returns), after, "every early return logs it")
	}
}

func checkCascade(t *testing.T, f *flat) {
	chain := f.sc.timeoutChain
	require.GreaterOrEqual(t, len(chain), 3)
	faulty := f.sc.FaultService
	require.Equal(t, faulty, chain[len(chain)-1])
	pos := map[string]int{}
	for i, s := range chain {
		pos[s] = i
	}
	budget := func(calleePos int) int64 { // budget of the edge into chain[calleePos]
		return int64(chainBudgets[len(chain)-1-calleePos])
	}

	byTrace := map[pcommon.TraceID][]*fspan{}
	for _, s := range f.errorSpans() {
		assert.Contains(t, []string{msgTimeout, msgCanceled}, s.statusMsg())
		ev := s.span.Events()
		require.Equal(t, 1, ev.Len())
		assert.Equal(t, "exception", ev.At(0).Name())
		m, ok := ev.At(0).Attributes().Get("exception.message")
		require.True(t, ok)
		assert.Equal(t, s.statusMsg(), m.Str())
		byTrace[s.trace] = append(byTrace[s.trace], s)
	}
	require.NotEmpty(t, byTrace)

	fullCascades := 0
	for _, errs := range byTrace {
		slices.SortStableFunc(errs, func(a, b *fspan) int { return cmp.Compare(a.end, b.end) })
		assert.True(t, f.under(errs[0], faulty), "the innermost service fails first, not %s", errs[0].svc)
		var exits []*fspan // failing calls outside the faulty service's own subtree
		for _, s := range errs {
			if s.isExit() && !f.under(s, faulty) {
				exits = append(exits, s)
			}
		}
		require.NotEmpty(t, exits)
		assert.Equal(t, faulty, exits[0].children[0].svc, "the innermost call fails first")
		assert.Equal(t, msgTimeout, exits[0].statusMsg())

		lastEnd := make([]int64, len(chain))
		maxDur := make([]int64, len(chain))
		for _, s := range exits {
			callee := s.children[0].svc
			p, ok := pos[callee]
			if !ok || p == 0 || chain[p-1] != s.svc {
				continue // an error seen by a caller outside the chain
			}
			if f.fault(s) { // budgets start with the fault; earlier calls may fail on later callees
				assert.LessOrEqual(t, s.dur(), budget(p), "call into %s outlives its budget", callee)
			}
			lastEnd[p] = max(lastEnd[p], s.end)
			maxDur[p] = max(maxDur[p], s.dur())
		}
		if slices.Contains(lastEnd[1:], 0) {
			continue
		}
		fullCascades++
		for p := 1; p < len(chain)-1; p++ {
			assert.GreaterOrEqual(t, lastEnd[p], lastEnd[p+1], "outer layers fail after inner ones")
			assert.Greater(t, maxDur[p], maxDur[p+1], "outer calls fail with larger budgets")
		}
	}
	assert.Greater(t, fullCascades, 10, "requests fail along the whole chain")
}

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg := Config{}.withDefaults()
	assert.Equal(t, defaultServices, cfg.Services)
	assert.Equal(t, defaultStart, cfg.Start)
	assert.Equal(t, defaultStep, cfg.Step)
	assert.Equal(t, defaultNormalSteps, cfg.NormalSteps)
	assert.Equal(t, defaultFaultSteps, cfg.FaultSteps)
	assert.Equal(t, defaultTracesPerStep, cfg.TracesPerStep)

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "zero", cfg: Config{}},
		{name: "all kinds", cfg: Config{Fault: FaultTimeoutCascade, Services: 5}},
		{name: "unknown fault", cfg: Config{Fault: "oom"}, wantErr: `unknown 'fault' "oom"`},
		{name: "few services", cfg: Config{Services: 3}, wantErr: "'services' must be at least 5"},
		{name: "known service", cfg: Config{Fault: FaultCPU, FaultService: "ts-auth-service"}},
		{name: "unknown service", cfg: Config{Fault: FaultCPU, FaultService: "ts-nope-service"}, wantErr: `'fault_service' "ts-nope-service"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}

	sc := Generate(Config{Seed: 3, Fault: FaultCPU, FaultService: "ts-auth-service", TracesPerStep: 10})
	assert.Equal(t, "ts-auth-service", sc.FaultService)
	for _, kind := range allFaults[1:] {
		sc = Generate(Config{Seed: 3, Fault: kind, FaultService: gatewayName, TracesPerStep: 10})
		assert.Equal(t, gatewayName, sc.FaultService, kind)
	}
	sc = Generate(Config{Seed: 3, Fault: "oom", TracesPerStep: 10})
	assert.Equal(t, FaultNone, sc.Fault)
	assert.Empty(t, sc.FaultService)
	sc = Generate(Config{Seed: 3, Services: 5, Fault: FaultTimeoutCascade, TracesPerStep: 50})
	assert.Len(t, sc.Services, 5)
	assert.GreaterOrEqual(t, len(sc.timeoutChain), 3)
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Generate(Config{Seed: 1})
	}
}
