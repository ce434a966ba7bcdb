package logcorrelationprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// invalidReason says why a candidate id was refused.
type invalidReason uint8

const (
	validID invalidReason = iota
	invalidMalformed
	invalidAllZero
)

// match is what an extractor found in one log line.
type match struct {
	traceID    pcommon.TraceID
	spanID     pcommon.SpanID
	flags      uint32
	hasSpan    bool
	hasFlags   bool
	start, end int // the text that carried the trace id (for remove_from_body)
}

// hexVal maps a byte to its hex value, or 0xFF.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if hexVal[s[i]] == 0xFF {
			return false
		}
	}
	return true
}

// decodeHex fills dst from the hex string s (len(s) == 2*len(dst)); the
// result reports a malformed or all-zero id.
func decodeHex(dst []byte, s string) invalidReason {
	var or byte
	for i := range dst {
		hi, lo := hexVal[s[2*i]], hexVal[s[2*i+1]]
		if hi == 0xFF || lo == 0xFF {
			return invalidMalformed
		}
		dst[i] = hi<<4 | lo
		or |= dst[i]
	}
	if or == 0 {
		return invalidAllZero
	}
	return validID
}

// decodeTraceID accepts 32 hex digits, or 16 (a 64-bit Jaeger/B3 id, left
// padded with zeros as W3C and Jaeger do), in either case.
func decodeTraceID(s string) (pcommon.TraceID, invalidReason) {
	var id pcommon.TraceID
	switch len(s) {
	case 32:
		return id, decodeHex(id[:], s)
	case 16:
		return id, decodeHex(id[8:], s)
	}
	return id, invalidMalformed
}

