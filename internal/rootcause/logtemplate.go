package rootcause

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Log patterns: code faults rarely slow a service down, but they change
// what it logs. A "return" fault logs a statement the service never logged
// before (often ERROR); an "exception" skips the rest of a code region, so
// a statement logged on every request goes missing. Each service's log
// records are grouped by template (the scope name, the code location and
// the body with ids and numbers masked) and by the endpoint of their span,
// counted per window and compared with the template's baseline rate per
// request of that endpoint (of the service, for records without a span):
// new or jumping WARN/ERROR templates (a Poisson z, per service) and
// missing expected statements (a z with a learned spread, see
// scoreTemplates; and broken statement pairs, logsequence.go) become two
// node features.

// Severity classes, kept in a template key's low bits.
const (
	sevOther uint64 = iota
	sevWarn
	sevError
	sevMask uint64 = 3
)

// maxTemplateBytes and maxTemplateTokens bound the body text hashed per
// record: the start of a message identifies its statement; the tail is
// mostly values (names, amounts) that would split one statement into many.
const (
	maxTemplateBytes  = 160
	maxTemplateTokens = 12
)

// tmplKey is one service's log template, logged under one operation's
// requests (opNone: records without a span in the window).
type tmplKey struct {
	service, op int32
	tmpl        uint64 // xxhash of the masked text; the low 2 bits: severity class
}

// minSpread is the least variance of a statement's count per request of
// the missing-statement z (see scoreTemplates).
const minSpread = 0.1

// opNone is the operation of records counted for the whole service.
const opNone int32 = -1

// tmplState is a template's baseline: its count decayed by the baseline's
// window count, as of its service's window number at. Decay counts the
// service's windows, not time, as the rings of the other features do: a
// quiet hour does not erase what the service normally logs.
type tmplState struct {
	count float64
	// sq and want sum, over the windows with more records than expected,
	// the squared excess and the expected count: their ratio is the
	// count's learned variance per expected record (see spread).
	sq, want float64
	at       int
	run      logRun // below its expectation over the service's held windows (FeatLogMissing)
}

// logRun sums a template's (or pair's) observed and expected records over
// its service's current run of held windows (logHoldZ, at most a
// baseline): a fault in a service with a few requests a window changes a
// few records a window, each window alone no stronger than noise, while
// the run's total is. The run's z counts only while the window itself
// leans the same way (more records than expected for a new template,
// fewer for a missing statement): a fault that stopped ends its run at
// once instead of holding the service on its past records. at is the
// service's log window number plus one while the run lasts (its windows
// number does not move while held; a partial window or one without the
// service neither ends nor adds to it).
type logRun struct {
	obs, want float64
	at        int
}

// of returns r's sums when r belongs to ex's current run of held windows.
func (r *logRun) of(ex *logExposure) (obs, want float64, ok bool) {
	if ex == nil || !ex.holding || r.at != ex.windows+1 {
		return 0, 0, false
	}
	return r.obs, r.want, true
}

// add adds a held window's counts, starting a new run when r's is over.
func (r *logRun) add(ex *logExposure, obs, want float64) {
	if r.at != ex.windows+1 {
		*r = logRun{at: ex.windows + 1}
	}
	r.obs += obs
	r.want += want
}

// runRateDoubt is the relative error of a baseline rate, in the spread of
// a run's sum: in one window a count's noise is a few records, but summed
// over a run its expectation's error grows with the sum while the noise
// grows with its square root, and a baseline rate is a request mix's: a
// branch logged on 75 % of its usual share every window (the requests'
// data moved) would otherwise stand out more with every held window.
const runRateDoubt = 0.2

// runZ is a run's z: its records beyond (or short of) the run's expected
// want, over the count's spread at variance v per expected record plus the
// rate's doubt.
func runZ(excess, want, v float64) float64 {
	return excess / math.Sqrt(want*v+1+runRateDoubt*runRateDoubt*want*want)
}

// svcTmpl is one service's template over all its endpoints (FeatLogNew).
type svcTmpl struct {
	service int32
	tmpl    uint64
}

// scored is a window's template or pair count and expectation, added to
// its run by foldTemplates when the service's window is held.
type scored struct {
	run       *logRun
	service   int32
	obs, want float64
}

