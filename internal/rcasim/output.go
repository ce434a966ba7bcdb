package rcasim

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

type severity uint8

const (
	sevInfo severity = iota
	sevError
)

const (
	attrServiceName = "service.name"
	attrPodName     = "k8s.pod.name"
	metricCPU       = "k8s.pod.cpu.usage"
	metricMemory    = "k8s.pod.memory.usage"
	mib             = 1 << 20
)

// Background log lines without a trace, like the framework noise in the real data.
var (
	backgroundErrors = []struct{ logger, msg string }{
		{"c.n.d.s.t.d.RedirectingEurekaHttpClient#83", "Request execution error"},
		{"c.z.h.p.HikariPool#593", "HikariPool-1 - Connection is not available, request timed out after 30000ms."},
		{"o.h.e.j.s.SqlExceptionHelper#142", "Communications link failure"},
		{"o.s.s.s.TaskUtils$LoggingErrorHandler#95", "Unexpected error occurred in scheduled task"},
	}
	backgroundInfos = []struct{ logger, msg string }{
		{"c.n.d.DiscoveryClient#1290", "Getting all instance registry info from the eureka server"},
		{"c.z.h.HikariDataSource#110", "HikariPool-1 - Start completed."},
		{"o.s.c.c.c.ConfigServicePropertySourceLocator#227", "Fetching config from server at : http://ts-config-server:8888"},
	}
)

// output accumulates pdata per batch; each batch pre-creates one resource per
// pod so resources come out in pod order, and empty ones are removed at the end.
type output struct {
	g       *graph
	start0  int64
	stepNs  int64
	traces  []ptrace.Traces
	logs    []plog.Logs
	metrics []pmetric.Metrics
	spans   [][]ptrace.SpanSlice    // [step][pod]
	records [][]plog.LogRecordSlice // [step][pod]
	busy    []int64                 // [pod*steps+step] ns of self time started in the step
	mem     []float64               // current memory per pod, bytes
	steps   int
}

func newOutput(g *graph, start0, stepNs int64, steps int) *output {
	o := &output{g: g, start0: start0, stepNs: stepNs, steps: steps}
	o.busy = make([]int64, len(g.pods)*steps)
	o.mem = make([]float64, len(g.pods))
	for i := range g.pods {
		// Fixed per pod, from the pod name so it needs no extra random stream.
		h := 0
		for _, c := range g.pods[i].name {
			h = h*31 + int(c)
		}
		o.mem[i] = float64(250+(h&0x7fffffff)%450) * mib
	}
	for range steps {
		td := ptrace.NewTraces()
		ld := plog.NewLogs()
		ps := make([]ptrace.SpanSlice, len(g.pods))
		ls := make([]plog.LogRecordSlice, len(g.pods))
		td.ResourceSpans().EnsureCapacity(len(g.pods))
		ld.ResourceLogs().EnsureCapacity(len(g.pods))
		for i := range g.pods {
			rs := td.ResourceSpans().AppendEmpty()
			o.setResource(rs.Resource().Attributes(), i)
			ps[i] = rs.ScopeSpans().AppendEmpty().Spans()
			rl := ld.ResourceLogs().AppendEmpty()
			o.setResource(rl.Resource().Attributes(), i)
			ls[i] = rl.ScopeLogs().AppendEmpty().LogRecords()
		}
		o.traces = append(o.traces, td)
		o.logs = append(o.logs, ld)
		o.metrics = append(o.metrics, pmetric.NewMetrics())
		o.spans = append(o.spans, ps)
		o.records = append(o.records, ls)
	}
	return o
}

func (o *output) setResource(m pcommon.Map, pod int) {
	m.EnsureCapacity(2)
	m.PutStr(attrServiceName, o.g.services[o.g.pods[pod].svc].name)
	m.PutStr(attrPodName, o.g.pods[pod].name)
}

func (o *output) stepOf(ns int64) int { return int((ns - o.start0) / o.stepNs) }

