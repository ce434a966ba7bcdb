package bizdyeprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// testConfig is the example configuration plus sku and trade_no.
func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Keys = []KeyConfig{
		{Name: "order_id", From: []SourceConfig{
			{Attribute: "order_id"},
			{Attribute: "app.order.id"},
			{Header: "x-order-id"},
			{Baggage: "order_id"},
			{URLPath: "/api/orders/{value}"},
			{Regex: &RegexSourceConfig{Attribute: "messaging.kafka.message.key", Pattern: "^(?P<value>ORD-[0-9]+)$"}},
			{LogBody: "order_id=(?P<value>[A-Za-z0-9-]+)"},
		}},
		{Name: "user_id", From: []SourceConfig{{Attribute: "user.id"}}, Hash: true},
		{Name: "sku", From: []SourceConfig{{Attribute: "sku"}}},
		{Name: "trade_no", From: []SourceConfig{{Attribute: "trade_no"}}},
		{Name: "user_tier", From: []SourceConfig{{Baggage: "user_tier"}}},
		{Name: "canary", From: []SourceConfig{{Attribute: "canary"}}},
	}
	cfg.HashSalt = "pepper"
	cfg.Keep.When = []KeepRuleConfig{{Key: "user_tier", Equals: "vip"}, {Key: "canary", Equals: "true"}}
	return cfg
}

// fakeClockStart is the fake clock's start: fixed so golden files are stable.
var fakeClockStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// harness is a biz_dye instance on a fake clock with sinks on both outputs.
type harness struct {
	p      *bizDye
	clock  *clockwork.FakeClock
	traces *consumertest.TracesSink
	logs   *consumertest.LogsSink
}

func newHarness(t testing.TB, cfg *Config, set component.TelemetrySettings) *harness {
	require.NoError(t, cfg.Validate())
	h := &harness{clock: clockwork.NewFakeClockAt(fakeClockStart), traces: &consumertest.TracesSink{}, logs: &consumertest.LogsSink{}}
	if set.MeterProvider == nil {
		set = componenttest.NewNopTelemetrySettings()
	}
	p, err := newBizDye(component.MustNewID("biz_dye"), set, cfg, h.clock)
	require.NoError(t, err)
	p.nextTraces, p.nextLogs = h.traces, h.logs
	h.p = p
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return h
}

// advance moves the fake clock and runs the release loop's work once (the
// test hook: no ticker goroutine, so outputs are deterministic).
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.p.releaseExpired(context.Background(), false)
}

// allTraces concatenates everything the traces sink received, in order.
func (h *harness) allTraces() ptrace.Traces {
	out := ptrace.NewTraces()
	for _, td := range h.traces.AllTraces() {
		c := ptrace.NewTraces()
		td.CopyTo(c)
		c.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	return out
}

func (h *harness) allLogs() plog.Logs {
	out := plog.NewLogs()
	for _, ld := range h.logs.AllLogs() {
		c := plog.NewLogs()
		ld.CopyTo(c)
		c.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
	}
	return out
}

// tid and sid turn short names into ids: readable in golden files.
func tid(name string) pcommon.TraceID {
	var id pcommon.TraceID
	copy(id[:], name)
	for i := len(name); i < len(id); i++ {
		id[i] = '0'
	}
	return id
}

func sid(name string) pcommon.SpanID {
	if name == "" {
		return pcommon.SpanID{}
	}
	var id pcommon.SpanID
	copy(id[:], name)
	for i := len(name); i < len(id); i++ {
		id[i] = '0'
	}
	return id
}

// sp describes one span of a test batch.
type sp struct {
	svc, trace, span, parent, name string
	kind                           ptrace.SpanKind
	attrs                          map[string]any
	links                          [][2]string   // {trace, span}
	failed                         bool          // status ERROR
	dur                            time.Duration // default 1ms
}

// traces builds a batch: one resource per service, in first-seen order.
func traces(spans ...sp) ptrace.Traces {
	td := ptrace.NewTraces()
	bySvc := map[string]ptrace.ScopeSpans{}
	for _, s := range spans {
		ss, ok := bySvc[s.svc]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", s.svc)
			ss = rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("shop")
			bySvc[s.svc] = ss
		}
		span := ss.Spans().AppendEmpty()
		span.SetTraceID(tid(s.trace))
		span.SetSpanID(sid(s.span))
		span.SetParentSpanID(sid(s.parent))
		span.SetName(s.name)
		span.SetKind(s.kind)
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(fakeClockStart))
		dur := time.Millisecond
		if s.dur > 0 {
			dur = s.dur
		}
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(fakeClockStart.Add(dur)))
		if s.failed {
			span.Status().SetCode(ptrace.StatusCodeError)
		}
		if s.attrs != nil {
			_ = span.Attributes().FromRaw(s.attrs)
		}
		for _, l := range s.links {
			link := span.Links().AppendEmpty()
			link.SetTraceID(tid(l[0]))
			link.SetSpanID(sid(l[1]))
		}
	}
	return td
}

// lg describes one log record of a test batch.
type lg struct {
	svc, trace, span, body string
	attrs                  map[string]any
}

func logs(records ...lg) plog.Logs {
	ld := plog.NewLogs()
	bySvc := map[string]plog.ScopeLogs{}
	for _, r := range records {
		sl, ok := bySvc[r.svc]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", r.svc)
			sl = rl.ScopeLogs().AppendEmpty()
			bySvc[r.svc] = sl
		}
		rec := sl.LogRecords().AppendEmpty()
		if r.trace != "" {
			rec.SetTraceID(tid(r.trace))
		}
		rec.SetSpanID(sid(r.span))
		rec.Body().SetStr(r.body)
		rec.SetTimestamp(pcommon.NewTimestampFromTime(fakeClockStart))
		if r.attrs != nil {
			_ = rec.Attributes().FromRaw(r.attrs)
		}
	}
	return ld
}
