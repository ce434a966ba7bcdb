package rcasim

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	noDeadline = math.MaxInt64
	msgTimeout = "context deadline exceeded"
	// msgCanceled marks DB work cut short by a deadline: the driver sees the
	// canceled context rather than the deadline.
	msgCanceled  = "context canceled"
	msgHTTP500   = "500 Internal Server Error"
	msgCallerErr = "org.springframework.web.client.HttpServerErrorException: 500 Internal Server Error"
	// parallelStagger separates the starts of calls issued together.
	parallelStagger = 30 * 1000
)

var zeroSpanID pcommon.SpanID

type failKind uint8

const (
	resultOK failKind = iota
	resultBadResponse
	resultException
	resultDeadline
)

// outcome is what a caller learns from a call.
type outcome struct {
	end   int64
	kind  failKind
	level int // hops from the failure's origin, for decreasing propagation
}

type spanRec struct {
	id, parent pcommon.SpanID
	pod        int
	name       string
	start, end int64
	errMsg     string // non-empty: status Error plus an "exception" event
	kind       ptrace.SpanKind
	peer       int    // exit spans of shapes with attributes: the callee's service index; -1: none
	topic      string // Kafka producer/consumer spans: the topic
	resp       int64  // SERVER spans of shapes with response sizes: the answer's bytes; -1: none
}

type logRec struct {
	pod      int
	ts       int64
	severity severity
	traced   bool
	spanID   pcommon.SpanID
	line     int // code.lineno; 0: none
	body     string
}

// tracer generates one trace at a time into reusable buffers.
type tracer struct {
	g     *graph
	plan  *plan
	out   *output
	src   *rand.PCG
	rng   *rand.Rand
	tid   pcommon.TraceID
	spans []spanRec
	logs  []logRec
	// sizes draws the answers' sizes from a stream of its own, so that
	// the shape's other draws stay as they were without them
	sizeSrc *rand.PCG
	sizes   *rand.Rand
}

// reset reseeds the tracer for trace number idx, so each trace depends only
// on the seed and its index.
func (t *tracer) reset(seed, idx uint64) {
	t.src.Seed(seed, idx)
	t.sizeSrc.Seed(seed, ^idx)
	t.spans = t.spans[:0]
	t.logs = t.logs[:0]
	binary.BigEndian.PutUint64(t.tid[:8], t.rng.Uint64())
	binary.BigEndian.PutUint64(t.tid[8:], t.rng.Uint64()|1)
}

func (t *tracer) open(pod int, name string, parent pcommon.SpanID, start int64) int {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], t.rng.Uint64()|1)
	t.spans = append(t.spans, spanRec{id: id, parent: parent, pod: pod, name: name, start: start, peer: -1, resp: -1})
	return len(t.spans) - 1
}

// openKind opens a span of the given kind (ShapeTrainTicket: none, as in
// the SkyWalking data).
func (t *tracer) openKind(pod int, name string, parent pcommon.SpanID, start int64, kind ptrace.SpanKind) int {
	i := t.open(pod, name, parent, start)
	if t.g.spanKinds {
		t.spans[i].kind = kind
	}
	return i
}

// lastEnd is the end of the trace's last span: past its root's end when a
// Kafka consumer finishes after the request that produced the message.
func (t *tracer) lastEnd() int64 {
	var end int64
	for i := range t.spans {
		end = max(end, t.spans[i].end)
	}
	return end
}

func (t *tracer) close(i int, end int64, errMsg string) {
	t.spans[i].end = end
	t.spans[i].errMsg = errMsg
}

func (t *tracer) log(pod int, ts int64, sev severity, spanID pcommon.SpanID, logger string, line int, msg string) {
	if !t.g.textLogs {
		return
	}
	t.logs = append(t.logs, logRec{
		pod: pod, ts: ts, severity: sev, traced: true, spanID: spanID, line: line,
		body: logBody(ts, sev, logger, line, t.tid, spanID, true, msg),
	})
}

func ms(v float64) int64 { return int64(v * 1e6) }

