package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
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
