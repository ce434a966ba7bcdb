package rootcause

import (
	"math"
	"strings"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Log patterns: code faults rarely slow a service down, but they change
// what it logs. A "return" fault logs a statement the service never logged
// before (often ERROR); an "exception" skips the rest of a code region, so
// a statement logged on every request goes missing. Each service's log
// records are grouped by template (the scope name and the body with ids and
// numbers masked), counted per window and compared with the template's
// baseline rate per request of that service: new or jumping WARN/ERROR
// templates and missing expected statements become two node features, as
// Poisson z-scores (the counts are small).

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

// tmplKey is one service's log template.
type tmplKey struct {
	service int32
	tmpl    uint64 // xxhash of the masked text; the low 2 bits: severity class
}

// tmplState is a template's baseline: its count decayed by the baseline's
// window count, as of its service's window number at. Decay counts the
// service's windows, not time, as the rings of the other features do: a
// quiet hour does not erase what the service normally logs.
type tmplState struct {
	count float64
	at    int
}

// logExposure is a service's decayed request count (segments, at least one
// per window), the denominator of its templates' rates; windows numbers the
// windows it was in.
type logExposure struct {
	value    float64
	windows  int
	held     int   // windows kept out of the baseline since the pattern was last normal for a baseline
	normal   int   // consecutive windows without a log-pattern anomaly
	holding  bool  // the window being folded is kept out
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
// ids, clocks, train G1234) read as '#'. buf is reused across calls.
func template(buf []byte, scope string, r plog.LogRecord) ([]byte, uint64) {
	buf = append(buf[:0], scope...)
	attrs := r.Attributes()
	for _, k := range codeAttributes {
		if v, ok := attrs.Get(k); ok {
			buf = append(buf, 0)
			buf = append(buf, v.AsString()...)
		}
	}
	buf = append(buf, 0)
	if b := r.Body(); b.Type() == pcommon.ValueTypeStr {
		buf = maskInto(buf, b.Str(), len(buf)+maxTemplateBytes)
	}
	return buf, xxhash.Sum64(buf)&^sevMask | sevClass(r)
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
// returns its severity class.
func (e *Engine) countTemplate(w *window, service int32, scope string, r plog.LogRecord) uint64 {
	var h uint64
	e.tmplBuf, h = template(e.tmplBuf, scope, r)
	k := tmplKey{service, h}
	if _, ok := w.tmpl[k]; !ok && len(w.tmpl) >= e.cfg.MaxLogTemplates {
		e.stats.DroppedTemplates++
	} else {
		w.tmpl[k]++
	}
	return h & sevMask
}

// decayed is v after the given number of its service's windows.
func (e *Engine) decayed(v float64, windows int) float64 {
	if windows <= 0 {
		return v
	}
	return v * math.Pow(1-1/float64(e.baselineWindows), float64(windows))
}

// exposure is a window's request count for a service's log rates: its
// segments, at least 1 when it logged.
func exposure(segs int) float64 { return math.Max(float64(segs), 1) }

// scoreTemplates sets each node's FeatLogNew (the strongest WARN/ERROR
// template above its expected count) and FeatLogMissing (the strongest
// expected statement below it), as (observed - expected) / sqrt(expected + 1),
// once the service has minHistory windows of log baseline.
func (e *Engine) scoreTemplates(g *Graph, w *window, segs map[int32]int, index map[int32]int) {
	rate := func(k tmplKey) (float64, bool) {
		ex := e.logExp[k.service]
		if ex == nil || ex.windows < minHistory {
			return 0, false
		}
		st := e.tmplBase[k]
		if st == nil {
			return 0, true
		}
		return e.decayed(st.count, ex.windows-st.at) / ex.value, true
	}
	for k, obs := range w.tmpl {
		ni, ok := index[k.service]
		if !ok || k.tmpl&sevMask == sevOther {
			continue
		}
		r, ok := rate(k)
		if !ok {
			continue
		}
		want := r * exposure(segs[k.service])
		if z := (float64(obs) - want) / math.Sqrt(want+1); z > g.Nodes[ni].X[FeatLogNew] {
			n := &g.Nodes[ni]
			n.X[FeatLogNew], n.Raw[FeatLogNew] = z, float64(obs)
		}
	}
	for k := range e.tmplBase {
		ni, ok := index[k.service]
		if !ok {
			continue
		}
		r, ok := rate(k)
		if !ok {
			continue
		}
		want, obs := r*exposure(segs[k.service]), float64(w.tmpl[k])
		if z := (want - obs) / math.Sqrt(want+1); z > g.Nodes[ni].X[FeatLogMissing] {
			n := &g.Nodes[ni]
			n.X[FeatLogMissing], n.Raw[FeatLogMissing] = z, want-obs
		}
	}
}

// foldTemplates adds a scored window to the template baselines: every
// service of the window gains exposure, logging or not (a statement that
// stops is what FeatLogMissing looks for), except services whose log
// pattern is anomalous now (logHoldZ).
func (e *Engine) foldTemplates(g *Graph, w *window, segs map[int32]int, index map[int32]int) {
	for svc, ni := range index {
		ex := e.logExp[svc]
		if ex == nil {
			ex = &logExposure{}
			e.logExp[svc] = ex
		}
		ex.lastSeen = w.start
		x := &g.Nodes[ni].X
		anomalous := max(x[FeatLogNew], x[FeatLogMissing]) >= logHoldZ
		if anomalous {
			ex.normal = 0
		} else if ex.normal++; ex.normal >= e.baselineWindows {
			// the hold re-arms after a baseline of normal windows, not
			// before: the end of a fault the baseline took in is no news
			ex.held = 0
		}
		if ex.holding = anomalous && ex.held < e.baselineWindows; ex.holding {
			ex.held++
			continue
		}
		ex.value = e.decayed(ex.value, 1) + exposure(segs[svc])
		ex.windows++
	}
	for k, obs := range w.tmpl {
		if e.logExp[k.service].holding {
			continue
		}
		st := e.tmplBase[k]
		if st == nil {
			if len(e.tmplBase) >= e.cfg.MaxLogTemplates {
				e.stats.DroppedTemplates++
				continue
			}
			st = &tmplState{}
			e.tmplBase[k] = st
		}
		now := e.logExp[k.service].windows
		st.count = e.decayed(st.count, now-st.at) + float64(obs)
		st.at = now
	}
}

// sweepTemplates forgets the template baselines of services not seen since
// cutoff (their ids are about to be reused).
func (e *Engine) sweepTemplates(cutoff int64) {
	for svc, ex := range e.logExp {
		if ex.lastSeen < cutoff {
			delete(e.logExp, svc)
		}
	}
	for k := range e.tmplBase {
		if _, ok := e.logExp[k.service]; !ok {
			delete(e.tmplBase, k)
		}
	}
}
