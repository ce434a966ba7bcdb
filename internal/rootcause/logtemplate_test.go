package rootcause

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestTemplateMasksValues(t *testing.T) {
	rec := func(sev plog.SeverityNumber, body string, line int64) plog.LogRecord {
		r := plog.NewLogRecord()
		r.SetSeverityNumber(sev)
		r.Body().SetStr(body)
		if line > 0 {
			r.Attributes().PutInt("code.lineno", line)
		}
		return r
	}
	id := func(scope string, r plog.LogRecord) uint64 {
		_, h := template(nil, scope, r)
		return h
	}
	info := plog.SeverityNumberInfo
	for _, tc := range []struct {
		name  string
		a, b  plog.LogRecord
		scope [2]string
		same  bool
	}{
		{"ids, numbers and clocks", rec(info, "order 42 paid at 12:00:01.123 by 4d2a46c7-7f1e-4c2b", 0), rec(info, "order 7 paid at 09:30:00.000 by 0b5e11aa-0000-4c2b", 0), [2]string{"o.s.Pay", "o.s.Pay"}, true},
		{"train numbers", rec(info, "[queryTrip][trip G1234 found]", 0), rec(info, "[queryTrip][trip D88 found]", 0), [2]string{"t.Trip", "t.Trip"}, true},
		{"other words", rec(info, "order paid", 0), rec(info, "order refunded", 0), [2]string{"o", "o"}, false},
		{"other logger", rec(info, "order paid", 0), rec(info, "order paid", 0), [2]string{"o.a", "o.b"}, false},
		{"other line", rec(info, "order paid", 37), rec(info, "order paid", 41), [2]string{"o", "o"}, false},
		{"other severity", rec(info, "order paid", 0), rec(plog.SeverityNumberError, "order paid", 0), [2]string{"o", "o"}, false},
		{"one line, values masking misses", rec(info, "[query][train type DongCheOne]", 46), rec(info, "[query][train type ZhiDa]", 46), [2]string{"p.c.Price", "p.c.Price"}, true},
		{"one line, another error message", rec(plog.SeverityNumberError, "nested exception is IllegalStateException", 175), rec(plog.SeverityNumberError, "nested exception is NullPointerException", 175), [2]string{"o", "o"}, false},
		{"tail beyond the first tokens", rec(info, "a b c d e f g h i j k l alice", 0), rec(info, "a b c d e f g h i j k l bob", 0), [2]string{"o", "o"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.same, id(tc.scope[0], tc.a) == id(tc.scope[1], tc.b))
		})
	}
	_, h := template(nil, "", rec(plog.SeverityNumberError, "x", 0))
	assert.Equal(t, sevError, h&sevMask)
	r := plog.NewLogRecord()
	r.SetSeverityText("WARNING")
	_, h = template(nil, "", r)
	assert.Equal(t, sevWarn, h&sevMask)
}

func FuzzMaskInto(f *testing.F) {
	for _, s := range []string{"", "order 42 paid", "[a][b 0x1f]", "\x00\xff###", "G1234 12:00 4d2a-46c7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := maskInto(nil, s, maxTemplateBytes)
		if len(out) > maxTemplateBytes {
			t.Fatalf("%d bytes beyond the %d limit", len(out), maxTemplateBytes)
		}
	})
}

// serviceLogs returns logs of service, scope c.s.InventoryServiceImpl,
// with the records add appends for each of service's spans in td.
func serviceLogs(td ptrace.Traces, service string, add func(s ptrace.Span, recs plog.LogRecordSlice)) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("c.s.InventoryServiceImpl")
	for _, rs := range td.ResourceSpans().All() {
		if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() != service {
			continue
		}
		for _, s := range rs.ScopeSpans().At(0).Spans().All() {
			add(s, sl.LogRecords())
		}
	}
	return ld
}

