package bizdyeprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/bizdyeprocessor"

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

type ruleKind uint8

const (
	ruleAttribute ruleKind = iota
	ruleBaggage
	ruleURLPath
	ruleRegex
)

// attrRule reads one key from one attribute.
type attrRule struct {
	key      uint8
	order    uint8 // position in the key's `from` list: lower wins on one item
	kind     ruleKind
	member   string         // ruleBaggage
	template []string       // ruleURLPath
	tplLit   string         // ruleURLPath: the template's literal leading segments, "/api/orders/"
	re       *regexp.Regexp // ruleRegex
	reValue  int
	rePrefix string
}

// bodyRule reads one key from a log body.
type bodyRule struct {
	key      uint8
	order    uint8
	re       *regexp.Regexp
	reValue  int
	rePrefix string // literal prefix of re: bodies without it are skipped without running re
}

// keyValue is one value found for one key.
type keyValue struct {
	key   uint8
	value string
}

// extractor finds business-key values in attributes and log bodies. It is
// immutable after construction and safe for concurrent use.
type extractor struct {
	keyNames []string
	hash     []bool
	salt     string
	maxLen   int
	byAttr   map[string][]attrRule
	nameBits [nameFilterBits / 64]uint64 // nameFilter: attribute names no rule reads skip the map lookup
	body     []bodyRule
	// drop names the attributes removed once read (keys with drop_source).
	drop map[string]bool
}

const (
	attrBaggage       = "baggage"
	attrHeaderBaggage = "http.request.header.baggage"
	attrHeaderPrefix  = "http.request.header."
)

var urlAttrs = []string{"url.path", "http.target", "http.route"}

func newExtractor(cfg *Config) *extractor {
	e := &extractor{byAttr: map[string][]attrRule{}, salt: string(cfg.HashSalt), maxLen: cfg.MaxValueLength}
	add := func(attr string, r attrRule) {
		e.byAttr[attr] = append(e.byAttr[attr], r)
		h := nameFilterHash(attr)
		e.nameBits[h/64] |= 1 << (h % 64)
	}
	for i, k := range cfg.Keys {
		key := uint8(i)
		e.keyNames = append(e.keyNames, k.Name)
		e.hash = append(e.hash, k.Hash)
		for j, src := range k.From {
			order := uint8(min(j, 255))
			if k.DropSource {
				e.markDropped(src)
			}
			switch {
			case src.Attribute != "":
				add(src.Attribute, attrRule{key: key, order: order, kind: ruleAttribute})
			case src.Header != "":
				add(attrHeaderPrefix+strings.ToLower(src.Header), attrRule{key: key, order: order, kind: ruleAttribute})
			case src.Baggage != "":
				r := attrRule{key: key, order: order, kind: ruleBaggage, member: src.Baggage}
				add(attrBaggage, r)
				add(attrHeaderBaggage, r)
			case src.URLPath != "":
				segs, _ := parseURLTemplate(src.URLPath) // validated
				lit := "/"
				for _, seg := range segs {
					if seg == "*" || strings.HasPrefix(seg, "{") {
						break
					}
					lit += seg + "/"
				}
				for _, a := range urlAttrs {
					add(a, attrRule{key: key, order: order, kind: ruleURLPath, template: segs, tplLit: lit})
				}
			case src.Regex != nil:
				re := regexp.MustCompile(src.Regex.Pattern) // validated
				prefix, _ := re.LiteralPrefix()
				add(src.Regex.Attribute, attrRule{key: key, order: order, kind: ruleRegex, re: re, reValue: re.SubexpIndex("value"), rePrefix: prefix})
			case src.LogBody != "":
				re := regexp.MustCompile(src.LogBody) // validated
				prefix, _ := re.LiteralPrefix()
				e.body = append(e.body, bodyRule{key: key, order: order, re: re, reValue: re.SubexpIndex("value"), rePrefix: prefix})
			}
		}
	}
	return e
}