// fold decays st to its service's window number now and adds a window.
func (st *tmplState) fold(e *Engine, now int, count, sq, want float64) {
	st.count = e.decayed(st.count, now-st.at) + count
	st.sq = e.decayed(st.sq, now-st.at) + sq
	st.want = e.decayed(st.want, now-st.at) + want
	st.at = now
}

// spread is the variance per expected record of a template's count, for a
// rate of r records per request: binomial (1-r) for a statement logged at
// most once per request (one logged on every request has almost no
// spread, so requests without it are strong evidence), blended with the
// variance learned from the baseline's windows, which dominates once the
// baseline has expected priorRecords records: loops log a statement a
// varying number of times, branches follow the request mix. minSpread
// keeps some doubt (records of slow requests that miss their span's window).
func (st *tmplState) spread(r float64) float64 {
	prior := math.Max(1-r, minSpread)
	return math.Max((st.sq+prior*priorRecords)/(st.want+priorRecords), minSpread)
}

// priorRecords weighs spread's binomial prior against the learned variance.
const priorRecords = 10

// logExposure is a service's decayed request count (segments, at least one
// per window), the denominator of its templates' rates; windows numbers the
// windows it was in.
type logExposure struct {
	value    float64
	windows  int
	hold     hold  // of windows whose log pattern stands out (logHoldZ)
	holding  bool  // the window last folded was kept out (held or partial); read as such when the next is scored
	lastSeen int64 // window start
}

// logHoldZ is the log-pattern z at which a service's window is kept out of
// its template baseline, so that a statement that stopped (or an ERROR that
// started) with a fault still stands out in the fault's later windows
// instead of decaying into the expectation within a few windows. A change
// that persists for a whole baseline is taken as the new normal.
const logHoldZ = 2

// sevClass is a record's severity class: by number, else by text.
func sevClass(r plog.LogRecord) uint64 {
	switch n := r.SeverityNumber(); {
	case n >= plog.SeverityNumberError:
		return sevError
	case n >= plog.SeverityNumberWarn:
		return sevWarn
	case n != plog.SeverityNumberUnspecified:
		return sevOther
	}
	switch t := r.SeverityText(); {
	case strings.EqualFold(t, "ERROR"), strings.EqualFold(t, "FATAL"), strings.EqualFold(t, "CRITICAL"):
		return sevError
	case strings.EqualFold(t, "WARN"), strings.EqualFold(t, "WARNING"):
		return sevWarn
	}
	return sevOther
}

// template returns a record's template id: the scope name (the logger
// name, for OTel's Java appenders), the code location when the SDK records
// it, and the start of the body with each token holding a digit (numbers,
// ids, clocks, train G1234) read as '#'. A record below WARN that carries
// its source line is identified by its location alone: one line is one
// statement, and its body differs only in values that masking misses
// (names, enum words) and would split the statement's count. WARN and
// ERROR records keep the body, where a new message at a known line (an
// exception's class) is news. buf is reused across calls.
func template(buf []byte, scope string, r plog.LogRecord) ([]byte, uint64) {
	buf = append(buf[:0], scope...)
	attrs := r.Attributes()
	located := false
	for _, k := range codeAttributes {
		if v, ok := attrs.Get(k); ok {
			buf = append(buf, 0)
			buf = append(buf, v.AsString()...)
			located = located || k == "code.line.number" || k == "code.lineno"
		}
	}
	sev := sevClass(r)
	if located && sev == sevOther {
		return buf, xxhash.Sum64(buf)&^sevMask | sev
	}
	buf = append(buf, 0)
	if b := r.Body(); b.Type() == pcommon.ValueTypeStr {
		buf = maskInto(buf, b.Str(), len(buf)+maxTemplateBytes)
	}
	return buf, xxhash.Sum64(buf)&^sevMask | sev
}

// codeAttributes locate a log statement in code (semantic conventions, old and new names).
var codeAttributes = [...]string{"code.function.name", "code.function", "code.line.number", "code.lineno"}

// maskInto appends the first maxTemplateTokens tokens of s to buf, up to
// limit bytes, tokens holding a digit masked. Tokens end at spaces and
// punctuation other than '.', ':', '-', '_' and '#' (inside clocks, IPs,
// UUIDs and class#line loggers).
func maskInto(buf []byte, s string, limit int) []byte {
	tokens := 0
	for i := 0; i < len(s) && len(buf) < limit && tokens < maxTemplateTokens; {
		if isSep(s[i]) {
			buf = append(buf, s[i])
			i++
			continue
		}
		j, digit := i, false
		for ; j < len(s) && !isSep(s[j]); j++ {
			digit = digit || (s[j] >= '0' && s[j] <= '9')
		}
		if digit {
			buf = append(buf, '#')
		} else {
			buf = append(buf, s[i:min(j, i+limit-len(buf))]...)
		}
		tokens++
		i = j
	}
	return buf
}

func isSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', ',', ';', '=', '"', '\'', '(', ')', '[', ']', '{', '}', '/', '<', '>', '|', '&', '?', '@', '+', '*':
		return true
	}
	return false
}

// countTemplate adds one record to its window's template counts and
// returns its severity class. A record with a span id waits for the window
// to close, to be counted under its span's operation (attribute).
func (in *intake) countTemplate(w *window, service int32, scope string, r plog.LogRecord) uint64 {
	var h uint64
	in.tmplBuf, h = template(in.tmplBuf, scope, r)
	k := tmplKey{service: service, op: opNone, tmpl: h}
	if !r.SpanID().IsEmpty() {
		if len(w.spanned) < in.cfg.MaxSpansPerWindow {
			ts := int64(r.Timestamp())
			if ts == 0 {
				ts = int64(r.ObservedTimestamp())
			}
			w.spanned = append(w.spanned, spanLog{key: k, span: spanKey{r.TraceID(), r.SpanID()}, ts: ts})
			return h & sevMask
		}
		w.short(service) // its endpoint's statements would look missing
	}
	countIn(w, w.tmpl, k, service, in.cfg.MaxLogTemplates, &in.stats.DroppedTemplates)
	return h & sevMask
}

// countIn adds one to a window table's k (templates or statement pairs),
// creating it while the table is under limit (max_log_templates); beyond,
// the record is counted in dropped and its service's window is short.
func countIn[K comparable](w *window, table map[K]int32, k K, service int32, limit int, dropped *int64) {
	if _, ok := table[k]; !ok && len(table) >= limit {
		*dropped++
		w.short(service)
		return
	}
	table[k]++
}

// attribute counts the window's records with a span id under the operation
// of their span's segment (the service's entry operation): a statement is
// expected per request of the endpoint whose code logs it, so a missing one
// is measured against that endpoint's requests, not the service's mix. A
// record whose span has not ended yet waits for the next window once (a
// slow request logs in one window and ends in the next); records whose span
// is not found then, or whose operation has no baseline slot left
// (max_operations), count for the whole service.
func (e *Engine) attribute(w *window, b *built) {
	counted := e.carry(w, b)
	for _, l := range counted {
		k := l.key
		if i, ok := b.index[l.span]; ok {
			if seg := &b.segs[b.segOf[i]]; seg.service == k.service && e.opExposure(opKey{k.service, seg.op}, w.start) != nil {
				k.op = seg.op
			}
		}
		countIn(w, w.tmpl, k, k.service, e.cfg.MaxLogTemplates, &e.stats.DroppedTemplates)
	}
	e.countSequences(w, counted)
	w.spanned = nil
}

// carry moves the records with a span id whose span is not in the window,
// and that waited no window before, to the next window while it is open
// and under max_spans_per_window; it returns the others, in order. Only
// the move holds the intake's lock.
func (e *Engine) carry(w *window, b *built) []spanLog {
	var waiting []int // indexes into w.spanned
	for i, l := range w.spanned {
		if _, ok := b.index[l.span]; !ok && !l.carried {
			waiting = append(waiting, i)
		}
	}
	moved := 0
	if len(waiting) > 0 {
		e.in.mu.Lock()
		if next := e.in.open[w.start+e.window]; next != nil {
			for _, i := range waiting {
				if len(next.spanned) >= e.cfg.MaxSpansPerWindow {
					break
				}
				l := w.spanned[i]
				l.carried = true
				next.spanned = append(next.spanned, l)
				moved++
			}
		}
		e.in.mu.Unlock()
	}
	counted := w.spanned[:0]
	for i, l := range w.spanned {
		if moved > 0 && waiting[0] == i {
			waiting, moved = waiting[1:], moved-1
			continue
		}
		counted = append(counted, l)
	}
	return counted
}

// decayed is v after the given number of its service's windows.
func (e *Engine) decayed(v float64, windows int) float64 {
	if windows <= 0 {
		return v
	}
	return v * math.Pow(1-1/float64(e.baselineWindows), float64(windows))
}