// requestLogs returns service's logs with the records each adds for each
// of its requests (entry spans) in td, at the span's end with its trace id.
func requestLogs(td ptrace.Traces, service string, each func(s ptrace.Span, add func(sev plog.SeverityNumber, body string))) plog.Logs {
	return serviceLogs(td, service, func(s ptrace.Span, recs plog.LogRecordSlice) {
		if s.ParentSpanID().IsEmpty() || s.Kind() == ptrace.SpanKindClient {
			return
		}
		each(s, func(sev plog.SeverityNumber, body string) {
			r := recs.AppendEmpty()
			r.SetTimestamp(s.EndTimestamp())
			r.SetSeverityNumber(sev)
			r.SetTraceID(s.TraceID())
			r.Body().SetStr(body)
		})
	})
}

// logTraffic adds one record per request of inventory for each statement in
// stmts (severity, body).
func logTraffic(td ptrace.Traces, stmts map[string]plog.SeverityNumber) plog.Logs {
	return requestLogs(td, "inventory", func(s ptrace.Span, add func(plog.SeverityNumber, string)) {
		for body, sev := range stmts {
			add(sev, body+" "+s.SpanID().String())
		}
	})
}

// TestLogPatterns: code faults that change only what a service logs. An
// "exception" skips the statement ending a code region (it goes missing);
// a "return" fault logs a statement never seen before. Latency and span
// status stay normal; the service is still ranked first.
func TestLogPatterns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   map[string]plog.SeverityNumber
		feature int
		pattern string // a new ERROR statement is also an ERROR log
	}{
		{"statement missing", map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo}, FeatLogMissing, PatternLogs},
		{"new error statement", map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo, "[reserve][wrong stock returned for sku]": plog.SeverityNumberError, "[reserve][done]": plog.SeverityNumberInfo}, FeatLogNew, PatternError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := EmbeddedModel()
			require.NoError(t, err)
			e := newTestEngine(t, m)
			rng := rand.New(rand.NewPCG(5, 5))
			normal := map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo, "[reserve][done]": plog.SeverityNumberInfo}
			var rep *Report
			var g *Graph
			for w := range 14 {
				td := chainTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 28*time.Second, 100, shop())
				stmts := normal
				if w >= 12 {
					stmts = tc.fault
				}
				e.AddLogs(logTraffic(td, stmts))
				e.AddTraces(td)
				for _, r := range e.Advance(false) {
					if rep == nil && r.Report != nil {
						rep, g = r.Report, r.Graph
					}
				}
			}
			require.NotNil(t, rep)
			assert.Equal(t, "inventory", rep.Candidates[0].Service)
			assert.Equal(t, tc.pattern, rep.Pattern)
			n := g.Nodes[g.Index("inventory")]
			assert.GreaterOrEqual(t, n.X[tc.feature], 5.0, "%s z", FeatureNames[tc.feature])
			for _, other := range []string{"gateway", "order", "payment"} {
				assert.Less(t, g.Nodes[g.Index(other)].Anomaly(), 3.0, other)
			}
		})
	}
}

func TestTemplateBounds(t *testing.T) {
	cfg := testConfig(LatencyZ{})
	cfg.MaxLogTemplates = 3
	e, err := NewEngine(cfg)
	require.NoError(t, err)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "order")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, body := range []string{"a", "b", "c", "d", "e", "a"} {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		r.Body().SetStr(body)
	}
	e.AddLogs(ld)
	assert.Equal(t, int64(2), e.Stats().DroppedTemplates)
	for _, w := range e.in.open {
		assert.Len(t, w.tmpl, 3)
	}
}