// invoke simulates one request handled by svc/ep from start (the callee entry
// span start) and returns when it ends. dl is the deadline the caller
// propagated; work past it is cut with "context deadline exceeded".
func (t *tracer) invoke(svc, epIdx int, start int64, parent pcommon.SpanID, dl int64) outcome {
	s := &t.g.services[svc]
	ep := &s.eps[epIdx]
	rng := t.rng
	pod := s.pods[0]
	if len(s.pods) > 1 {
		pod = s.pods[rng.IntN(len(s.pods))]
	}
	self := lognormal(rng, ep.median, ep.sigma)
	t.out.addBusy(pod, start, ms(self))
	q := &request{t: t, svc: svc, s: s, ep: ep, pod: pod, dl: dl, tcur: start, stopAfter: len(ep.groups)}
	self, skipDB := q.fault(self, start)
	entryPre := self * (0.03 + 0.06*rng.Float64())
	entryPost := self * (0.02 + 0.04*rng.Float64())
	dbShare := 0.15 + 0.3*rng.Float64()
	db := 0.0
	if ep.sql != "" && !skipDB {
		db = self * dbShare
	}
	slice := (self - entryPre - entryPost - db) / float64(len(ep.groups)+1)

	q.entry = t.openKind(pod, ep.op, parent, start, ep.entryKind)
	if ep.topic != "" {
		t.spans[q.entry].topic = ep.topic
	}
	entryID := t.spans[q.entry].id
	q.adv(ms(entryPre))
	q.ctrl, q.ctrlID = -1, entryID // no controller span: statements and calls hang off the entry span
	if ep.ctrl != "" {
		q.ctrl = t.openKind(pod, ep.ctrl, entryID, q.tcur, ptrace.SpanKindInternal)
		q.ctrlID = t.spans[q.ctrl].id
	}
	if db > 0 && !q.cut {
		q.queryDB(db)
	}
	// which statements this request's path reaches; drawn whatever the
	// fault so the fault-free requests stay the same
	for i, st := range ep.stmts {
		q.reach[i] = rng.Float64() < st.p
	}
	exitParent := q.ctrlID
	if svc == 0 {
		exitParent = entryID // the gateway's exits hang off its entry span, as in SkyWalking data
	}
	fail := q.runGroups(slice, exitParent)
	if q.throw && !q.cut && fail.kind == resultOK {
		q.adv(ms(0.1 + 0.4*rng.Float64()))
		if !q.cut {
			fail = outcome{kind: resultException}
			t.log(pod, q.tcur, sevError, q.ctrlID, "o.a.c.c.C.[.[.[.[dispatcherServlet]", 175,
				"Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception "+
					"[Request processing failed; nested exception is "+t.plan.excMsg+"] with root cause")
		}
	}
	return q.finish(fail, entryPost)
}

// request is one request's way through its handler (invoke): the
// handler's clock, cut at the deadline, and what the fault does to it.
type request struct {
	t          *tracer
	svc, pod   int
	s          *service
	ep         *endpoint
	dl         int64 // the deadline the caller propagated
	tcur       int64 // the handler's clock
	cut        bool  // tcur reached dl: the rest of the work is cut
	entry      int   // span indexes
	ctrl       int
	ctrlID     pcommon.SpanID
	throw, bad bool // the fault makes the request throw, or return early
	stopped    bool // it stopped after a wrong answer (react)
	stopAfter  int  // groups [0, stopAfter) run
	reach      [maxStatements]bool
}

// adv moves the handler's clock by d, up to the deadline.
func (q *request) adv(d int64) {
	if q.cut {
		return
	}
	q.tcur += d
	if q.tcur >= q.dl {
		q.tcur, q.cut = q.dl, true
	}
}

// fault applies the plan's fault to a request of the faulty service from
// its injection on; it returns the request's self time and whether it
// skips its DB work.
func (q *request) fault(self float64, start int64) (float64, bool) {
	p, rng := q.t.plan, q.t.rng
	if p.svc != q.svc || start < p.injectAt {
		return self, false
	}
	nG := len(q.ep.groups)
	skipDB := false
	switch p.kind {
	case FaultCPU:
		self *= p.cpuMult * (0.85 + 0.3*rng.Float64())
	case FaultException:
		if rng.Float64() < p.share {
			q.throw = true
			q.stopAfter = rng.IntN(nG + 1)
		}
	case FaultReturn:
		q.bad = true
		self *= 0.2 + 0.4*rng.Float64()
		if nG > 0 {
			q.stopAfter = rng.IntN(nG)
		}
		skipDB = rng.Float64() < 0.5
	case FaultTimeoutCascade:
		self += p.slowMs * (0.9 + 0.4*rng.Float64())
	}
	return self, skipDB
}