// markDropped records the attribute src reads (validated: attribute,
// header or regex) as one to remove once read.
func (e *extractor) markDropped(src SourceConfig) {
	if e.drop == nil {
		e.drop = map[string]bool{}
	}
	switch {
	case src.Attribute != "":
		e.drop[src.Attribute] = true
	case src.Header != "":
		e.drop[attrHeaderPrefix+strings.ToLower(src.Header)] = true
	case src.Regex != nil:
		e.drop[src.Regex.Attribute] = true
	}
}

// found collects at most one value per key for one item (span, log or
// resource): the one from the earliest source in the key's `from` list.
type found struct {
	order []uint8 // per key; 255 = none
	value []string
	n     int
	// invalid counts, over a whole batch, the values refused as business
	// keys: not valid UTF-8 (exporters reject them downstream, Prometheus on
	// every scrape), or a NaN or infinite number ("-Infinity" is no order id).
	invalid int64
}

func newFound(keys int) *found {
	f := &found{order: make([]uint8, keys), value: make([]string, keys)}
	for i := range f.order {
		f.order[i] = 255
	}
	return f
}

func (f *found) reset() {
	if f.n == 0 {
		return
	}
	for i := range f.order {
		f.order[i] = 255
		f.value[i] = ""
	}
	f.n = 0
}

func (f *found) offer(key, order uint8, v string) {
	if v == "" || order >= f.order[key] {
		return
	}
	if !utf8.ValidString(v) {
		f.invalid++
		return
	}
	if f.order[key] == 255 {
		f.n++
	}
	f.order[key] = order
	f.value[key] = v
}

// appendTo appends the found values, normalised (truncated, hashed), to dst.
func (f *found) appendTo(e *extractor, dst []keyValue) ([]keyValue, int) {
	if f.n == 0 {
		return dst, 0
	}
	truncated := 0
	for k, o := range f.order {
		if o == 255 {
			continue
		}
		v, cut := e.normalise(uint8(k), f.value[k])
		if cut {
			truncated++
		}
		if v == "" {
			continue // truncation left nothing (no rune start in the first max_value_length bytes)
		}
		dst = append(dst, keyValue{key: uint8(k), value: v})
	}
	return dst, truncated
}

const nameFilterBits = 4096

// nameFilterHash is a cheap fingerprint of an attribute name (length, first
// and last byte): most attribute names of a span are ruled out with it
// before hashing the whole name for the map lookup.
func nameFilterHash(name string) uint32 {
	if name == "" {
		return 0
	}
	return (uint32(len(name))*961 + uint32(name[0])*31 + uint32(name[len(name)-1])) % nameFilterBits
}