// BenchmarkAddLogs: records with span ids (kept for the join at the
// window's close, which the loop stands in for by emptying the list) and
// without (counted at once).
func BenchmarkAddLogs(b *testing.B) {
	td := chainTraffic(rand.New(rand.NewPCG(1, 1)), t0.Add(time.Second), time.Second, 100, shop())
	for _, tc := range []struct {
		name string
		ld   plog.Logs
	}{
		{"span ids", spanLogs(td, func(ptrace.Span) []string {
			return []string{"[reserve][stock checked for sku SKU-1234 qty 2 at 2023-01-29 10:00:01]", "[reserve][done in 12 ms]"}
		})},
		{"no span ids", logTraffic(td, map[string]plog.SeverityNumber{
			"[reserve][stock checked for sku SKU-1234 qty 2 at 2023-01-29 10:00:01]": plog.SeverityNumberInfo,
			"[reserve][done in 12 ms]": plog.SeverityNumberInfo,
		})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newTestEngine(b, LatencyZ{})
			b.ReportAllocs()
			for b.Loop() {
				e.AddLogs(tc.ld)
				for _, w := range e.in.open {
					w.spanned = w.spanned[:0]
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.ld.LogRecordCount()), "ns/record")
		})
	}
}

// replayLogs replays windows of shop traffic (30 s, 100 requests each),
// adding logs(w, td) before each window's spans, and passes every closed
// window to each.
func replayLogs(e *Engine, rng *rand.Rand, windows int, logs func(w int, td ptrace.Traces) []plog.Logs, each func(Result)) {
	for w := range windows {
		td := chainTraffic(rng, t0.Add(time.Duration(w)*30*time.Second+time.Second), 28*time.Second, 100, shop())
		for _, ld := range logs(w, td) {
			e.AddLogs(ld)
		}
		e.AddTraces(td)
		for _, r := range e.Advance(false) {
			each(r)
		}
	}
}

// inventoryFrom appends inventory's feature to out for each window from
// window `from` on (a replayLogs each).
func inventoryFrom(from, feature int, out *[]float64) func(Result) {
	return func(r Result) {
		if r.Graph.Start >= t0.Add(time.Duration(from)*30*time.Second).UnixNano() {
			*out = append(*out, r.Graph.Nodes[r.Graph.Index("inventory")].X[feature])
		}
	}
}

// missingZ replays windows of shop traffic with inventory logging stmts(w)
// per request, and returns inventory's FeatLogMissing for each closed
// window from window `from` on.
func missingZ(e *Engine, seed uint64, windows, from int, stmts func(w int) map[string]plog.SeverityNumber) []float64 {
	var missing []float64
	replayLogs(e, rand.New(rand.NewPCG(seed, seed)), windows, func(w int, td ptrace.Traces) []plog.Logs {
		return []plog.Logs{logTraffic(td, stmts(w))}
	}, inventoryFrom(from, FeatLogMissing, &missing))
	return missing
}

// TestLogPatternHeld: a statement that stops with a fault keeps standing out
// for as long as the fault lasts, up to one baseline (its windows are kept
// out of the template baseline); a change that lasts longer becomes the
// new normal.
func TestLogPatternHeld(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	normal := map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo, "[reserve][done]": plog.SeverityNumberInfo}
	fault := map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo}
	const before = 12
	hold := e.baselineWindows // 10 windows of 30 s
	missing := missingZ(e, 7, before+5*hold, before, func(w int) map[string]plog.SeverityNumber {
		if w >= before {
			return fault
		}
		return normal
	})
	require.Greater(t, len(missing), 2*hold)
	for i, z := range missing[:hold] {
		assert.GreaterOrEqual(t, z, 8.0, "fault window %d: the statement is still missing", i)
	}
	assert.Less(t, missing[len(missing)-1], float64(logHoldZ), "after %d windows the change is the new normal", len(missing))
}

// TestLogPatternRecovery: when a fault outlasts the hold and the baseline
// takes its ERROR statement in, the statement's end is no new anomaly to
// hold: the hold re-arms only after a baseline of normal windows, so the
// "missing" ERROR fades as the baseline forgets it.
func TestLogPatternRecovery(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	normal := map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo}
	fault := map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo, "[reserve][no stock row]": plog.SeverityNumberError}
	const before = 12
	end := before + 3*e.baselineWindows
	missing := missingZ(e, 9, end+6, end, func(w int) map[string]plog.SeverityNumber {
		if w >= before && w < end {
			return fault
		}
		return normal
	})
	require.Len(t, missing, 5)
	assert.Greater(t, missing[0], float64(logHoldZ), "the ERROR stops")
	for i := 1; i < len(missing); i++ {
		assert.Less(t, missing[i], missing[i-1], "window %d after the fault: fading, not held", i)
	}
}

