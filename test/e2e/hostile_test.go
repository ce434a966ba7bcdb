package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-biz/otelcol-biz/internal/nesting/nestingtest"
)

// TestHostileInput sends the two requests that used to kill the collector,
// each one ordinary OTLP request, to the embedded default configuration:
// a log body nested hundreds of thousands of levels deep (pdata's decoder
// overflowed its stack) and a delta histogram whose bucket counts outgrow
// its bounds (the Prometheus exporter panicked). The process survives, says
// why it refused, counts the refusals, and takes the next valid request.
func TestHostileInput(t *testing.T) {
	dir := t.TempDir()
	telemetry := freeAddr(t)
	ep, env := localEnv(t, "BIZ_TELEMETRY_PORT="+portOf(telemetry))
	col := startCollector(t, dir, env)
	col.waitHealthy(t, "http://"+ep.health+"/")

	httpTests := []struct {
		name, path, contentType string
		body                    []byte
		wantStatus              int
	}{
		// ~7 MiB, under max_request_body_size: refused by request_guard
		{name: "deep protobuf", path: "/v1/logs", contentType: "application/x-protobuf", body: nestingtest.DeepLogsRequest(800_000), wantStatus: http.StatusBadRequest},
		{name: "deep JSON", path: "/v1/logs", contentType: "application/json", body: nestingtest.DeepJSON(250_000), wantStatus: http.StatusBadRequest},
		// ~12 MiB, over max_request_body_size (8 MiB)
		{name: "deep and large", path: "/v1/logs", contentType: "application/x-protobuf", body: nestingtest.DeepLogsRequest(1_300_000), wantStatus: http.StatusRequestEntityTooLarge},
		{name: "truncated protobuf", path: "/v1/logs", contentType: "application/x-protobuf", body: nestingtest.DeepLogsRequest(10)[:20], wantStatus: http.StatusBadRequest},
	}
	for _, tt := range httpTests {
		status, msg := post(t, "http://"+ep.http+tt.path, tt.contentType, tt.body)
		assert.Equal(t, tt.wantStatus, status, "%s: %s", tt.name, msg)
	}

	conn, err := grpc.NewClient(ep.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw := nestingtest.RawMessage(nestingtest.DeepLogsRequest(800_000))
	err = conn.Invoke(ctx, "/opentelemetry.proto.collector.logs.v1.LogsService/Export", raw, new(nestingtest.RawMessage), grpc.ForceCodecV2(nestingtest.RawCodec{}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "max_depth")

	// bounds [1,2,3] with one count, then four: two delta points of a series
	for i, counts := range [][]uint64{{1}, {1, 1, 1, 1}} {
		status, msg := post(t, "http://"+ep.http+"/v1/metrics", "application/json", badHistogram(t, i, counts))
		assert.Equal(t, http.StatusOK, status, msg)
	}

	// alive: the next valid request is accepted and exported
	valid := plog.NewLogs()
	r := valid.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.Body().SetStr("after the storm")
	body, err := (&plog.JSONMarshaler{}).MarshalLogs(valid)
	require.NoError(t, err)
	status, msg := post(t, "http://"+ep.http+"/v1/logs", "application/json", body)
	require.Equal(t, http.StatusOK, status, msg)
	status, msg = get(t, "http://"+ep.prometheus+"/metrics")
	require.Equal(t, http.StatusOK, status, "a scrape after the bad histogram: %s", msg)

	// the first histogram point is the bad one (one count for three bounds)
	var own string
	require.Eventually(t, func() bool {
		_, own = get(t, "http://"+telemetry+"/metrics")
		return metricValue(own, `otelcol_extension_request_guard_requests_rejected`, `transport="http"`) == "2" &&
			metricValue(own, `otelcol_extension_request_guard_requests_rejected`, `transport="grpc"`) == "1" &&
			metricValue(own, `otelcol_processor_metric_guard_points_dropped`, `reason="bucket_count"`) == "1"
	}, 30*time.Second, 250*time.Millisecond, "refusals counted:\n%s", grepLines(own, "guard"))
	assert.Contains(t, col.output.String(), "request_guard refused a http request nesting deeper than max_depth")
}

// badHistogram is a delta histogram point with bounds [1,2,3] and counts,
// for interval i, in OTLP/JSON.
func badHistogram(t *testing.T, i int, counts []uint64) []byte {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("checkout.latency")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := h.DataPoints().AppendEmpty()
	start := time.Now().Add(-time.Minute)
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Second)))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i+1) * time.Second)))
	dp.ExplicitBounds().FromRaw([]float64{1, 2, 3})
	dp.BucketCounts().FromRaw(counts)
	var n uint64
	for _, c := range counts {
		n += c
	}
	dp.SetCount(n)
	b, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	return b
}

// metricValue is the value of the first sample of name whose labels contain
// label, in Prometheus text, or "".
func metricValue(text, name, label string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, label) {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return ""
}