// opExposure is an operation's decayed request count (its segments), the
// denominator of the rates of the templates logged under it; at is its
// service's window number, as for tmplState.
type opExposure struct {
	value    float64
	at       int
	lastSeen int64 // window start
}

// opExposure returns k's exposure, creating it while under max_operations;
// nil beyond, and for operations beyond max_operations (the record then
// counts for its whole service).
func (e *Engine) opExposure(k opKey, now int64) *opExposure {
	if k.op < 0 {
		return nil
	}
	oe := e.opExp[k]
	if oe == nil {
		if len(e.opExp) >= e.cfg.MaxOperations {
			return nil
		}
		oe = &opExposure{}
		e.opExp[k] = oe
	}
	oe.lastSeen = now
	return oe
}

// requests is a window's request count behind a template's records: the
// segments of its operation, or of its whole service (at least 1 when it
// logged) for records counted without one.
func requests(aggs map[int32]*serviceAgg, k tmplKey) float64 {
	a := aggs[k.service]
	switch {
	case a == nil:
		return 1
	case k.op == opNone:
		return math.Max(float64(a.segs), 1)
	case a.ops[k.op] == nil:
		return 0
	}
	return float64(len(a.ops[k.op].self))
}

// tmplRate is a template's baseline records per request, ok once its
// service has minHistory windows of log baseline. One pseudo-request
// more in the denominator: a rate learned from one request is no
// certainty.
func (e *Engine) tmplRate(k tmplKey) (float64, bool) {
	ex := e.logExp[k.service]
	if ex == nil || ex.windows < minHistory {
		return 0, false
	}
	st := e.tmplBase[k]
	if st == nil {
		return 0, true
	}
	den := ex.value
	if k.op != opNone {
		oe := e.opExp[opKey{k.service, k.op}]
		if oe == nil {
			return 0, true
		}
		den = e.decayed(oe.value, ex.windows-oe.at)
	}
	return e.decayed(st.count, ex.windows-st.at) / (den + 1), true
}

// scoreTemplates sets each node's FeatLogNew, the strongest WARN/ERROR
// template above its expected count per request of the service (over all
// its endpoints: a statement seen under one endpoint before is not new
// under another, nor when the request mix moves it), as a Poisson
// z (observed - expected) / sqrt(expected + 1); and FeatLogMissing, the
// strongest expected statement below its count, (expected - observed) /
// sqrt(expected * spread + 1) (see tmplState.spread), unless the service
// lost records to a full table this window. Both once the service has
// minHistory windows of log baseline, and both over the service's run of
// held windows too when that is larger (logRun).
func (e *Engine) scoreTemplates(g *Graph, w *window, aggs map[int32]*serviceAgg, index map[int32]int, ls *logScores) {
	type opCount struct {
		op    int32
		count float64
	}
	type seen struct {
		now  int32
		base []opCount // baseline records per endpoint, summed in op order (map order must not leak into reports)
	}
	news := map[svcTmpl]*seen{}
	for k, obs := range w.tmpl {
		if _, ok := index[k.service]; !ok || k.tmpl&sevMask == sevOther {
			continue
		}
		st := svcTmpl{k.service, k.tmpl}
		if news[st] == nil {
			news[st] = &seen{}
		}
		news[st].now += obs
	}
	for k, st := range e.tmplBase {
		ni, ok := index[k.service]
		if !ok {
			continue
		}
		r, ok := e.tmplRate(k)
		if !ok {
			continue
		}
		want, obs := r*requests(aggs, k), float64(w.tmpl[k])
		ex := e.logExp[k.service]
		if n := news[svcTmpl{k.service, k.tmpl}]; n != nil {
			n.base = append(n.base, opCount{k.op, e.decayed(st.count, ex.windows-st.at)})
		}
		if !w.partial[k.service] {
			e.scoreMissing(ls, &g.Nodes[ni], ex, st, k.service, r, want, obs)
		}
	}
	for k, n := range news {
		ex := e.logExp[k.service]
		if ex == nil || ex.windows < minHistory {
			continue
		}
		slices.SortFunc(n.base, func(a, b opCount) int { return cmp.Compare(a.op, b.op) })
		base := 0.0
		for _, c := range n.base {
			base += c.count
		}
		want := base / (ex.value + 1) * requests(aggs, tmplKey{service: k.service, op: opNone})
		e.scoreNew(ls, &g.Nodes[index[k.service]], ex, k, want, float64(n.now))
	}
}

