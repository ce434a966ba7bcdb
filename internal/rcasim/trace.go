package rcasim

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"go.opentelemetry.io/collector/pdata/pcommon"
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
}

// reset reseeds the tracer for trace number idx, so each trace depends only
// on the seed and its index.
func (t *tracer) reset(seed, idx uint64) {
	t.src.Seed(seed, idx)
	t.spans = t.spans[:0]
	t.logs = t.logs[:0]
	binary.BigEndian.PutUint64(t.tid[:8], t.rng.Uint64())
	binary.BigEndian.PutUint64(t.tid[8:], t.rng.Uint64()|1)
}

func (t *tracer) open(pod int, name string, parent pcommon.SpanID, start int64) int {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], t.rng.Uint64()|1)
	t.spans = append(t.spans, spanRec{id: id, parent: parent, pod: pod, name: name, start: start})
	return len(t.spans) - 1
}

func (t *tracer) close(i int, end int64, errMsg string) {
	t.spans[i].end = end
	t.spans[i].errMsg = errMsg
}

func (t *tracer) log(pod int, ts int64, sev severity, spanID pcommon.SpanID, logger string, line int, msg string) {
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
	p := t.plan
	pod := s.pods[0]
	if len(s.pods) > 1 {
		pod = s.pods[rng.IntN(len(s.pods))]
	}
	self := lognormal(rng, ep.median, ep.sigma)
	t.out.addBusy(pod, start, ms(self))
	nG := len(ep.groups)
	stopAfter := nG // groups [0, stopAfter) run
	var throw, bad, skipDB bool
	if p.svc == svc && start >= p.injectAt {
		switch p.kind {
		case FaultCPU:
			self *= p.cpuMult * (0.85 + 0.3*rng.Float64())
		case FaultException:
			if rng.Float64() < p.share {
				throw = true
				stopAfter = rng.IntN(nG + 1)
			}
		case FaultReturn:
			bad = true
			self *= 0.2 + 0.4*rng.Float64()
			if nG > 0 {
				stopAfter = rng.IntN(nG)
			}
			skipDB = rng.Float64() < 0.5
		case FaultTimeoutCascade:
			self += p.slowMs * (0.9 + 0.4*rng.Float64())
		}
	}
	entryPre := self * (0.03 + 0.06*rng.Float64())
	entryPost := self * (0.02 + 0.04*rng.Float64())
	dbShare := 0.15 + 0.3*rng.Float64()
	db := 0.0
	if ep.sql != "" && !skipDB {
		db = self * dbShare
	}
	slice := (self - entryPre - entryPost - db) / float64(nG+1)

	cut := false
	tcur := start
	adv := func(d int64) {
		if cut {
			return
		}
		tcur += d
		if tcur >= dl {
			tcur, cut = dl, true
		}
	}
	entry := t.open(pod, ep.op, parent, start)
	entryID := t.spans[entry].id
	adv(ms(entryPre))
	ctrl := t.open(pod, ep.ctrl, entryID, tcur)
	ctrlID := t.spans[ctrl].id
	if db > 0 && !cut {
		repo := t.open(pod, ep.repo, ctrlID, tcur)
		sql := t.open(pod, ep.sql, t.spans[repo].id, tcur+ms(db*0.08))
		sqlEnd := tcur + ms(db*0.92)
		adv(ms(db))
		var msg string
		if cut {
			msg = msgCanceled
			t.spans[sql].start = min(t.spans[sql].start, tcur)
			sqlEnd = min(sqlEnd, tcur)
		}
		t.close(sql, sqlEnd, msg)
		t.close(repo, tcur, msg)
	}
	// which statements this request's path reaches; drawn whatever the
	// fault so the fault-free requests stay the same
	var reach [maxStatements]bool
	for i, st := range ep.stmts {
		reach[i] = rng.Float64() < st.p
	}
	// logAt logs the statements before group k. A request that throws or
	// returns early stops before group stopAfter, after its statements
	// there: it never logs those further down, nor the closing ones.
	logAt := func(k int) {
		for i, st := range ep.stmts {
			if st.at == k && reach[i] && !(st.closing && (throw || bad)) {
				t.log(pod, tcur, sevInfo, ctrlID, s.logger, st.line, st.msg)
			}
		}
	}

	exitParent := ctrlID
	if svc == 0 {
		exitParent = entryID // the gateway's exits hang off its entry span, as in SkyWalking data
	}
	var fail outcome
	for k := 0; k <= stopAfter && !cut; k++ {
		adv(ms(slice * (0.5 + rng.Float64())))
		if cut {
			break
		}
		logAt(k)
		if k == stopAfter {
			if bad && p.elseLog {
				t.log(pod, tcur, sevError, ctrlID, s.logger, ep.elseLine, "["+ep.verb+"]["+s.camel+" not found][return empty]")
			}
			break
		}
		grp := ep.groups[k]
		gEnd := tcur
		var worst outcome
		worstCallee := -1
		for j := range grp {
			c := &grp[j]
			end, r := t.call(svc, pod, c, exitParent, min(tcur+int64(j)*parallelStagger, dl), dl)
			if svc != 0 && len(grp) == 1 && r.kind == resultDeadline && p.hasBudget(svc, c.svc, tcur) &&
				end < dl-ms(5) && rng.Float64() < 0.5 {
				end, r = t.call(svc, pod, c, exitParent, end, dl) // one retry
			}
			gEnd = max(gEnd, end)
			if r.kind > worst.kind {
				worst, worstCallee = r, c.svc
			}
		}
		adv(gEnd - tcur)
		if cut {
			break
		}
		callee := ""
		if worstCallee >= 0 {
			callee = t.g.services[worstCallee].name
		}
		switch worst.kind {
		case resultBadResponse:
			if svc != 0 && rng.Float64() < 0.15 {
				t.log(pod, tcur, sevError, ctrlID, s.logger, ep.logLine,
					"["+ep.verb+"][Call "+callee+" returned unexpected response][Response(status=0, msg=null, data=null)]")
			}
		case resultException, resultDeadline:
			propagate := worst.kind == resultDeadline && p.hasBudget(svc, worstCallee, tcur)
			if !propagate {
				propagate = rng.Float64() < 0.8*math.Pow(0.5, float64(worst.level))
			}
			if propagate {
				fail = outcome{kind: worst.kind, level: worst.level + 1}
				if svc != 0 && (worst.kind == resultException || rng.Float64() < 0.5) {
					msg := msgHTTP500
					if worst.kind == resultDeadline {
						msg = msgTimeout
					}
					t.log(pod, tcur, sevError, ctrlID, s.logger, ep.logLine, "["+ep.verb+"][Call "+callee+" failed]["+msg+"]")
				}
			}
		}
		if fail.kind != resultOK {
			break
		}
	}
	if throw && !cut && fail.kind == resultOK {
		adv(ms(0.1 + 0.4*rng.Float64()))
		if !cut {
			fail = outcome{kind: resultException}
			t.log(pod, tcur, sevError, ctrlID, "o.a.c.c.C.[.[.[.[dispatcherServlet]", 175,
				"Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception "+
					"[Request processing failed; nested exception is "+p.excMsg+"] with root cause")
		}
	}

	var errMsg string
	switch {
	case fail.kind == resultDeadline:
		errMsg = msgTimeout
	case fail.kind == resultException && fail.level == 0:
		errMsg = p.excMsg
	case fail.kind == resultException:
		errMsg = msgCallerErr
	}
	if cut {
		t.close(ctrl, tcur, msgTimeout)
		t.close(entry, tcur, msgTimeout)
		return outcome{end: tcur, kind: resultDeadline}
	}
	t.close(ctrl, tcur, errMsg)
	adv(ms(entryPost))
	if cut {
		t.close(entry, tcur, msgTimeout)
		return outcome{end: tcur, kind: resultDeadline}
	}
	t.close(entry, tcur, errMsg)
	fail.end = tcur
	if fail.kind == resultOK && bad {
		fail.kind = resultBadResponse
	}
	return fail
}

// call simulates one exit span from caller to c, starting at st, bounded by
// the caller's deadline dl and, on a timeout chain edge, by its budget.
func (t *tracer) call(caller, callerPod int, c *call, parent pcommon.SpanID, st, dl int64) (int64, outcome) {
	rng := t.rng
	p := t.plan
	exit := t.open(callerPod, c.method, parent, st)
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
	t.close(exit, end, msg)
	r.end = end
	return end, r
}

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
