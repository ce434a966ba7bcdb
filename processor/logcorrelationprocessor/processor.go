package logcorrelationprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor"

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor/internal/metadata"
)

// source is where a record's ids were found (the `source` metric attribute).
type source uint8

const (
	sourceAttribute source = iota
	sourceTraceparent
	sourceKeyValue
	sourceJSON
	sourceMDC
	sourceCustom
	numSources
)

var sourceNames = [numSources]string{"attribute", "traceparent", "key_value", "json", "mdc", "custom"}

// bodyExtractor finds ids in a string body.
type bodyExtractor struct {
	src  source
	find func(s string) (match, bool, invalidReason)
}

var builtins = map[ExtractorType]bodyExtractor{
	ExtractorTypeTraceparent: {src: sourceTraceparent, find: findTraceparent},
	ExtractorTypeKeyValue:    {src: sourceKeyValue, find: func(s string) (match, bool, invalidReason) { return findKeyedIDs(s, false) }},
	ExtractorTypeJSON:        {src: sourceJSON, find: func(s string) (match, bool, invalidReason) { return findKeyedIDs(s, true) }},
	ExtractorTypeMDC:         {src: sourceMDC, find: findMDC},
}

type customRule struct {
	re                    *regexp.Regexp
	prefix                string // literal prefix: lines without it skip the regex
	traceIdx, spanIdx, fl int
}

type correlator struct {
	cfg        *Config
	tel        *metadata.TelemetryBuilder
	extractors []bodyExtractor
	mapJSON    bool // the json extractor also reads map bodies
	custom     []customRule
	attrs      map[string]bool // attribute name -> holds a span id
	attrLens   uint64          // bit n: some attribute name has length n (n < 64)

	sourceOpts [numSources]metric.AddOption
	zeroOpt    metric.AddOption
	badOpt     metric.AddOption
}

func newCorrelator(set component.TelemetrySettings, cfg *Config) (*correlator, error) {
	tel, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	c := &correlator{cfg: cfg, tel: tel, attrs: map[string]bool{}}
	for _, e := range cfg.Extractors {
		c.extractors = append(c.extractors, builtins[e])
		c.mapJSON = c.mapJSON || e == ExtractorTypeJSON
	}
	for _, cc := range cfg.Custom {
		re := regexp.MustCompile(cc.Pattern) // validated
		prefix, _ := re.LiteralPrefix()
		c.custom = append(c.custom, customRule{re: re, prefix: prefix,
			traceIdx: re.SubexpIndex("trace_id"), spanIdx: re.SubexpIndex("span_id"), fl: re.SubexpIndex("trace_flags")})
	}
	for _, a := range cfg.Attributes {
		c.attrs[a] = strings.Contains(strings.ToLower(a), "span")
		if len(a) < 64 {
			c.attrLens |= 1 << len(a)
		} else {
			c.attrLens |= 1 // long names: no length filter
		}
	}
	for i, n := range sourceNames {
		c.sourceOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("source", n)))
	}
	c.badOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "malformed")))
	c.zeroOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "all_zero")))
	return c, nil
}

// counts are one batch's telemetry increments.
type counts struct {
	correlated         [numSources]int64
	kept, bad, allZero int64
}

func (n *counts) invalid(r invalidReason) {
	switch r {
	case invalidMalformed:
		n.bad++
	case invalidAllZero:
		n.allZero++
	}
}

func (c *correlator) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	var n counts
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				c.correlate(r, &n)
			}
		}
	}
	for i, v := range n.correlated {
		if v > 0 {
			c.tel.ProcessorLogCorrelationRecordsCorrelated.Add(ctx, v, c.sourceOpts[i])
		}
	}
	if n.kept > 0 {
		c.tel.ProcessorLogCorrelationRecordsKept.Add(ctx, n.kept)
	}
	if n.bad > 0 {
		c.tel.ProcessorLogCorrelationInvalidIds.Add(ctx, n.bad, c.badOpt)
	}
	if n.allZero > 0 {
		c.tel.ProcessorLogCorrelationInvalidIds.Add(ctx, n.allZero, c.zeroOpt)
	}
	return ld, nil
}

// correlate sets r's ids from the first source that yields a valid trace id:
// attributes, then the body extractors in order, then the custom patterns.
func (c *correlator) correlate(r plog.LogRecord, n *counts) {
	if !c.cfg.Overwrite && !r.TraceID().IsEmpty() {
		n.kept++
		return
	}
	m, ok := c.fromAttributes(r.Attributes(), n)
	src := sourceAttribute
	body := r.Body()
	fromString := false
	if !ok {
		switch body.Type() {
		case pcommon.ValueTypeStr:
			m, src, ok = c.fromString(body.Str(), n)
			fromString = ok
		case pcommon.ValueTypeMap:
			if c.mapJSON {
				m, ok = idsFromMap(body.Map(), n)
				src = sourceJSON
			}
		}
	}
	if !ok {
		return
	}
	r.SetTraceID(m.traceID)
	// the span id and flags go with the trace id: never keep another trace's
	r.SetSpanID(m.spanID)
	r.SetFlags(plog.LogRecordFlags(m.flags))
	n.correlated[src]++
	if c.cfg.RemoveFromBody && fromString {
		body.SetStr(removeRanges(body.Str(), idRanges(body.Str(), m, src), src == sourceJSON))
	}
}

