package nesting

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// nestedLogs is one log record whose body is an array nested levels deep.
func nestedLogs(levels int) plog.Logs {
	ld := plog.NewLogs()
	r := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.Attributes().PutStr("order_id", "ORD-42")
	v := r.Body()
	for range levels {
		v = v.SetEmptySlice().AppendEmpty()
	}
	v.SetStr("leaf")
	return ld
}

// depthOf is the message depth of nestedLogs(levels) in protobuf: the
// request, ResourceLogs, ScopeLogs, LogRecord, then AnyValue and ArrayValue
// for each level and the leaf AnyValue; the attribute's KeyValue and AnyValue
// reach 6.
func depthOf(levels int) int { return max(4+2*levels+1, 6) }

func TestProtoExceeds(t *testing.T) {
	for _, levels := range []int{0, 1, 10, 100} {
		b, err := (&plog.ProtoMarshaler{}).MarshalLogs(nestedLogs(levels))
		require.NoError(t, err)
		d := depthOf(levels)
		assert.False(t, ProtoExceeds(b, d), "levels %d within %d", levels, d)
		assert.True(t, ProtoExceeds(b, d-1), "levels %d over %d", levels, d-1)
	}
}

func TestJSONExceeds(t *testing.T) {
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(nestedLogs(50))
	require.NoError(t, err)
	assert.False(t, JSONExceeds(b, 256))
	assert.True(t, JSONExceeds(b, 100))

	tests := []struct {
		in    string
		limit int
		want  bool
	}{
		{in: `{"a":[1,2,{"b":3}]}`, limit: 3, want: false},
		{in: `{"a":[1,2,{"b":3}]}`, limit: 2, want: true},
		{in: `{"a":"[[[[[[[[[[["}`, limit: 1, want: false},
		{in: `{"a":"\"[[[[[[[["}`, limit: 1, want: false},
		{in: strings.Repeat("[", 1000), limit: 999, want: true},
		{in: `]]]]`, limit: 1, want: false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, JSONExceeds([]byte(tt.in), tt.limit), "%s within %d", tt.in, tt.limit)
	}
}

// TestStringsAreNotMessages: ordinary attribute strings, even ones whose
// bytes read as protobuf fields, do not add depth beyond one level each.
func TestStringsAreNotMessages(t *testing.T) {
	ld := nestedLogs(0)
	attrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
	attrs.PutStr("body", strings.Repeat("x", 10000))
	attrs.PutStr("fieldlike", "\x0a\x02\x0a\x00") // reads as field 1 holding field 1
	attrs.PutEmptyBytes("raw").FromRaw([]byte{0x0a, 0x03, 0x0a, 0x01, 0x00})
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	assert.False(t, ProtoExceeds(b, 16))
}

func FuzzProtoExceeds(f *testing.F) {
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(nestedLogs(5))
	require.NoError(f, err)
	f.Add(b, 8)
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, 1)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		limit = 1 + abs(limit)%300
		deep := ProtoExceeds(b, limit)
		if !deep {
			// whatever the scan accepts, the decoder takes without exceeding it
			_, _ = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		}
		assert.Equal(t, deep, ProtoExceeds(b, limit), "deterministic")
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// flatBatch is a typical log batch: 1,000 records with a text body and two
// attributes, in protobuf.
func flatBatch(b *testing.B) []byte {
	ld := plog.NewLogs()
	rs := ld.ResourceLogs().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "order")
	recs := rs.ScopeLogs().AppendEmpty().LogRecords()
	for i := range 1000 {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.Timestamp(i))
		r.Body().SetStr("order created id=ORD-42 user=alice sku=SKU-1 amount=42.00")
		r.Attributes().PutStr("order_id", "ORD-42")
		r.Attributes().PutInt("attempt", int64(i))
	}
	data, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(b, err)
	return data
}

// BenchmarkProtoExceeds against BenchmarkUnmarshal: what the check adds to
// decoding the same batch.
func BenchmarkProtoExceeds(b *testing.B) {
	data := flatBatch(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if ProtoExceeds(data, 64) {
			b.Fatal("a flat batch is not deep")
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	data := flatBatch(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(data); err != nil {
			b.Fatal(err)
		}
	}
}