func (o *output) addBusy(pod int, at, ns int64) {
	if k := o.stepOf(at); at >= o.start0 && k < o.steps {
		o.busy[pod*o.steps+k] += ns
	}
}

// addTrace moves a finished trace into the batches of its spans' end times.
func (o *output) addTrace(t *tracer) {
	for i := range t.spans {
		r := &t.spans[i]
		sp := o.spans[o.stepOf(r.end)][r.pod].AppendEmpty()
		sp.SetTraceID(t.tid)
		sp.SetSpanID(r.id)
		sp.SetParentSpanID(r.parent)
		sp.SetName(r.name)
		sp.SetStartTimestamp(pcommon.Timestamp(r.start))
		sp.SetEndTimestamp(pcommon.Timestamp(r.end))
		if r.kind != ptrace.SpanKindUnspecified {
			sp.SetKind(r.kind)
		}
		o.setSpanAttributes(sp.Attributes(), r)
		if r.resp >= 0 && o.g.shape == ShapeGRPCShop {
			addSentMessage(sp, r)
		}
		if r.errMsg != "" {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage(r.errMsg)
			ev := sp.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(pcommon.Timestamp(r.end))
			ev.Attributes().PutStr("exception.type", exceptionType(r.errMsg))
			ev.Attributes().PutStr("exception.message", r.errMsg)
		}
	}
	for i := range t.logs {
		r := &t.logs[i]
		lr := o.records[o.stepOf(r.ts)][r.pod].AppendEmpty()
		fillLog(lr, r)
		lr.SetTraceID(t.tid)
	}
}

// setSpanAttributes adds the peer and messaging attributes the OTel
// instrumentations set (none for ShapeTrainTicket, like its data).
func (o *output) setSpanAttributes(m pcommon.Map, r *spanRec) {
	if r.peer >= 0 {
		name := o.g.services[r.peer].name
		if o.g.shape == ShapeGRPCShop {
			m.PutStr("rpc.system", "grpc")
		}
		m.PutStr("server.address", name)
		m.PutStr("peer.service", name)
	}
	if r.topic != "" {
		m.PutStr("messaging.system", "kafka")
		m.PutStr("messaging.destination.name", r.topic)
	}
	if r.resp >= 0 && o.g.shape != ShapeGRPCShop {
		m.PutInt("http.response.body.size", r.resp)
	}
}

// addSentMessage records a gRPC server span's answer as OTel's gRPC
// instrumentation does: a SENT message event with its size.
func addSentMessage(sp ptrace.Span, r *spanRec) {
	ev := sp.Events().AppendEmpty()
	ev.SetName("message")
	ev.SetTimestamp(pcommon.Timestamp(r.end))
	ev.Attributes().PutStr("message.type", "SENT")
	ev.Attributes().PutInt("message.uncompressed_size", r.resp)
}

func exceptionType(msg string) string {
	switch msg {
	case msgTimeout:
		return "context.DeadlineExceeded"
	case msgCanceled:
		return "context.Canceled"
	case msgHTTP500:
		return "org.springframework.web.client.HttpServerErrorException"
	}
	for i := range len(msg) {
		if msg[i] == ':' {
			return msg[:i]
		}
	}
	return msg
}

func fillLog(lr plog.LogRecord, r *logRec) {
	lr.SetTimestamp(pcommon.Timestamp(r.ts))
	lr.SetObservedTimestamp(pcommon.Timestamp(r.ts))
	if r.severity == sevError {
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("ERROR")
	} else {
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
	}
	if r.traced {
		lr.SetSpanID(r.spanID)
	}
	if r.line > 0 {
		lr.Attributes().PutInt("code.lineno", int64(r.line))
	}
	lr.Body().SetStr(r.body)
}