// spanLogs adds, for each of inventory's entry spans, the INFO records (WARN
// for bodies starting so) stmts(span) returns, with the span's ids, one
// millisecond apart from its start.
func spanLogs(td ptrace.Traces, stmts func(s ptrace.Span) []string) plog.Logs {
	return serviceLogs(td, "inventory", func(s ptrace.Span, recs plog.LogRecordSlice) {
		if s.Kind() == ptrace.SpanKindClient || s.Name() == "HTTP POST" {
			return
		}
		for i, body := range stmts(s) {
			r := recs.AppendEmpty()
			r.SetTimestamp(s.StartTimestamp() + pcommon.Timestamp(i)*pcommon.Timestamp(time.Millisecond))
			r.SetSeverityNumber(plog.SeverityNumberInfo)
			if strings.HasPrefix(body, "WARN ") {
				r.SetSeverityNumber(plog.SeverityNumberWarn)
			}
			r.SetTraceID(s.TraceID())
			r.SetSpanID(s.SpanID())
			r.Body().SetStr(body)
		}
	})
}

// statementZ replays windows of shop traffic with inventory's two
// endpoints (reserve on a share reserveShare(w) of the requests, release
// on the rest) logging stmts(w, endpoint, rng) per request, and returns
// inventory's FeatLogMissing per closed window from window `from` on.
func statementZ(t *testing.T, windows, from int, reserveShare func(w int) float64, stmts func(w int, endpoint string, rng *rand.Rand) []string) []float64 {
	return statementFeature(t, FeatLogMissing, windows, from, reserveShare, stmts)
}

// statementFeature is statementZ for any node feature.
func statementFeature(t *testing.T, feature, windows, from int, reserveShare func(w int) float64, stmts func(w int, endpoint string, rng *rand.Rand) []string) []float64 {
	rng := rand.New(rand.NewPCG(3, 3))
	var out []float64
	replayLogs(newTestEngine(t, LatencyZ{}), rng, windows, func(w int, td ptrace.Traces) []plog.Logs {
		return []plog.Logs{spanLogs(td, func(s ptrace.Span) []string {
			endpoint := "/api/inventory/release"
			if rng.Float64() < reserveShare(w) {
				endpoint = "/api/inventory/reserve"
			}
			s.SetName(endpoint)
			return stmts(w, endpoint, rng)
		})}
	}, inventoryFrom(from, feature, &out))
	return out
}

// TestWarningUnderAnotherEndpoint: a WARN statement the service logs on
// one endpoint is no new statement when the request mix moves it to
// another (shared code, a retry helper): "new" is judged per service.
func TestWarningUnderAnotherEndpoint(t *testing.T) {
	const before = 12
	z := statementFeature(t, FeatLogNew, before+3, before-4, func(w int) float64 { return map[bool]float64{true: 0.1, false: 0.9}[w >= before] },
		func(w int, endpoint string, rng *rand.Rand) []string {
			if (endpoint == "/api/inventory/reserve") == (w < before) && rng.Float64() < 0.3 {
				return []string{"WARN [stock][retrying read]"}
			}
			return nil
		})
	require.Len(t, z, 6)
	for i, v := range z {
		assert.Less(t, v, 3.0, "window %d", i)
	}
}

