// Package nesting measures how deeply an OTLP payload nests without decoding
// it, so that a request which would exhaust the decoder's stack (pdata's
// unmarshal recurses once per nested message, with no limit of its own) is
// refused before it is decoded.
package nesting // import "github.com/otelcol-biz/otelcol-biz/internal/nesting"

import "google.golang.org/protobuf/encoding/protowire"

// ProtoExceeds reports whether protobuf wire data b nests messages more than
// limit levels deep (b itself is level 1). The wire format does not say which
// length-delimited fields are messages: every one whose bytes read as a run
// of valid fields counts as one, as a decoder would recurse into it. A string
// that happens to read as fields can only add depth, so a deep payload is
// never missed; a false alarm needs a string crafted as a chain of more than
// limit nested fields. Each byte is read once: O(len(b)), no allocation.
func ProtoExceeds(b []byte, limit int) bool {
	return scanProto(b, 1, limit)
}

// scanProto walks the fields of b, a message at depth, and reports whether a
// chain of nested messages in it passes limit; it stops, not deep, where b
// is not a run of valid fields (a string or bytes value).
func scanProto(b []byte, depth, limit int) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if len(v) == 0 {
			continue
		}
		if depth == limit {
			// one level too deep if v is a message: its fields need no walk
			if validFields(v) {
				return true
			}
			continue
		}
		if scanProto(v, depth+1, limit) {
			return true
		}
	}
	return false
}

// validFields reports whether b is a run of valid fields, not looking
// inside length-delimited ones.
func validFields(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// JSONExceeds reports whether JSON text b nests objects and arrays more than
// limit levels deep. It does not validate b: the decoder does that.
func JSONExceeds(b []byte, limit int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > limit {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