// scoreNew raises n's FeatLogNew to a WARN/ERROR template's Poisson z,
// (obs - want) / sqrt(want + 1), or its run's (runZ) when larger.
func (e *Engine) scoreNew(ls *logScores, n *Node, ex *logExposure, k svcTmpl, want, obs float64) {
	raise(n, FeatLogNew, (obs-want)/math.Sqrt(want+1), obs)
	if r := e.newRun[k]; r != nil && obs > want {
		if ro, rw, ok := r.of(ex); ok {
			raise(n, FeatLogNew, runZ(obs+ro-want-rw, want+rw, 1), obs+ro)
		}
	}
	ls.newScored = append(ls.newScored, newScored{k, obs, want})
}

// newScored is a window's WARN/ERROR template count for its run.
type newScored struct {
	k         svcTmpl
	obs, want float64
}

// raise sets n's feature f (and its Raw) to z when z is larger.
// On a tie the larger raw value wins, so the result does not depend on
// the order (often a map's) the candidates come in.
func raise(n *Node, f int, z, raw float64) {
	if z > n.X[f] || z > 0 && z == n.X[f] && raw > n.Raw[f] {
		n.X[f], n.Raw[f] = z, raw
	}
}

// foldTemplates adds a scored window to the template baselines: every
// service of the window gains exposure, logging or not (a statement that
// stops is what FeatLogMissing looks for), except services whose log
// pattern is anomalous now (logHoldZ) or that lost records to a full table
// (their counts are short).
func (e *Engine) foldTemplates(g *Graph, w *window, aggs map[int32]*serviceAgg, index map[int32]int, ls logScores) {
	for svc, ni := range index {
		ex := e.logExp[svc]
		if ex == nil {
			ex = &logExposure{}
			e.logExp[svc] = ex
		}
		ex.lastSeen = w.start
		if ex.holding = w.partial[svc]; ex.holding {
			continue // short counts: neither learned nor a normal window
		}
		x := &g.Nodes[ni].X
		if ex.holding = ex.hold.keep(max(x[FeatLogNew], x[FeatLogMissing]) >= logHoldZ, e.baselineWindows); ex.holding {
			continue
		}
		ex.value = e.decayed(ex.value, 1) + requests(aggs, tmplKey{service: svc, op: opNone})
		ex.windows++
		if a := aggs[svc]; a != nil {
			for op, p := range a.ops {
				// endpoints that logged under their spans (attribute made them)
				if oe := e.opExp[opKey{svc, op}]; oe != nil {
					oe.value = e.decayed(oe.value, ex.windows-oe.at) + float64(len(p.self))
					oe.at, oe.lastSeen = ex.windows, w.start
				}
			}
		}
	}
	// a held window adds to its service's runs
	held := func(svc int32) bool { return e.logExp[svc].holding && !w.partial[svc] }
	for _, c := range ls.scored {
		if held(c.service) {
			c.run.add(e.logExp[c.service], c.obs, c.want)
		}
	}
	slices.SortFunc(ls.newScored, func(a, b newScored) int { // map order must not pick who gets the last slots
		return cmp.Or(cmp.Compare(a.k.service, b.k.service), cmp.Compare(a.k.tmpl, b.k.tmpl))
	})
	for _, c := range ls.newScored {
		if !held(c.k.service) {
			continue
		}
		r := e.newRun[c.k]
		if r == nil {
			if len(e.newRun) >= e.cfg.MaxLogTemplates {
				e.stats.DroppedTemplates++
				continue
			}
			r = &logRun{}
			e.newRun[c.k] = r
		}
		r.add(e.logExp[c.k.service], c.obs, c.want)
	}
	// the scored templates first, with how far above their expectation
	// they were: the spread learns from windows with more records than
	// expected, the mirror image of a missing statement's noise, which no
	// missing-statement fault adds to (its first, partly faulty windows
	// would otherwise widen the spread and hide it in the next ones); also
	// in held windows (a spread learned from quiet windows only stays too
	// small to let the next noisy one pass). Then the window's other (new)
	// templates.
	for _, r := range ls.resid {
		ex, count := e.logExp[r.service], r.count
		if ex.holding {
			count = 0 // the spread learns from every window, the rate not
		}
		r.st.fold(e, ex.windows, count, r.sq, r.want)
	}
	for k, obs := range w.tmpl {
		foldCount(e, e.tmplBase, k, e.logExp[k.service], obs, e.cfg.MaxLogTemplates, &e.stats.DroppedTemplates)
	}
}

