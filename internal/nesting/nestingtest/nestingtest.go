// Package nestingtest builds hostile OTLP payloads for tests: requests
// nested deeper than any decoder's stack allows, built without recursion
// (pdata's own marshaler would overflow the test's stack).
package nestingtest // import "github.com/otelcol-biz/otelcol-biz/internal/nesting/nestingtest"

import (
	"fmt"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// OTLP field numbers on the path from a logs request to a record's body.
const (
	fieldResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fieldScopeLogs    = 2 // ResourceLogs.scope_logs
	fieldLogRecords   = 2 // ScopeLogs.log_records
	fieldBody         = 5 // LogRecord.body
	fieldString       = 1 // AnyValue.string_value
	fieldArray        = 5 // AnyValue.array_value
	fieldValues       = 1 // ArrayValue.values
)

// DeepLogsRequest is an ExportLogsServiceRequest in protobuf with one record
// whose body is an array nested levels deep around the string "x".
func DeepLogsRequest(levels int) []byte {
	// written back to front: each wrapper's length is the size so far
	b := make([]byte, 0, 16*levels+64)
	b = append(b, 'x')
	b = wrap(b, fieldString)
	for range levels {
		b = wrap(b, fieldValues)
		b = wrap(b, fieldArray)
	}
	b = wrap(b, fieldBody)
	b = wrap(b, fieldLogRecords)
	b = wrap(b, fieldScopeLogs)
	b = wrap(b, fieldResourceLogs)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

// wrap appends, reversed, the tag and length that make the reversed bytes
// so far field num of an enclosing message.
func wrap(rev []byte, num protowire.Number) []byte {
	var hdr []byte
	hdr = protowire.AppendTag(hdr, num, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(len(rev)))
	for i := len(hdr) - 1; i >= 0; i-- {
		rev = append(rev, hdr[i])
	}
	return rev
}

// DeepJSON is DeepLogsRequest in OTLP/JSON: each level is
// {"arrayValue":{"values":[...]}}, three JSON levels.
func DeepJSON(levels int) []byte {
	const (
		head       = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":`
		levelOpen  = `{"arrayValue":{"values":[`
		leaf       = `{"stringValue":"x"}`
		levelClose = `]}}`
		tail       = `}]}]}]}`
	)
	b := make([]byte, 0, len(head)+levels*(len(levelOpen)+len(levelClose))+len(leaf)+len(tail))
	b = append(b, head...)
	for range levels {
		b = append(b, levelOpen...)
	}
	b = append(b, leaf...)
	for range levels {
		b = append(b, levelClose...)
	}
	return append(b, tail...)
}

// RawMessage is a request already in wire format, for RawCodec.
type RawMessage []byte

// RawCodec is a gRPC client codec that sends a RawMessage as it is: pdata
// cannot marshal a request this deep without overflowing the caller's stack.
// Use it with grpc.ForceCodecV2 on one call.
type RawCodec struct{}

// Marshal sends v, a RawMessage, unchanged.
func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(RawMessage)
	if !ok {
		return nil, fmt.Errorf("RawCodec marshals RawMessage, not %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m)}, nil
}

// Unmarshal copies the response into v, a *RawMessage.
func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*RawMessage)
	if !ok {
		return fmt.Errorf("RawCodec unmarshals into *RawMessage, not %T", v)
	}
	*m = data.Materialize()
	return nil
}

// Name is the codec the server expects.
func (RawCodec) Name() string { return "proto" }