// TestStatementsPerEndpoint: a statement is expected per request of the
// endpoint whose code logs it (its record's span), so a shift in the
// endpoint mix is no missing statement, and one that stops on its endpoint
// stands out however busy the other endpoints are. A statement that
// follows another one in the same span goes missing on its own even when
// the branch logging both follows the request data (its rate per request
// swings from 10 % to 90 % of the requests between windows: the pair, not
// the rate, tells); a statement logged after each item of a loop of
// varying length goes missing when the request throws after the first
// item's first statement, and the loop's varying count alone is no fault.
func TestStatementsPerEndpoint(t *testing.T) {
	const before = 12
	reserve := func(_ int, endpoint string, _ *rand.Rand) []string {
		if endpoint == "/api/inventory/reserve" {
			return []string{"[reserve][stock checked]", "[reserve][done]"}
		}
		return nil
	}
	items := func(rng *rand.Rand, throw bool) []string {
		var out []string
		for range 1 + rng.IntN(3) {
			out = append(out, "[reserve][item checked]")
			if throw {
				return out
			}
			out = append(out, "[reserve][item held]")
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		share   func(w int) float64
		stmts   func(w int, endpoint string, rng *rand.Rand) []string
		missing bool
	}{
		{"endpoint mix shifts", func(w int) float64 { return map[bool]float64{true: 0.1, false: 0.5}[w >= before] }, reserve, false},
		{"statement stops on a busy service", func(w int) float64 { return map[bool]float64{true: 0.2, false: 0.5}[w >= before] },
			func(w int, endpoint string, rng *rand.Rand) []string {
				if w >= before && endpoint == "/api/inventory/reserve" {
					return []string{"[reserve][stock checked]"}
				}
				return reserve(w, endpoint, rng)
			}, true},
		{"statement after a branch whose share follows the data", func(int) float64 { return 1 },
			func(w int, _ string, rng *rand.Rand) []string {
				if rng.Float64() >= 0.1+0.8*float64(w*7%10)/10 {
					return nil
				}
				if w >= before {
					return []string{"[reserve][sku found]"}
				}
				return []string{"[reserve][sku found]", "[reserve][stock held]"}
			}, true},
		{"loop ends early", func(int) float64 { return 1 },
			func(w int, _ string, rng *rand.Rand) []string { return items(rng, w >= before) }, true},
		{"loop of varying length", func(int) float64 { return 1 },
			func(_ int, _ string, rng *rand.Rand) []string { return items(rng, false) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := statementZ(t, before+3, before-4, tc.share, tc.stmts)
			require.Len(t, z, 6) // 4 normal windows, then 2 of the change (the last is still open)
			for i, v := range z[:4] {
				assert.Less(t, v, 3.0, "normal window %d (min_anomaly 3)", i)
			}
			for i, v := range z[4:] {
				if tc.missing {
					assert.GreaterOrEqual(t, v, 5.0, "window %d of the fault", i)
				} else {
					assert.Less(t, v, 3.0, "window %d of the change", i)
				}
			}
		})
	}
}

// TestRecordsJoinTheirSpan: a record counts under its span's entry
// operation, also when the span ends in the next window (a slow request);
// a record whose span never arrives counts for the whole service.
func TestRecordsJoinTheirSpan(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "inventory")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	slow, quick := spans.AppendEmpty(), spans.AppendEmpty()
	for i, s := range []ptrace.Span{slow, quick} {
		s.SetTraceID(pcommon.TraceID{1, byte(i)})
		s.SetSpanID(pcommon.SpanID{2, byte(i)})
		s.SetKind(ptrace.SpanKindServer)
	}
	slow.SetName("/api/inventory/reserve")
	slow.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(29 * time.Second)))
	slow.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(31 * time.Second)))
	quick.SetName("/api/inventory/release")
	quick.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(10 * time.Second)))
	quick.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(11 * time.Second)))
	ld := spanLogs(td, func(ptrace.Span) []string { return []string{"[stock checked]"} })
	lost := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	lost.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(12 * time.Second)))
	lost.SetTraceID(pcommon.TraceID{9})
	lost.SetSpanID(pcommon.SpanID{9})
	lost.Body().SetStr("[stock checked]")
	e.AddLogs(ld)
	e.AddTraces(td)
	e.Advance(true)

	ops := map[string]float64{}
	for k, st := range e.tmplBase {
		name := "(service)"
		if k.op != opNone {
			name = e.in.ops.name(k.op)
		}
		ops[name] += st.count
	}
	assert.Equal(t, map[string]float64{"/api/inventory/reserve": 1, "/api/inventory/release": 1, "(service)": 1}, ops)
}