// scanAttributes offers every value the rules find in attrs, then removes
// the attributes of keys with drop_source: each map is scanned once, so the
// values read here are the only copy the processor needs.
func (e *extractor) scanAttributes(attrs pcommon.Map, f *found) {
	drop := false
	for name, v := range attrs.All() {
		if h := nameFilterHash(name); e.nameBits[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		rules, ok := e.byAttr[name]
		if !ok {
			continue
		}
		drop = drop || e.drop[name]
		for i := range rules {
			r := &rules[i]
			if r.order >= f.order[r.key] {
				continue
			}
			switch v.Type() {
			case pcommon.ValueTypeSlice: // semconv headers are string arrays
				s := v.Slice()
				for j := 0; j < s.Len(); j++ {
					if !finite(s.At(j)) {
						f.invalid++
						continue
					}
					if val := r.apply(valueString(s.At(j))); val != "" {
						f.offer(r.key, r.order, val)
						break
					}
				}
			case pcommon.ValueTypeMap, pcommon.ValueTypeBytes, pcommon.ValueTypeEmpty:
			default:
				if !finite(v) {
					f.invalid++
					continue
				}
				f.offer(r.key, r.order, r.apply(valueString(v)))
			}
		}
	}
	if drop {
		attrs.RemoveIf(func(name string, _ pcommon.Value) bool { return e.drop[name] })
	}
}

// scanBody offers every value the log_body rules find in body.
func (e *extractor) scanBody(body string, f *found) {
	for i := range e.body {
		r := &e.body[i]
		if r.order >= f.order[r.key] {
			continue
		}
		if r.rePrefix != "" && !strings.Contains(body, r.rePrefix) {
			continue
		}
		if m := r.re.FindStringSubmatchIndex(body); m != nil && m[2*r.reValue] >= 0 {
			f.offer(r.key, r.order, body[m[2*r.reValue]:m[2*r.reValue+1]])
		}
	}
}

// finite is false for a NaN or infinite double.
func finite(v pcommon.Value) bool {
	return v.Type() != pcommon.ValueTypeDouble || !math.IsNaN(v.Double()) && !math.IsInf(v.Double(), 0)
}

func valueString(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

func (r *attrRule) apply(s string) string {
	switch r.kind {
	case ruleBaggage:
		return baggageMember(s, r.member)
	case ruleURLPath:
		if !strings.Contains(s, r.tplLit) { // cheap reject; absolute http.target URLs contain it too
			return ""
		}
		return matchURLTemplate(r.template, s)
	case ruleRegex:
		if r.rePrefix != "" && !strings.Contains(s, r.rePrefix) {
			return ""
		}
		if m := r.re.FindStringSubmatchIndex(s); m != nil && m[2*r.reValue] >= 0 {
			return s[m[2*r.reValue]:m[2*r.reValue+1]]
		}
		return ""
	default:
		return strings.TrimSpace(s)
	}
}

// normalise hashes v when the key asks for it, else truncates it to
// max_value_length (on a rune boundary).
func (e *extractor) normalise(key uint8, v string) (string, bool) {
	if e.hash[key] {
		return hashValue(e.salt, v), false // the whole value; the digest has a fixed length
	}
	cut := false
	if len(v) > e.maxLen {
		n := e.maxLen
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v, cut = v[:n], true
	}
	return v, cut
}

func hashValue(salt, v string) string {
	h := sha256.New()
	h.Write([]byte(salt))
	h.Write([]byte(v))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// baggageMember returns the (percent-decoded) value of member in a W3C
// baggage string "k1=v1;prop,k2=v2", or "".
func baggageMember(baggage, member string) string {
	for baggage != "" {
		var item string
		item, baggage, _ = strings.Cut(baggage, ",")
		k, v, ok := strings.Cut(item, "=")
		if !ok || strings.TrimSpace(k) != member {
			continue
		}
		v, _, _ = strings.Cut(v, ";")
		v = strings.TrimSpace(v)
		if strings.IndexByte(v, '%') >= 0 {
			if d, err := url.PathUnescape(v); err == nil {
				return d
			}
		}
		return v
	}
	return ""
}

// matchURLTemplate returns the {value} segment of path when path (query and
// fragment ignored) has the template's shape, or "". Route placeholders such
// as {id} or :id are not values.
func matchURLTemplate(template []string, path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if !strings.HasPrefix(path, "/") {
		// http.target may be absolute: scheme://host/path
		if i := strings.Index(path, "://"); i >= 0 {
			rest := path[i+3:]
			j := strings.IndexByte(rest, '/')
			if j < 0 {
				return ""
			}
			path = rest[j:]
		} else {
			return ""
		}
	}
	path = path[1:]
	value := ""
	for i, seg := range template {
		var cur string
		var more bool
		cur, path, more = strings.Cut(path, "/")
		if !more && i < len(template)-1 {
			return ""
		}
		switch {
		case seg == "{value}":
			value = cur
		case seg == "*" || (strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}")):
		case seg != cur:
			return ""
		}
	}
	if path != "" {
		return "" // more segments than the template
	}
	if value == "" || value[0] == '{' || value[0] == ':' {
		return ""
	}
	return value
}