// addBackground writes a few traceless INFO lines and a low, steady rate of
// unrelated ERROR lines, so that an ERROR log alone does not point at the fault.
func (o *output) addBackground(rng *rand.Rand, k int) {
	stepStart := o.start0 + int64(k)*o.stepNs
	emit := func(sev severity, logger, msg string) {
		pod := rng.IntN(len(o.g.pods))
		ts := stepStart + rng.Int64N(o.stepNs)
		r := logRec{pod: pod, ts: ts, severity: sev, body: logBody(ts, sev, logger, 0, pcommon.TraceID{}, zeroSpanID, false, msg)}
		fillLog(o.records[k][pod].AppendEmpty(), &r)
	}
	for range 1 + rng.IntN(3) {
		b := backgroundInfos[rng.IntN(len(backgroundInfos))]
		emit(sevInfo, b.logger, b.msg)
	}
	for range rng.IntN(3) {
		b := backgroundErrors[rng.IntN(len(backgroundErrors))]
		emit(sevError, b.logger, b.msg)
	}
}

// addMetrics writes one CPU and one memory point per pod for step k. CPU
// follows the pod's busy time so load shifts show up; a CPU fault adds the
// stress process's cores on top.
func (o *output) addMetrics(rng *rand.Rand, k int, p *plan) {
	md := o.metrics[k]
	ts := pcommon.Timestamp(o.start0 + int64(k+1)*o.stepNs - 1) // sampled at the end of the step
	stepStart := o.start0 + int64(k)*o.stepNs
	md.ResourceMetrics().EnsureCapacity(len(o.g.pods))
	for i := range o.g.pods {
		load := float64(o.busy[i*o.steps+k]) / float64(o.stepNs)
		cpu := 0.01 + 1.3*load*(0.9+0.2*rng.Float64()) + 0.003*rng.NormFloat64()
		if p.kind == FaultCPU && o.g.pods[i].svc == p.svc && stepStart >= p.injectAt {
			cpu += p.cpuStress * (0.9 + 0.2*rng.Float64())
		}
		cpu = max(cpu, 0.001)
		o.mem[i] += 2 * mib * rng.NormFloat64()
		mem := o.mem[i] + 40*mib*load

		rm := md.ResourceMetrics().AppendEmpty()
		o.setResource(rm.Resource().Attributes(), i)
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		ms.EnsureCapacity(2)
		m := ms.AppendEmpty()
		m.SetName(metricCPU)
		m.SetUnit("{cpu}")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.Timestamp(stepStart))
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(cpu)
		m = ms.AppendEmpty()
		m.SetName(metricMemory)
		m.SetUnit("By")
		dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.Timestamp(stepStart))
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(mem))
	}
}

// batches drops the empty per-pod resources and returns the steps.
func (o *output) batches(start time.Time, step time.Duration) []Batch {
	out := make([]Batch, o.steps)
	for k := range out {
		o.traces[k].ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
			return rs.ScopeSpans().At(0).Spans().Len() == 0
		})
		o.logs[k].ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
			return rl.ScopeLogs().At(0).LogRecords().Len() == 0
		})
		bs := start.Add(time.Duration(k) * step)
		out[k] = Batch{Start: bs, End: bs.Add(step), Traces: o.traces[k], Logs: o.logs[k], Metrics: o.metrics[k]}
	}
	return out
}

// logBody renders the TrainTicket log layout the real data carries in its
// bodies: "HH:MM:SS.mmm LEVEL logger#line TraceID: … SpanID: … message".
func logBody(ts int64, sev severity, logger string, line int, tid pcommon.TraceID, sid pcommon.SpanID, traced bool, msg string) string {
	level := "INFO "
	if sev == sevError {
		level = "ERROR"
	}
	clock := time.Unix(0, ts).UTC().Format("15:04:05.000")
	if line > 0 {
		logger = fmt.Sprintf("%s#%d", logger, line)
	}
	if !traced {
		return clock + " " + level + " " + logger + " " + msg
	}
	return clock + " " + level + " " + logger + " TraceID: " + hex.EncodeToString(tid[:]) +
		" SpanID: " + hex.EncodeToString(sid[:]) + " " + msg
}