// TestShortWindowNotScored: when a window's template table is full, the
// records it turned away would read as missing statements: the service's
// missing statements are not scored that window, nor its counts learned.
func TestShortWindowNotScored(t *testing.T) {
	e := newTestEngine(t, LatencyZ{}, func(cfg *Config) { cfg.MaxLogTemplates = 4 })
	normal := map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo, "[reserve][done]": plog.SeverityNumberInfo}
	junk := map[string]plog.SeverityNumber{}
	for _, b := range []string{"[a]", "[b]", "[c]", "[d]"} {
		junk[b] = plog.SeverityNumberInfo
	}
	var missing []float64
	var learned []int // inventory's log baseline windows after each window
	replayLogs(e, rand.New(rand.NewPCG(4, 4)), 15, func(w int, td ptrace.Traces) []plog.Logs {
		if w >= 12 { // the junk fills the window's table first
			return []plog.Logs{logTraffic(td, junk), logTraffic(td, normal)}
		}
		return []plog.Logs{logTraffic(td, normal)}
	}, func(r Result) {
		n := r.Graph.Nodes[r.Graph.Index("inventory")]
		missing = append(missing, n.X[FeatLogMissing])
		learned = append(learned, e.logExp[n.id].windows)
	})
	require.Len(t, missing, 14)
	assert.Equal(t, learned[11], learned[13], "short windows are not learned")
	assert.Less(t, missing[11], float64(logHoldZ), "last normal window")
	assert.Equal(t, []float64{0, 0}, missing[12:], "short windows")
	assert.Positive(t, e.Stats().DroppedTemplates)
}

// fewErrors returns inventory logs with an ERROR on its first n requests
// of td (a "return" fault a few requests hit) and the usual INFO on all.
func fewErrors(td ptrace.Traces, n int) plog.Logs {
	return requestLogs(td, "inventory", func(_ ptrace.Span, add func(plog.SeverityNumber, string)) {
		add(plog.SeverityNumberInfo, "[reserve][stock checked]")
		if n > 0 {
			n--
			add(plog.SeverityNumberError, "[reserve][no stock row for sku]")
		}
	})
}

// TestLogRunAddsUp: a new ERROR on two requests a window is weak evidence
// in any one window (z 2) but the service's run of held windows sums it:
// the z grows with every fault window while the hold lasts, then the
// change is the new normal.
func TestLogRunAddsUp(t *testing.T) {
	e := newTestEngine(t, LatencyZ{})
	const before = 12
	hold := e.baselineWindows
	var z []float64
	replayLogs(e, rand.New(rand.NewPCG(11, 11)), before+3*hold, func(w int, td ptrace.Traces) []plog.Logs {
		n := 0
		if w >= before {
			n = 2
		}
		return []plog.Logs{fewErrors(td, n)}
	}, inventoryFrom(before, FeatLogNew, &z))
	require.Greater(t, len(z), 2*hold)
	assert.InDelta(t, 2.0, z[0], 0.01, "the first fault window alone")
	for i := 1; i < hold; i++ {
		assert.InDelta(t, 2.0*float64(i+1), z[i], 0.01, "fault window %d: its run's %d records", i, 2*(i+1))
	}
	assert.Less(t, z[len(z)-1], float64(logHoldZ), "after %d windows the change is the new normal", len(z))
	assert.Empty(t, e.newRun, "no run outlives its hold")
}