// queryDB adds the repository and SQL spans of db ms of DB work; work cut
// by the deadline ends with "context canceled".
func (q *request) queryDB(db float64) {
	t := q.t
	repo, sqlParent := -1, q.ctrlID
	if q.ep.repo != "" {
		repo = t.openKind(q.pod, q.ep.repo, q.ctrlID, q.tcur, ptrace.SpanKindInternal)
		sqlParent = t.spans[repo].id
	}
	sql := t.openKind(q.pod, q.ep.sql, sqlParent, q.tcur+ms(db*0.08), ptrace.SpanKindClient)
	sqlEnd := q.tcur + ms(db*0.92)
	q.adv(ms(db))
	var msg string
	if q.cut {
		msg = msgCanceled
		t.spans[sql].start = min(t.spans[sql].start, q.tcur)
		sqlEnd = min(sqlEnd, q.tcur)
	}
	t.close(sql, sqlEnd, msg)
	if repo >= 0 {
		t.close(repo, q.tcur, msg)
	}
}

// runGroups runs the endpoint's groups of calls, each after the statements
// logged before it, until the request stops (stopAfter, a failure passed
// on, the deadline), and returns the failure passed on.
func (q *request) runGroups(slice float64, exitParent pcommon.SpanID) outcome {
	t := q.t
	var fail outcome
	for k := 0; k <= q.stopAfter && !q.cut; k++ {
		q.adv(ms(slice * (0.5 + t.rng.Float64())))
		if q.cut {
			break
		}
		q.logStatements(k)
		if k == q.stopAfter {
			if q.bad && t.plan.elseLog {
				t.log(q.pod, q.tcur, sevError, q.ctrlID, q.s.logger, q.ep.elseLine, "["+q.ep.verb+"]["+q.s.camel+" not found][return empty]")
			}
			break
		}
		worst, worstCallee := q.callGroup(q.ep.groups[k], exitParent)
		if q.cut {
			break
		}
		var stop bool
		if fail, stop = q.react(worst, worstCallee); fail.kind != resultOK || stop {
			q.stopped = stop
			break
		}
	}
	return fail
}

// logStatements logs the statements before group k. A request that throws
// or returns early stops before group stopAfter, after its statements
// there: it never logs those further down, nor the closing ones.
func (q *request) logStatements(k int) {
	for i, st := range q.ep.stmts {
		if st.at == k && q.reach[i] && (!st.closing || !q.throw && !q.bad) {
			q.t.log(q.pod, q.tcur, sevInfo, q.ctrlID, q.s.logger, st.line, st.msg)
		}
	}
}

// callGroup makes a group's calls in parallel (a call that timed out on a
// budget alone is retried once, half the time), waits for the last, and
// returns the worst outcome and its callee (-1: none).
func (q *request) callGroup(grp []call, exitParent pcommon.SpanID) (outcome, int) {
	t := q.t
	gEnd := q.tcur
	var worst outcome
	worstCallee := -1
	for j := range grp {
		c := &grp[j]
		end, r := t.call(q.svc, q.pod, c, exitParent, min(q.tcur+int64(j)*parallelStagger, q.dl), q.dl)
		if q.svc != 0 && len(grp) == 1 && r.kind == resultDeadline && t.plan.hasBudget(q.svc, c.svc, q.tcur) &&
			end < q.dl-ms(5) && t.rng.Float64() < 0.5 {
			end, r = t.call(q.svc, q.pod, c, exitParent, end, q.dl) // one retry
		}
		gEnd = max(gEnd, end)
		if r.kind > worst.kind {
			worst, worstCallee = r, c.svc
		}
	}
	q.adv(gEnd - q.tcur)
	return worst, worstCallee
}