// grepLines is the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func post(t *testing.T, url, contentType string, body []byte) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(url, contentType, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(msg)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// TestHostileMatrix sends the rest of the hostile-input list to the embedded
// default configuration over OTLP/HTTP: a gzip bomb, a 1 MiB value, 10,000
// attributes, 100,000 spans in one request, non-UTF-8 and NaN/Inf business
// keys, zero and wrong-length ids. The process answers every one (refusing
// only what is unusable), counts what it drops, and takes the next valid
// request.
func TestHostileMatrix(t *testing.T) {
	telemetry := freeAddr(t)
	ep, env := localEnv(t, "BIZ_TELEMETRY_PORT="+portOf(telemetry))
	col := startCollector(t, t.TempDir(), env)
	col.waitHealthy(t, "http://"+ep.health+"/")

	span := func(td ptrace.Traces) ptrace.Span {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{1, 2, 3})
		s.SetSpanID(pcommon.SpanID{4, 5, 6})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Millisecond)))
		return s
	}
	protoOf := func(td ptrace.Traces) []byte {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		return b
	}
	large := ptrace.NewTraces()
	span(large).Attributes().PutStr("order_id", strings.Repeat("x", 1<<20))
	wide := ptrace.NewTraces()
	attrs := span(wide).Attributes()
	for i := range 10_000 {
		attrs.PutStr(fmt.Sprintf("attr.%d", i), "v")
	}
	many := ptrace.NewTraces()
	ss := many.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := range 100_000 {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{9, byte(i >> 16), byte(i >> 8), byte(i)})
		s.SetSpanID(pcommon.SpanID{9, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	badKeys := ptrace.NewTraces()
	s := span(badKeys)
	s.Attributes().PutStr("order_id", "ORD-\xff\xfe")
	s.Attributes().PutDouble("sku", math.NaN())
	s.Attributes().PutDouble("user.id", math.Inf(-1))
	zeroIDs := ptrace.NewTraces()
	span(zeroIDs).SetTraceID(pcommon.TraceID{})

	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, err := zw.Write(make([]byte, 64<<20)) // 64 MiB of zeros in about 64 KiB
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	tests := []struct {
		name        string
		body        []byte
		contentType string
		gzip        bool
		want        []int // acceptable answers
	}{
		{name: "gzip bomb", body: bomb.Bytes(), contentType: "application/x-protobuf", gzip: true, want: []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}},
		{name: "1 MiB value", body: protoOf(large), contentType: "application/x-protobuf", want: []int{http.StatusOK}},
		{name: "10k attributes", body: protoOf(wide), contentType: "application/x-protobuf", want: []int{http.StatusOK}},
		{name: "100k spans", body: protoOf(many), contentType: "application/x-protobuf", want: []int{http.StatusOK}},
		{name: "non-UTF-8 and NaN/Inf keys", body: protoOf(badKeys), contentType: "application/x-protobuf", want: []int{http.StatusOK, http.StatusBadRequest}},
		{name: "zero trace id", body: protoOf(zeroIDs), contentType: "application/x-protobuf", want: []int{http.StatusOK}},
		{name: "wrong-length ids (JSON)", body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abc","spanId":"0102","name":"x"}]}]}]}`), contentType: "application/json", want: []int{http.StatusBadRequest}},
		{name: "malformed JSON", body: []byte(`{"resourceSpans":[{`), contentType: "application/json", want: []int{http.StatusBadRequest}},
	}
	client := &http.Client{Timeout: 60 * time.Second}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodPost, "http://"+ep.http+"/v1/traces", bytes.NewReader(tt.body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", tt.contentType)
		if tt.gzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := client.Do(req)
		require.NoError(t, err, "%s: the collector answers", tt.name)
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		assert.Contains(t, tt.want, resp.StatusCode, "%s: %s", tt.name, msg)
	}

	// alive: the next valid request is accepted
	valid := ptrace.NewTraces()
	span(valid).Attributes().PutStr("order_id", "ORD-OK")
	status, msg := post(t, "http://"+ep.http+"/v1/traces", "application/x-protobuf", protoOf(valid))
	require.Equal(t, http.StatusOK, status, msg)

	var own string
	require.Eventually(t, func() bool {
		_, own = get(t, "http://"+telemetry+"/metrics")
		return metricValue(own, `otelcol_processor_span_guard_spans_dropped`, `reason="invalid_id"`) != "" &&
			metricValue(own, `otelcol_processor_biz_dye_values_dropped`, `reason="invalid"`) != "" &&
			metricValue(own, `otelcol_extension_request_guard_requests_failed`, `status="400"`) != ""
	}, 30*time.Second, 250*time.Millisecond, "drops and refusals counted:\n%s", grepLines(own, "dropped\n")+grepLines(own, "guard"))
}