// TestLogRunDoubtsTheRate: a branch statement logged on a share of the
// requests that drops by a quarter every window (the requests' data moved)
// stands out a little in each window; summed over the run, the rate's own
// doubt (runRateDoubt) keeps it from growing into a fault.
func TestLogRunDoubtsTheRate(t *testing.T) {
	const before = 12
	var z []float64
	e := newTestEngine(t, LatencyZ{})
	rng := rand.New(rand.NewPCG(13, 13))
	replayLogs(e, rng, before+10, func(w int, td ptrace.Traces) []plog.Logs {
		share := 0.5
		if w >= before {
			share = 0.375
		}
		return []plog.Logs{requestLogs(td, "inventory", func(_ ptrace.Span, add func(plog.SeverityNumber, string)) {
			if rng.Float64() < share {
				add(plog.SeverityNumberInfo, "[reserve][reserved from the second warehouse]")
			}
		})}
	}, inventoryFrom(before, FeatLogMissing, &z))
	require.NotEmpty(t, z)
	held := 0
	for i, v := range z {
		assert.Less(t, v, 5.0, "fault window %d", i)
		if v >= logHoldZ {
			held++
		}
	}
	assert.Positive(t, held, "the drop stands out in some windows: %v", z)
}

// TestLogRunBounds: runs of new templates take slots of max_log_templates;
// beyond, they are counted as dropped.
func TestLogRunBounds(t *testing.T) {
	e := newTestEngine(t, LatencyZ{}, func(cfg *Config) { cfg.MaxLogTemplates = 3 })
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	const before = 12
	replayLogs(e, rand.New(rand.NewPCG(17, 17)), before+4, func(w int, td ptrace.Traces) []plog.Logs {
		stmts := map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo}
		if w >= before { // two new ERRORs a window, other ones each window
			stmts["[reserve][failed] "+words[2*(w-before)]] = plog.SeverityNumberError
			stmts["[reserve][failed] "+words[2*(w-before)+1]] = plog.SeverityNumberError
		}
		return []plog.Logs{logTraffic(td, stmts)}
	}, func(Result) {
		assert.LessOrEqual(t, len(e.newRun), e.cfg.MaxLogTemplates)
	})
	assert.Len(t, e.newRun, e.cfg.MaxLogTemplates)
	assert.Positive(t, e.Stats().DroppedTemplates)
}

// TestLogRunEndsWithTheFault: a run's sum counts only while the window
// itself still leans its way, so when a fault stops, its service is no
// longer held (nor reported) on the fault's past records.
func TestLogRunEndsWithTheFault(t *testing.T) {
	const before, fault = 12, 4
	for _, tc := range []struct {
		name    string
		feature int
		logs    func(td ptrace.Traces, faulty bool) plog.Logs
	}{
		{"new ERROR on two requests", FeatLogNew, func(td ptrace.Traces, faulty bool) plog.Logs {
			n := 0
			if faulty {
				n = 2
			}
			return fewErrors(td, n)
		}},
		{"statement missing", FeatLogMissing, func(td ptrace.Traces, faulty bool) plog.Logs {
			stmts := map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo, "[reserve][done]": plog.SeverityNumberInfo}
			if faulty {
				stmts = map[string]plog.SeverityNumber{"[reserve][stock checked]": plog.SeverityNumberInfo}
			}
			return logTraffic(td, stmts)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, LatencyZ{})
			var z []float64
			replayLogs(e, rand.New(rand.NewPCG(19, 19)), before+fault+4, func(w int, td ptrace.Traces) []plog.Logs {
				return []plog.Logs{tc.logs(td, w >= before && w < before+fault)}
			}, inventoryFrom(before, tc.feature, &z))
			require.Len(t, z, fault+3)
			assert.GreaterOrEqual(t, z[fault-1], 2*float64(logHoldZ), "the fault's last window")
			for i, v := range z[fault:] {
				assert.Less(t, v, float64(logHoldZ), "window %d after the fault", i)
			}
		})
	}
}