// react logs how a group's worst call failed and returns the failure the
// request passes on (none: it goes on): a deadline on a budgeted call
// always, other failures less often the further they come from. A wrong
// value (an early return's empty answer) is no failure, but where the
// shape's callers check answers a share of the requests (plan.react) stop
// there: with nothing to work on, the
// caller skips its later calls and answers what it has (stop), as a shop
// front end renders a page without the recommendations an empty product
// list would have fetched. It answers normally, so its own callers go on.
func (q *request) react(worst outcome, worstCallee int) (outcome, bool) {
	t, rng := q.t, q.t.rng
	callee := ""
	if worstCallee >= 0 {
		callee = t.g.services[worstCallee].name
	}
	switch worst.kind {
	case resultBadResponse:
		if q.svc != 0 && rng.Float64() < 0.15 {
			t.log(q.pod, q.tcur, sevError, q.ctrlID, q.s.logger, q.ep.logLine,
				"["+q.ep.verb+"][Call "+callee+" returned unexpected response][Response(status=0, msg=null, data=null)]")
		}
		return outcome{}, t.g.checksAnswers && rng.Float64() < t.plan.react
	case resultException, resultDeadline:
		propagate := worst.kind == resultDeadline && t.plan.hasBudget(q.svc, worstCallee, q.tcur)
		if !propagate {
			propagate = rng.Float64() < 0.8*math.Pow(0.5, float64(worst.level))
		}
		if !propagate {
			break
		}
		if q.svc != 0 && (worst.kind == resultException || rng.Float64() < 0.5) {
			msg := msgHTTP500
			if worst.kind == resultDeadline {
				msg = msgTimeout
			}
			t.log(q.pod, q.tcur, sevError, q.ctrlID, q.s.logger, q.ep.logLine, "["+q.ep.verb+"][Call "+callee+" failed]["+msg+"]")
		}
		return outcome{kind: worst.kind, level: worst.level + 1}, false
	}
	return outcome{}, false
}

// finish closes the controller and entry spans with the request's error
// (after entryPost ms of work at the entry) and returns its outcome.
func (q *request) finish(fail outcome, entryPost float64) outcome {
	t := q.t
	var errMsg string
	switch {
	case fail.kind == resultDeadline:
		errMsg = msgTimeout
	case fail.kind == resultException && fail.level == 0:
		errMsg = t.plan.excMsg
	case fail.kind == resultException:
		errMsg = msgCallerErr
	}
	if q.cut {
		if q.ctrl >= 0 {
			t.close(q.ctrl, q.tcur, msgTimeout)
		}
		t.close(q.entry, q.tcur, msgTimeout)
		return outcome{end: q.tcur, kind: resultDeadline}
	}
	if q.ctrl >= 0 {
		t.close(q.ctrl, q.tcur, errMsg)
	}
	q.adv(ms(entryPost))
	if q.cut {
		t.close(q.entry, q.tcur, msgTimeout)
		return outcome{end: q.tcur, kind: resultDeadline}
	}
	t.close(q.entry, q.tcur, errMsg)
	fail.end = q.tcur
	if fail.kind == resultOK && q.bad {
		fail.kind = resultBadResponse
	}
	if t.g.respSizes && q.ep.entryKind == ptrace.SpanKindServer {
		t.spans[q.entry].resp = q.respSize(fail)
	}
	return fail
}

// respSize is the size of the request's answer: its endpoint's, as its data
// makes it; an early return's is empty, a failure's an error body (none on
// gRPC: no message is sent), and a request that stopped after a wrong
// answer sends what it has (a page without its later parts). A request
// cut at its deadline answers nothing (finish returns before).
func (q *request) respSize(fail outcome) int64 {
	rng := q.t.sizes
	size := lognormal(rng, q.ep.respBytes, q.ep.respSigma)
	grpc := q.t.g.shape == ShapeGRPCShop
	switch {
	case fail.kind == resultException || fail.kind == resultDeadline:
		if grpc {
			return -1
		}
		size = 120 + 130*rng.Float64()
	case q.bad && grpc:
		size = 0
	case q.bad:
		size = 2 // "[]"
	case q.stopped:
		size *= 0.2 + 0.4*rng.Float64()
	}
	return int64(size)
}