func decodeSpanID(s string) (pcommon.SpanID, invalidReason) {
	var id pcommon.SpanID
	if len(s) != 16 {
		return id, invalidMalformed
	}
	return id, decodeHex(id[:], s)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// findTraceparent finds a W3C traceparent "vv-<32 hex>-<16 hex>-ff": only
// the positions of '-' are candidates, each checked in O(1) before decoding.
func findTraceparent(s string) (m match, ok bool, bad invalidReason) {
	for i := 0; i+51 < len(s); {
		j := strings.IndexByte(s[i:], '-')
		if j < 0 {
			break
		}
		j += i
		i = j + 1
		if j < 2 || j+53 > len(s) || s[j+33] != '-' || s[j+50] != '-' {
			continue
		}
		if j > 2 && isAlnum(s[j-3]) || j+53 < len(s) && isAlnum(s[j+53]) {
			continue
		}
		version, flags := s[j-2:j], s[j+51:j+53]
		if !isHex(version) || !isHex(flags) || version == "ff" || version == "FF" {
			continue
		}
		m = match{start: j - 2, end: j + 53, hasSpan: true, hasFlags: true}
		for _, prefix := range [...]string{"traceparent=", "traceparent: ", "traceparent:"} {
			if strings.HasSuffix(s[:m.start], prefix) {
				m.start -= len(prefix)
				break
			}
		}
		var r invalidReason
		if m.traceID, r = decodeTraceID(s[j+1 : j+33]); r != validID {
			bad = r
			continue
		}
		if m.spanID, r = decodeSpanID(s[j+34 : j+50]); r != validID {
			bad = r
			continue
		}
		m.flags = uint32(hexVal[flags[0]]<<4 | hexVal[flags[1]])
		return m, true, bad
	}
	return match{}, false, bad
}

// findKeyed finds `<key>[_.-]?<suffix> <sep> <value>`, e.g. key "trace"
// and suffix "id" spelled any of trace_id, traceId, traceID, TraceId,
// trace.id, trace-id, traceid (so also X-B3-TraceId and uber-trace-id).
// quoted selects the JSON form ("traceId":"..."), else key=value /
// key: value. It returns the value and the text from the key to the value's
// end. The search is for the key without its first letter, so both cases of
// that letter are found.
func findKeyed(s, key, suffix string, quoted bool) (value string, start, end int, ok bool) {
	needle := key[1:]
	for i := 0; i < len(s); {
		p := strings.Index(s[i:], needle)
		if p < 0 {
			return "", 0, 0, false
		}
		p += i
		i = p + 1
		k := p - 1 // the key's first letter
		if k < 0 || s[k]|0x20 != key[0] {
			continue
		}
		if k > 0 && isAlnum(s[k-1]) {
			continue // e.g. "subtrace"
		}
		if key == "span" && k > 0 && (s[k-1] == '_' || s[k-1] == '.') {
			continue // parent_span_id, parent.span.id
		}
		if quoted != (k > 0 && s[k-1] == '"') {
			continue
		}
		q := p + len(needle)
		if q < len(s) && (s[q] == '_' || s[q] == '.' || s[q] == '-') {
			q++
		}
		if q+len(suffix) > len(s) || !strings.EqualFold(s[q:q+len(suffix)], suffix) {
			continue
		}
		q += len(suffix)
		if quoted {
			if q >= len(s) || s[q] != '"' {
				continue
			}
			q++
		}
		for q < len(s) && s[q] == ' ' {
			q++
		}
		if q >= len(s) || s[q] != ':' && (quoted || s[q] != '=') {
			continue
		}
		sep := s[q]
		q++
		for sep == ':' && q < len(s) && s[q] == ' ' { // "key: value"; "key= " is an empty value
			q++
		}
		if q < len(s) && (s[q] == '"' || s[q] == '\'') {
			q++
		}
		v := q
		for q < len(s) && isAlnum(s[q]) {
			q++
		}
		if q == v {
			continue
		}
		end = q
		if end < len(s) && (s[end] == '"' || s[end] == '\'') {
			end++
		}
		start = k
		for start > 0 && (isAlnum(s[start-1]) || s[start-1] == '_' || s[start-1] == '.' || s[start-1] == '-') {
			start-- // the whole key token: X-B3-TraceId, uber-trace-id
		}
		if quoted {
			start--
		}
		return s[v:q], start, end, true
	}
	return "", 0, 0, false
}

// findKeyedIDs finds the first valid trace id written as a key, then the
// span id.
func findKeyedIDs(s string, quoted bool) (m match, ok bool, bad invalidReason) {
	for off := 0; off < len(s); {
		v, start, end, ok := findKeyed(s[off:], "trace", "id", quoted)
		if !ok {
			break
		}
		start, end = start+off, end+off
		off = end
		tid, r := decodeTraceID(v)
		if r != validID {
			bad = r
			continue
		}
		m = match{traceID: tid, start: start, end: end}
		if sv, _, _, sok := findKeyed(s, "span", "id", quoted); sok {
			if sid, sr := decodeSpanID(sv); sr == validID {
				m.spanID, m.hasSpan = sid, true
			} else {
				bad = sr
			}
		}
		if fv, _, _, fok := findKeyed(s, "trace", "flags", quoted); fok {
			m.flags, m.hasFlags = parseFlags(fv)
		}
		return m, true, bad
	}
	return match{}, false, bad
}

// parseFlags reads trace flags written as two hex digits ("01") or one
// decimal digit ("1").
func parseFlags(v string) (uint32, bool) {
	switch {
	case len(v) == 2 && isHex(v):
		return uint32(hexVal[v[0]]<<4 | hexVal[v[1]]), true
	case len(v) == 1 && v[0] >= '0' && v[0] <= '9':
		return uint32(v[0] - '0'), true
	}
	return 0, false
}

// findMDC finds ids inside a bracketed MDC group, as logback/log4j layouts
// print them: "[4bf92f...]", "[app,4bf92f...,00f067...]", "[4bf92f...-00f067...]".
// Tokens are separated by ',', ' ', '-', '/' or ':'; the first 32-hex (or
// 16-hex) token is the trace id, a following 16-hex token the span id.
func findMDC(s string) (m match, ok bool, bad invalidReason) {
	for i := 0; i < len(s); {
		open := strings.IndexByte(s[i:], '[')
		if open < 0 {
			break
		}
		open += i
		i = open + 1
		// groups longer than 160 bytes are not MDC: look no further (linear time)
		closing := strings.IndexByte(s[open:min(len(s), open+162)], ']')
		if closing < 0 {
			continue
		}
		closing += open
		m = match{start: open, end: closing + 1}
		found := false
		for t := open + 1; t < closing; {
			e := t
			for e < closing && !isMDCSep(s[e]) {
				e++
			}
			tok := s[t:e]
			t = e + 1
			if tok == "" {
				continue // ", " separators
			}
			if !found {
				if (len(tok) == 32 || len(tok) == 16) && isHex(tok) {
					tid, r := decodeTraceID(tok)
					if r != validID {
						bad = r
						break
					}
					m.traceID, found = tid, true
				}
				continue
			}
			if len(tok) == 16 && isHex(tok) {
				if sid, r := decodeSpanID(tok); r == validID {
					m.spanID, m.hasSpan = sid, true
				} else {
					bad = r
				}
			}
			break
		}
		if found {
			return m, true, bad
		}
	}
	return match{}, false, bad
}

func isMDCSep(c byte) bool {
	return c == ',' || c == ' ' || c == '-' || c == '/' || c == ':'
}
