package rootcause

import (
	"math"
	"math/bits"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Response sizes: an early return's empty answer or an exception's error
// body changes how large an endpoint's answers are, where no log line, no
// status and no call says so (a leaf that calls nothing). Where its entry
// spans carry the size of the answer, each request counts in its size's
// power-of-two bucket, one call pattern per endpoint and bucket
// (callpattern.go): answers in buckets the endpoint's baseline hardly
// ever saw, above their expectation, are a change of its own
// (FeatAnswerSize), unless a callee's answers changed as much (passed on).

// RespSizeKeys are the attributes that carry an entry span's response
// size, preferred first: OTel HTTP semantic conventions, then their names
// before v1.21 and the whole response's size.
var RespSizeKeys = [...]string{"http.response.body.size", "http.response_content_length", "http.response.size"}

// GRPCMessageEvent and its attributes are how OTel's gRPC instrumentation
// records a message's size on the span: a server span's SENT messages are
// its response.
const (
	GRPCMessageEvent  = "message"
	grpcMessageType   = "message.type"
	grpcMessageTypeV2 = "rpc.message.type"
	grpcMessageSent   = "SENT"
	grpcMessageSize   = "message.uncompressed_size"
	grpcMessageSizeV2 = "rpc.message.uncompressed_size"
)

// respBucketOf is the response size bucket of an entry span: 0 when it
// carries none, else 1 + the bit length of the size (0 bytes: 1, 1: 2,
// 2-3: 3, 4-7: 4, ...).
func respBucketOf(s ptrace.Span) uint8 {
	size, ok := attrSize(s.Attributes())
	if !ok {
		size, ok = sentMessagesSize(s.Events())
	}
	if !ok || size < 0 {
		return 0
	}
	return uint8(1 + bits.Len64(uint64(size)))
}

// attrSize is the size the most preferred of RespSizeKeys carries, in one
// pass over the attributes as peerOf reads peerKeys. Written out twice on
// purpose: one generic helper taking the value's conversion as a func
// measured 15-25 % slower ingestion (BenchmarkAddTraces, -cpu 1).
func attrSize(attrs pcommon.Map) (int64, bool) {
	if attrs.Len() == 0 {
		return 0, false
	}
	best, size := len(RespSizeKeys), int64(0)
	for k, v := range attrs.All() {
		for i := range best {
			if k == RespSizeKeys[i] {
				if n, ok := intOf(v); ok {
					best, size = i, n
				}
				break
			}
		}
	}
	return size, best < len(RespSizeKeys)
}

// getEither is attrs' value of key, else of its other name.
func getEither(attrs pcommon.Map, key, other string) (pcommon.Value, bool) {
	if v, ok := attrs.Get(key); ok {
		return v, true
	}
	return attrs.Get(other)
}

// sentMessagesSize sums the sizes of a span's SENT gRPC message events.
func sentMessagesSize(evs ptrace.SpanEventSlice) (int64, bool) {
	var size int64
	found := false
	for _, ev := range evs.All() {
		if ev.Name() != GRPCMessageEvent {
			continue
		}
		attrs := ev.Attributes()
		if t, ok := getEither(attrs, grpcMessageType, grpcMessageTypeV2); !ok || t.Str() != grpcMessageSent {
			continue
		}
		v, ok := getEither(attrs, grpcMessageSize, grpcMessageSizeV2)
		if n, isInt := intOf(v); ok && isInt && n >= 0 {
			size = min(size, math.MaxInt64-n) + n // saturates
			found = true
		}
	}
	return size, found
}

// intOf reads a size given as an int, a double or a decimal string.
func intOf(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		if d := v.Double(); d >= 0 && d < 1<<62 {
			return int64(d), true
		}
	case pcommon.ValueTypeStr:
		// digits only: ParseInt allocates its error
		if s := v.Str(); len(s) <= 18 && allDigits(s) {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}