// call simulates one exit span from caller to c, starting at st, bounded by
// the caller's deadline dl and, on a timeout chain edge, by its budget.
func (t *tracer) call(caller, callerPod int, c *call, parent pcommon.SpanID, st, dl int64) (int64, outcome) {
	rng := t.rng
	p := t.plan
	if c.async {
		return t.publish(callerPod, c, parent, st)
	}
	exit := t.openKind(callerPod, c.method, parent, st, ptrace.SpanKindClient)
	if t.g.peerAttrs || t.g.clientSpans {
		t.spans[exit].peer = c.svc
	}
	if t.g.clientSpans {
		t.spans[exit].kind = ptrace.SpanKindClient
	}
	exitID := t.spans[exit].id
	gap := lognormal(rng, c.gapMedian, 0.3)
	before := ms(gap * (0.35 + 0.3*rng.Float64()))
	after := ms(gap) - before
	if p.kind == FaultDelay && st >= p.injectAt {
		if c.svc == p.svc {
			// responses leave the faulty pod late; its own calls out do not
			// (as in all nine Nezha delay cases: gap before the faulty
			// service +2 s, the gap of its calls out at its baseline)
			after += ms(p.delayMs * (0.8 + 0.4*rng.Float64()))
		}
	}
	callDL := dl
	if b, ok := p.budget(caller, c.svc, st); ok {
		callDL = min(dl, st+b)
	}
	calleeStart := st + before
	calleeDL := int64(noDeadline)
	if callDL != noDeadline {
		calleeDL = callDL - after
	}
	var end int64
	var r outcome
	if calleeStart >= calleeDL {
		end, r = callDL, outcome{kind: resultDeadline}
	} else {
		r = t.invoke(c.svc, c.ep, calleeStart, exitID, calleeDL)
		end = r.end + after
		if r.kind == resultDeadline && r.end >= calleeDL {
			end = callDL // the client's timer fires
		}
	}
	var msg string
	switch r.kind {
	case resultDeadline:
		msg = msgTimeout
	case resultException:
		msg = msgHTTP500
	}
	if !t.g.clientStatus {
		msg = "" // the client instrumentation sets no status
	}
	t.close(exit, end, msg)
	r.end = end
	return end, r
}

// publish is an asynchronous call through Kafka: a PRODUCER span that ends
// when the broker acknowledges, and the consumer's CONSUMER span (its
// child) after the queue lag. The caller waits for the acknowledgement
// only; whatever the consumer does never reaches it. A delay fault on the
// consumer's pod delays the messages it reads.
func (t *tracer) publish(callerPod int, c *call, parent pcommon.SpanID, st int64) (int64, outcome) {
	rng, p := t.rng, t.plan
	prod := t.openKind(callerPod, c.method, parent, st, ptrace.SpanKindProducer)
	t.spans[prod].topic = c.topic
	ack := st + ms(lognormal(rng, c.gapMedian, 0.3))
	lag := ms(lognormal(rng, kafkaLagMedianMs, 0.5))
	if p.kind == FaultDelay && st >= p.injectAt && c.svc == p.svc {
		lag += ms(p.delayMs * (0.8 + 0.4*rng.Float64()))
	}
	t.invoke(c.svc, c.ep, ack+lag, t.spans[prod].id, noDeadline)
	t.close(prod, ack, "")
	return ack, outcome{end: ack}
}

// kafkaLagMedianMs is the median time a message waits in its topic.
const kafkaLagMedianMs = 4

// budget is the client timeout of a call: every call into the faulty service
// gets the innermost budget (its client is configured with it), and the outer
// chain edges get theirs. Budgets apply from the injection on, so that fault-free
// steps stay identical to a scenario without a fault.
func (p *plan) budget(caller, callee int, at int64) (int64, bool) {
	if p.budgets == nil || at < p.injectAt {
		return 0, false
	}
	if callee == p.svc {
		return int64(chainBudgets[0]), true
	}
	b, ok := p.budgets[[2]int{caller, callee}]
	return b, ok
}

func (p *plan) hasBudget(caller, callee int, at int64) bool {
	_, ok := p.budget(caller, callee, at)
	return ok
}
