package main

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// newScopeSpans adds svc's resource (as an OTel Go SDK describes a service)
// and one instrumentation scope, and returns its span slice.
func newScopeSpans(td ptrace.Traces, topo *topology, svc int, flat bool) ptrace.SpanSlice {
	rs := td.ResourceSpans().AppendEmpty()
	fillResource(rs.Resource(), topo, svc, flat)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scopeName(topo, svc, flat))
	ss.Scope().SetVersion("0.69.0")
	return ss.Spans()
}

func newScopeLogs(ld plog.Logs, topo *topology, svc int, flat bool) plog.LogRecordSlice {
	rl := ld.ResourceLogs().AppendEmpty()
	fillResource(rl.Resource(), topo, svc, flat)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("log/slog")
	return sl.LogRecords()
}

func scopeName(topo *topology, svc int, flat bool) string {
	switch {
	case flat:
		return "telemetrygen"
	case topo.services[svc].proto == protocolGRPC:
		return "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	}
	return "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
}

func fillResource(r pcommon.Resource, topo *topology, svc int, flat bool) {
	a := r.Attributes()
	if flat {
		a.PutStr("service.name", "telemetrygen")
	} else {
		s := &topo.services[svc]
		a.EnsureCapacity(11)
		a.PutStr("service.name", s.name)
		a.PutStr("service.namespace", "shop")
		a.PutStr("service.version", "1.4.2")
		a.PutStr("service.instance.id", s.instance)
		a.PutStr("host.name", s.host)
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("k8s.pod.name", s.instance)
		a.PutStr("deployment.environment.name", "production")
	}
	a.PutStr("telemetry.sdk.language", "go")
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.version", "1.44.0")
}

// fillSpan writes node i of f with semantic-convention attributes of its kind.
func (e *emitter) fillSpan(span ptrace.Span, f *flow, i int) {
	n := &f.nodes[i]
	span.SetTraceID(f.traceIDs[n.trace])
	span.SetSpanID(n.spanID)
	if n.parent >= 0 {
		span.SetParentSpanID(f.nodes[n.parent].spanID)
	}
	span.SetKind(n.kind)
	span.SetStartTimestamp(pcommon.Timestamp(f.base + n.start))
	span.SetEndTimestamp(pcommon.Timestamp(f.base + n.end))
	a := span.Attributes()
	if e.gen.opts.flat {
		fillFlat(span, i)
		return
	}
	a.EnsureCapacity(8 + len(n.keys))
	topo := e.gen.topo
	switch n.kind {
	case ptrace.SpanKindServer, ptrace.SpanKindClient:
		fillCall(span, n, f, topo)
	case ptrace.SpanKindInternal:
		fillDB(span, n, topo)
	default:
		fillMessaging(span, n, f, topo)
	}
	for _, kv := range n.keys {
		a.PutStr(kv.key, kv.value)
	}
	if n.err {
		span.Status().SetCode(ptrace.StatusCodeError)
		span.Status().SetMessage("upstream failed")
		ev := span.Events().AppendEmpty()
		ev.SetName("exception")
		ev.SetTimestamp(pcommon.Timestamp(f.base + n.end))
		ev.Attributes().PutStr("exception.type", "*errors.errorString")
		ev.Attributes().PutStr("exception.message", "context deadline exceeded")
	}
}

// fillFlat mirrors telemetrygen's spans: "lets-go" and its "okey-dokey" children.
func fillFlat(span ptrace.Span, i int) {
	a := span.Attributes()
	a.PutStr("net.sock.peer.addr", "1.2.3.4")
	if i == 0 {
		span.SetName("lets-go")
		a.PutStr("peer.service", "telemetrygen-server")
		return
	}
	span.SetName("okey-dokey-" + strconv.Itoa(i-1))
	a.PutStr("peer.service", "telemetrygen-client")
}

// fillCall writes an HTTP or gRPC SERVER/CLIENT span.
func fillCall(span ptrace.Span, n *node, f *flow, topo *topology) {
	a := span.Attributes()
	callee := n.svc
	if n.kind == ptrace.SpanKindClient {
		callee = n.peer
	}
	c := &topo.services[callee]
	if c.proto == protocolGRPC {
		span.SetName(n.rt.name)
		a.PutStr("rpc.system", "grpc")
		a.PutStr("rpc.service", n.rt.rpcSvc)
		a.PutStr("rpc.method", n.rt.method)
		a.PutInt("rpc.grpc.status_code", statusCode(n.err, 13, 0))
		a.PutStr("server.address", c.name)
		a.PutInt("server.port", 9090)
		return
	}
	path := urlPath(n.rt.name, f)
	span.SetName(n.rt.method + " " + n.rt.name)
	a.PutStr("http.request.method", n.rt.method)
	a.PutInt("http.response.status_code", statusCode(n.err, 500, 200))
	if n.kind == ptrace.SpanKindClient {
		a.PutStr("url.full", "http://"+c.name+":8080"+path)
		a.PutStr("server.address", c.name)
		a.PutInt("server.port", 8080)
		return
	}
	a.PutStr("http.route", n.rt.name)
	a.PutStr("url.path", path)
	a.PutStr("url.scheme", "http")
	a.PutStr("network.protocol.version", "1.1")
	if n.parent < 0 {
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36")
	}
}

func statusCode(failed bool, bad, good int64) int64 {
	if failed {
		return bad
	}
	return good
}

// urlPath fills a route's {id}: the flow's order id on order routes, else a number.
func urlPath(route string, f *flow) string {
	if !strings.Contains(route, "{id}") {
		return route
	}
	id := strconv.FormatUint(f.seq%100_000, 10)
	if f.orderID != "" && strings.HasPrefix(route, "/api/orders/") {
		id = f.orderID
	}
	return strings.Replace(route, "{id}", id, 1)
}

func fillDB(span ptrace.Span, n *node, topo *topology) {
	a := span.Attributes()
	span.SetName(n.rt.name)
	a.PutStr("db.operation.name", n.rt.dbOp)
	if n.rt.dbOp == "GET" {
		a.PutStr("db.system.name", "redis")
		a.PutStr("server.address", "redis")
		return
	}
	a.PutStr("db.system.name", "postgresql")
	a.PutStr("db.collection.name", "shop."+topo.services[n.svc].name)
	a.PutStr("db.query.text", n.rt.dbOp+" ... FROM shop."+topo.services[n.svc].name+" WHERE id = $1")
	a.PutStr("server.address", "postgres")
}

// fillMessaging writes a Kafka PRODUCER or CONSUMER span; the message key
// is the order id (a biz_dye regex source).
func fillMessaging(span ptrace.Span, n *node, f *flow, topo *topology) {
	a := span.Attributes()
	topic := topo.services[n.svc].topic
	op := "process"
	if n.kind == ptrace.SpanKindProducer {
		topic, op = topo.services[n.peer].topic, "send"
	}
	span.SetName(topic + " " + op)
	a.PutStr("messaging.system", "kafka")
	a.PutStr("messaging.destination.name", topic)
	a.PutStr("messaging.operation.type", op)
	if f.orderID != "" {
		a.PutStr("messaging.kafka.message.key", f.orderID)
	}
	if n.kind == ptrace.SpanKindConsumer {
		a.PutStr("messaging.consumer.group.name", topo.services[n.svc].name)
	}
}

// fillLog writes a log line with the ids in its body, in key=value (log4j2,
// logfmt) or JSON (zap, slog) form; the record's own ids stay empty unless
// setIDs (what the agent's log_correlation leaves in Kafka).
func fillLog(r plog.LogRecord, f *flow, l logSpec, topo *topology, setIDs bool) {
	n := &f.nodes[l.node]
	ts := f.base + n.end - 10_000
	r.SetTimestamp(pcommon.Timestamp(ts))
	r.SetObservedTimestamp(pcommon.Timestamp(ts))
	level := "INFO"
	r.SetSeverityNumber(plog.SeverityNumberInfo)
	if n.err {
		level = "ERROR"
		r.SetSeverityNumber(plog.SeverityNumberError)
	}
	r.SetSeverityText(level)
	tid, sid := f.traceIDs[n.trace], n.spanID
	if setIDs {
		r.SetTraceID(tid)
		r.SetSpanID(sid)
	}
	r.Body().SetStr(logBody(l, level, time.Unix(0, ts).UTC(), topo.services[n.svc].name,
		hex.EncodeToString(tid[:]), hex.EncodeToString(sid[:]), f.orderID))
}

func logBody(l logSpec, level string, t time.Time, svc, tid, sid, orderID string) string {
	var b strings.Builder
	b.Grow(200)
	if l.json {
		b.WriteString(`{"time":"` + t.Format(time.RFC3339Nano) + `","level":"` + level + `","service":"` + svc +
			`","msg":"` + l.msg + `","trace_id":"` + tid + `","span_id":"` + sid + `"`)
		if orderID != "" {
			b.WriteString(`,"order_id":"` + orderID + `"`)
		}
		b.WriteString("}")
		return b.String()
	}
	b.WriteString(t.Format("2006-01-02T15:04:05.000Z") + " " + level + " [" + svc + "] " + l.msg +
		" trace_id=" + tid + " span_id=" + sid)
	if orderID != "" {
		b.WriteString(" order_id=" + orderID)
	}
	return b.String()
}
