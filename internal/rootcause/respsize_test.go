package rootcause

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestRespBucketOf: an entry span's response size, from the HTTP
// attributes (the current name preferred) or its SENT gRPC messages, in
// its power-of-two bucket; none, a negative or a malformed one is bucket 0.
func TestRespBucketOf(t *testing.T) {
	tests := []struct {
		name string
		set  func(s ptrace.Span)
		want uint8
	}{
		{name: "none", set: func(ptrace.Span) {}, want: 0},
		{name: "empty body", set: func(s ptrace.Span) { s.Attributes().PutInt("http.response.body.size", 0) }, want: 1},
		{name: "two bytes", set: func(s ptrace.Span) { s.Attributes().PutInt("http.response.body.size", 2) }, want: 3},
		{name: "1 KiB", set: func(s ptrace.Span) { s.Attributes().PutInt("http.response.body.size", 1024) }, want: 12},
		{name: "before v1.21", set: func(s ptrace.Span) { s.Attributes().PutInt("http.response_content_length", 7) }, want: 4},
		{name: "as a string", set: func(s ptrace.Span) { s.Attributes().PutStr("http.response_content_length", "1023") }, want: 11},
		{name: "as a double", set: func(s ptrace.Span) { s.Attributes().PutDouble("http.response.size", 3.5) }, want: 3},
		{
			name: "the body's size before the whole response's",
			set: func(s ptrace.Span) {
				s.Attributes().PutInt("http.response.size", 4000)
				s.Attributes().PutInt("http.response.body.size", 1)
			},
			want: 2,
		},
		{name: "negative", set: func(s ptrace.Span) { s.Attributes().PutInt("http.response.body.size", -5) }, want: 0},
		{name: "not a number", set: func(s ptrace.Span) { s.Attributes().PutStr("http.response.body.size", "12kB") }, want: 0},
		{
			name: "SENT gRPC messages",
			set: func(s ptrace.Span) {
				for i, typ := range []string{"RECEIVED", "SENT", "SENT"} {
					ev := s.Events().AppendEmpty()
					ev.SetName("message")
					ev.Attributes().PutStr("message.type", typ)
					ev.Attributes().PutInt("message.uncompressed_size", int64(100*(i+1)))
				}
			},
			want: 10, // 200 + 300 = 500
		},
		{
			name: "a newer gRPC attribute",
			set: func(s ptrace.Span) {
				ev := s.Events().AppendEmpty()
				ev.SetName("message")
				ev.Attributes().PutStr("rpc.message.type", "SENT")
				ev.Attributes().PutInt("rpc.message.uncompressed_size", 8)
			},
			want: 5,
		},
	}
	huge := func(s ptrace.Span) {
		for _, n := range []int64{-7, 1 << 62, 1 << 62, 1 << 62} {
			ev := s.Events().AppendEmpty()
			ev.SetName("message")
			ev.Attributes().PutStr("message.type", "SENT")
			ev.Attributes().PutInt("message.uncompressed_size", n)
		}
	}
	tests = append(tests, struct {
		name string
		set  func(s ptrace.Span)
		want uint8
	}{name: "messages' sizes saturate, negative ones are none", set: huge, want: 64})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ptrace.NewSpan()
			tt.set(s)
			assert.Equal(t, tt.want, respBucketOf(s))
		})
	}
}

// FuzzRespBucketOf: any size attribute, as a string or a number, is a
// bucket of a 64-bit size or none, never a panic.
func FuzzRespBucketOf(f *testing.F) {
	for _, s := range []string{"0", "1024", "-1", "99999999999999999999", "", "1e3", "\xff"} {
		f.Add(s, int64(len(s)), float64(len(s))/3)
	}
	f.Fuzz(func(t *testing.T, str string, n int64, d float64) {
		for _, set := range []func(s ptrace.Span){
			func(s ptrace.Span) { s.Attributes().PutStr("http.response.body.size", str) },
			func(s ptrace.Span) { s.Attributes().PutInt("http.response_content_length", n) },
			func(s ptrace.Span) { s.Attributes().PutDouble("http.response.size", d) },
		} {
			s := ptrace.NewSpan()
			set(s)
			if b := respBucketOf(s); b > 65 {
				t.Fatalf("bucket %d", b)
			}
		}
	})
}