func (c *correlator) fromString(s string, n *counts) (match, source, bool) {
	for _, e := range c.extractors {
		m, ok, bad := e.find(s)
		n.invalid(bad)
		if ok {
			return m, e.src, true
		}
	}
	for i := range c.custom {
		cr := &c.custom[i]
		if cr.prefix != "" && !strings.Contains(s, cr.prefix) {
			continue
		}
		loc := cr.re.FindStringSubmatchIndex(s)
		if loc == nil || loc[2*cr.traceIdx] < 0 {
			continue
		}
		tid, r := decodeTraceID(s[loc[2*cr.traceIdx]:loc[2*cr.traceIdx+1]])
		if r != validID {
			n.invalid(r)
			continue
		}
		m := match{traceID: tid, start: loc[0], end: loc[1]}
		if cr.spanIdx >= 0 && loc[2*cr.spanIdx] >= 0 {
			if sid, sr := decodeSpanID(s[loc[2*cr.spanIdx]:loc[2*cr.spanIdx+1]]); sr == validID {
				m.spanID, m.hasSpan = sid, true
			} else {
				n.invalid(sr)
			}
		}
		if cr.fl >= 0 && loc[2*cr.fl] >= 0 {
			m.flags, m.hasFlags = parseFlags(s[loc[2*cr.fl]:loc[2*cr.fl+1]])
		}
		return m, sourceCustom, true
	}
	return match{}, 0, false
}

// fromAttributes reads the configured id attributes.
func (c *correlator) fromAttributes(attrs pcommon.Map, n *counts) (match, bool) {
	var m match
	found := false
	if attrs.Len() == 0 || len(c.attrs) == 0 {
		return m, false
	}
	for k, v := range attrs.All() {
		if len(k) < 64 && c.attrLens&(1<<len(k)) == 0 && c.attrLens&1 == 0 {
			continue
		}
		isSpan, ok := c.attrs[k]
		if !ok || v.Type() != pcommon.ValueTypeStr {
			continue
		}
		s := strings.TrimSpace(v.Str())
		if isSpan {
			if sid, r := decodeSpanID(s); r == validID {
				m.spanID, m.hasSpan = sid, true
			} else {
				n.invalid(r)
			}
			continue
		}
		if found {
			continue
		}
		if tid, r := decodeTraceID(s); r == validID {
			m.traceID, found = tid, true
		} else {
			n.invalid(r)
		}
	}
	if !found {
		return match{}, false
	}
	return m, true
}

// idsFromMap reads trace/span id fields of a structured (map) body.
func idsFromMap(body pcommon.Map, n *counts) (match, bool) {
	var m match
	found := false
	for k, v := range body.All() {
		kind := idKey(k)
		if kind == 0 || v.Type() != pcommon.ValueTypeStr {
			continue
		}
		if kind == 's' {
			if sid, r := decodeSpanID(v.Str()); r == validID {
				m.spanID, m.hasSpan = sid, true
			} else {
				n.invalid(r)
			}
		} else if !found {
			if tid, r := decodeTraceID(v.Str()); r == validID {
				m.traceID, found = tid, true
			} else {
				n.invalid(r)
			}
		}
	}
	return m, found
}

// idKey classifies a field name as a trace id ('t'), span id ('s') or
// neither (0): trace_id, traceId, traceID, trace.id, trace-id, traceid, and
// the same for span.
func idKey(k string) byte {
	for _, key := range [...]string{"trace", "span"} {
		if len(k) < len(key)+2 || !strings.EqualFold(k[:len(key)], key) {
			continue
		}
		rest := k[len(key):]
		if rest[0] == '_' || rest[0] == '.' || rest[0] == '-' {
			rest = rest[1:]
		}
		if strings.EqualFold(rest, "id") {
			return key[0]
		}
	}
	return 0
}

// idRanges is the text that carried the ids: the trace id's, and for the
// key/value and JSON forms the span id and flags pairs too (found again
// here, off the hot path: only remove_from_body needs them).
func idRanges(s string, m match, src source) [][2]int {
	ranges := [][2]int{{m.start, m.end}}
	if src != sourceKeyValue && src != sourceJSON {
		return ranges
	}
	quoted := src == sourceJSON
	if m.hasSpan {
		if _, st, en, ok := findKeyed(s, "span", "id", quoted); ok {
			ranges = append(ranges, [2]int{st, en})
		}
	}
	if m.hasFlags {
		if _, st, en, ok := findKeyed(s, "trace", "flags", quoted); ok {
			ranges = append(ranges, [2]int{st, en})
		}
	}
	return ranges
}

// removeRanges deletes the given ranges of s (the text that carried ids)
// and the blank each leaves; in a JSON line it also drops one neighbouring
// comma so the object stays valid.
func removeRanges(s string, ranges [][2]int, json bool) string {
	slices.SortFunc(ranges, func(a, b [2]int) int { return b[0] - a[0] }) // last first: offsets stay valid
	for i, r := range ranges {
		if i > 0 && r[1] > ranges[i-1][0] {
			continue // overlaps the one removed before
		}
		s = cut(s, r[0], r[1], json)
	}
	return s
}

// cut removes s[start:end] and the blank (or, in JSON, the comma) it leaves.
func cut(s string, start, end int, json bool) string {
	if json {
		after := strings.TrimLeft(s[end:], " \t")
		if strings.HasPrefix(after, ",") {
			return s[:start] + strings.TrimLeft(after[1:], " \t")
		}
		before := strings.TrimRight(s[:start], " \t")
		return strings.TrimSuffix(before, ",") + s[end:]
	}
	left, right := strings.TrimRight(s[:start], " \t"), strings.TrimLeft(s[end:], " \t")
	if left != "" && right != "" {
		return left + " " + right
	}
	return left + right
}
