package lokiexporter // import "github.com/otelcol-biz/otelcol-biz/exporter/lokiexporter"

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// sanitize turns an attribute name into a Loki label / structured metadata
// name the way Loki's OTLP endpoint does: every character outside
// [a-zA-Z0-9_] becomes '_', and a leading digit gets a '_' prefix.
func sanitize(name string) string {
	ok := name != "" && (name[0] < '0' || name[0] > '9')
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if ok {
		return name
	}
	var b strings.Builder
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		b.WriteByte('_')
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// encoder turns plog.Logs into one push request.
type encoder struct {
	cfg        *Config
	smResource []smName // resource attributes sent as structured metadata
	smAttrs    map[string]string
	now        func() time.Time
}

type smName struct{ attr, name string }

func newEncoder(cfg *Config) *encoder {
	e := &encoder{cfg: cfg, smAttrs: map[string]string{}, now: time.Now}
	for _, a := range cfg.StructuredMetadata.ResourceAttributes {
		e.smResource = append(e.smResource, smName{attr: a, name: sanitize(a)})
	}
	for _, a := range cfg.StructuredMetadata.Attributes {
		e.smAttrs[a] = sanitize(a)
	}
	return e
}

// label is one stream label.
type label struct{ name, value string }

// streamKey renders labels (sorted by name) as Loki's label string, which is
// also the stream's identity: {a="x", b="y"}.
func streamKey(labels []label) string {
	slices.SortFunc(labels, func(a, b label) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.value))
	}
	b.WriteByte('}')
	return b.String()
}

// fallbackLabel keeps a record whose allowlisted attributes are all absent
// pushable: Loki refuses streams without labels.
var fallbackLabel = label{name: "service_name", value: "unknown_service"}

// encode groups the records into streams, sorted by label set, entries
// sorted by time within each stream.
func (e *encoder) encode(ld plog.Logs) (push.PushRequest, int) {
	streams := map[string]*push.Stream{}
	var labels []label
	entries := 0
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource().Attributes()
		var resLabels []label
		for attr, name := range e.cfg.Labels.Resource {
			if v, ok := res.Get(attr); ok && v.AsString() != "" {
				resLabels = append(resLabels, label{name: name, value: v.AsString()})
			}
		}
		var resMeta push.LabelsAdapter
		for _, sm := range e.smResource {
			if v, ok := res.Get(sm.attr); ok {
				resMeta = append(resMeta, push.LabelAdapter{Name: sm.name, Value: v.AsString()})
			}
		}
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				labels = append(labels[:0], resLabels...)
				attrs := r.Attributes()
				for attr, name := range e.cfg.Labels.Attributes {
					if v, ok := attrs.Get(attr); ok && v.AsString() != "" {
						labels = append(labels, label{name: name, value: v.AsString()})
					}
				}
				if e.cfg.Labels.Severity != "" {
					if sev := severity(r); sev != "" {
						labels = append(labels, label{name: e.cfg.Labels.Severity, value: sev})
					}
				}
				if len(labels) == 0 {
					labels = append(labels, fallbackLabel)
				}
				key := streamKey(labels)
				st, ok := streams[key]
				if !ok {
					st = &push.Stream{Labels: key}
					streams[key] = st
				}
				st.Entries = append(st.Entries, e.entry(r, resMeta))
				entries++
			}
		}
	}
	req := push.PushRequest{Streams: make([]push.Stream, 0, len(streams))}
	for _, st := range streams {
		slices.SortStableFunc(st.Entries, func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) })
		req.Streams = append(req.Streams, *st)
	}
	slices.SortFunc(req.Streams, func(a, b push.Stream) int { return strings.Compare(a.Labels, b.Labels) })
	return req, entries
}

func (e *encoder) entry(r plog.LogRecord, resMeta push.LabelsAdapter) push.Entry {
	ts := r.Timestamp()
	if ts == 0 {
		ts = r.ObservedTimestamp()
	}
	t := ts.AsTime()
	if ts == 0 {
		t = e.now()
	}
	ent := push.Entry{Timestamp: t, Line: r.Body().AsString()}
	meta := append(push.LabelsAdapter(nil), resMeta...)
	if e.cfg.StructuredMetadata.TraceContext {
		if id := r.TraceID(); !id.IsEmpty() {
			meta = append(meta, push.LabelAdapter{Name: "trace_id", Value: id.String()})
		}
		if id := r.SpanID(); !id.IsEmpty() {
			meta = append(meta, push.LabelAdapter{Name: "span_id", Value: id.String()})
		}
	}
	for k, v := range r.Attributes().All() {
		name, ok := e.smAttrs[k]
		if !ok && e.cfg.isMetadataAttribute(k) {
			name, ok = sanitize(k), true
		}
		if ok {
			meta = append(meta, push.LabelAdapter{Name: name, Value: metadataValue(v)})
		}
	}
	if len(meta) > 0 {
		ent.StructuredMetadata = meta
	}
	return ent
}

// metadataValue renders a value; a multi-valued business key becomes its
// values joined by ',' (structured metadata values are strings).
func metadataValue(v pcommon.Value) string {
	if v.Type() != pcommon.ValueTypeSlice {
		return v.AsString()
	}
	s := v.Slice()
	parts := make([]string, 0, s.Len())
	for i := 0; i < s.Len(); i++ {
		parts = append(parts, s.At(i).AsString())
	}
	return strings.Join(parts, ",")
}

func severity(r plog.LogRecord) string {
	if t := r.SeverityText(); t != "" {
		return strings.ToLower(t)
	}
	if n := r.SeverityNumber(); n != plog.SeverityNumberUnspecified {
		s := n.String() // "Info", "Warn2", ...
		return strings.ToLower(strings.TrimRight(s, "234"))
	}
	return ""
}

// body encodes the request for the wire and returns its content type.
func (e *encoder) body(req push.PushRequest) ([]byte, string, error) {
	if e.cfg.Encoding == EncodingTypeJSON {
		b, err := json.Marshal(jsonPush(req))
		return b, "application/json", err
	}
	raw, err := req.Marshal()
	if err != nil {
		return nil, "", err
	}
	return snappy.Encode(nil, raw), "application/x-protobuf", nil
}

// jsonPush is Loki's JSON push shape:
// {"streams":[{"stream":{...},"values":[["<ns>","line",{...}]]}]}
func jsonPush(req push.PushRequest) map[string]any {
	streams := make([]map[string]any, 0, len(req.Streams))
	for _, st := range req.Streams {
		values := make([][]any, 0, len(st.Entries))
		for _, ent := range st.Entries {
			v := []any{strconv.FormatInt(ent.Timestamp.UnixNano(), 10), ent.Line}
			if len(ent.StructuredMetadata) > 0 {
				m := make(map[string]string, len(ent.StructuredMetadata))
				for _, l := range ent.StructuredMetadata {
					m[l.Name] = l.Value
				}
				v = append(v, m)
			}
			values = append(values, v)
		}
		streams = append(streams, map[string]any{"stream": streamLabels(st.Labels), "values": values})
	}
	return map[string]any{"streams": streams}
}

// streamLabels parses back the label string streamKey wrote.
func streamLabels(key string) map[string]string {
	out := map[string]string{}
	s := strings.TrimSuffix(strings.TrimPrefix(key, "{"), "}")
	for s != "" {
		name, rest, _ := strings.Cut(s, "=")
		val, err := strconv.QuotedPrefix(rest)
		if err != nil {
			break
		}
		out[name], _ = strconv.Unquote(val)
		s = strings.TrimPrefix(strings.TrimPrefix(rest[len(val):], ","), " ")
	}
	return out
}