// foldCount adds a window's count of k (a template, a statement pair or
// a call pattern) to its baseline unless its service is held (or has no
// baseline) or it was folded with its residual already; new keys take a
// slot while the baseline is under limit (beyond: counted in dropped).
func foldCount[K comparable](e *Engine, base map[K]*tmplState, k K, ex *logExposure, obs int32, limit int, dropped *int64) {
	if ex == nil || ex.holding {
		return
	}
	st := base[k]
	if st == nil {
		if len(base) >= limit {
			*dropped++
			return
		}
		st = &tmplState{}
		base[k] = st
	} else if st.at == ex.windows {
		return // folded with its residual
	}
	st.fold(e, ex.windows, float64(obs), 0, 0)
}

// scoreMissing raises n's FeatLogMissing to a template's or pair's z,
// (want - obs) / sqrt(want * spread + 1) at rate r per request or record
// (or its run's, runZ, when larger),
// and keeps the window's residual for its spread when it teaches it: above
// its expectation (see foldTemplates), or in either direction once the
// service's log pattern has stood out for a whole baseline (held that
// long, the change is the new normal, and so is its variation).
func (e *Engine) scoreMissing(ls *logScores, n *Node, ex *logExposure, st *tmplState, service int32, r, want, obs float64) {
	if obs > want || ex.hold.held >= e.baselineWindows {
		ls.resid = append(ls.resid, residual{st, service, obs, (obs - want) * (obs - want), want})
	}
	sp := st.spread(r)
	raise(n, FeatLogMissing, (want-obs)/math.Sqrt(want*sp+1), want-obs)
	if ro, rw, ok := st.run.of(ex); ok && obs < want {
		raise(n, FeatLogMissing, runZ(want+rw-obs-ro, want+rw, sp), want+rw-obs-ro)
	}
	ls.scored = append(ls.scored, scored{&st.run, service, obs, want})
}

// residual is a scored template's or pair's count, squared excess and
// expected count in the window being closed.
type residual struct {
	st              *tmplState
	service         int32
	count, sq, want float64
}

// scoreLogs sets the nodes' log features from the window's templates and
// statement pairs, and returns what folding them into the baselines needs.
func (e *Engine) scoreLogs(g *Graph, w *window, aggs map[int32]*serviceAgg, index map[int32]int) logScores {
	var ls logScores
	e.scoreTemplates(g, w, aggs, index, &ls)
	e.scoreSequences(g, w, index, &ls)
	return ls
}

// logScores are what scoring a window's templates and statement pairs
// hands to folding them into the baselines (foldTemplates).
type logScores struct {
	resid     []residual  // the residuals that teach the spread
	scored    []scored    // template and pair counts, for their runs
	newScored []newScored // WARN/ERROR template counts, for their runs
}

// negligible: a template or pair its service has not logged for so many
// windows that its decayed count is below 1/1000 (about 7 baselines): its
// slot goes to new templates.
func (e *Engine) negligible(st *tmplState, ex *logExposure) bool {
	return e.decayed(st.count, ex.windows-st.at) < 1e-3
}

// sweepTemplates forgets the template baselines of services and operations
// not seen since cutoff (their ids are about to be reused), and templates
// no longer logged.
func (e *Engine) sweepTemplates(cutoff int64) {
	for svc, ex := range e.logExp {
		if ex.lastSeen < cutoff {
			delete(e.logExp, svc)
		}
	}
	for k, oe := range e.opExp {
		if _, ok := e.logExp[k.service]; !ok || oe.lastSeen < cutoff {
			delete(e.opExp, k)
		}
	}
	for k, st := range e.seqBase {
		if ex := e.logExp[k.service]; ex == nil || e.negligible(st, ex) {
			delete(e.seqBase, k)
		}
	}
	for k, r := range e.newRun {
		if _, _, ok := r.of(e.logExp[k.service]); !ok {
			delete(e.newRun, k)
		}
	}
	for k, st := range e.tmplBase {
		ex := e.logExp[k.service]
		ok := ex != nil && !e.negligible(st, ex)
		if ok && k.op != opNone {
			_, ok = e.opExp[opKey{k.service, k.op}]
		}
		if !ok {
			delete(e.tmplBase, k)
		}
	}
}
