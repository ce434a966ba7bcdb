package lokiexporter

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-biz/otelcol-biz/exporter/lokiexporter/internal/metadata"
	"github.com/otelcol-biz/otelcol-biz/exporter/lokiexporter/internal/metadatatest"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// shopLogs: two services; payment logs carry a trace, a business key (one
// and several values) and a level; entries of one stream arrive out of order.
func shopLogs() plog.Logs {
	ld := plog.NewLogs()
	add := func(svc, ns string, recs ...func(plog.LogRecord)) {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", svc)
		rl.Resource().Attributes().PutStr("k8s.namespace.name", ns)
		rl.Resource().Attributes().PutStr("k8s.pod.name", svc+"-7d9f8b6c5-x2x9z")
		sl := rl.ScopeLogs().AppendEmpty()
		for _, f := range recs {
			f(sl.LogRecords().AppendEmpty())
		}
	}
	add("payment", "shop",
		func(r plog.LogRecord) {
			r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(2 * time.Second)))
			r.Body().SetStr("charged card")
			r.SetSeverityText("INFO")
			r.SetTraceID(pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36})
			r.SetSpanID(pcommon.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7})
			r.Attributes().PutStr("biz.order_id", "ORD-42")
			skus := r.Attributes().PutEmptySlice("biz.sku")
			skus.AppendEmpty().SetStr("SKU-1")
			skus.AppendEmpty().SetStr("SKU-2")
			r.Attributes().PutStr("thread", "main")
		},
		func(r plog.LogRecord) {
			r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
			r.Body().SetStr("charging card")
			r.SetSeverityNumber(plog.SeverityNumberInfo)
		},
		func(r plog.LogRecord) {
			r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(3 * time.Second)))
			r.Body().SetStr("card declined")
			r.SetSeverityText("ERROR")
		},
	)
	add("inventory", "shop", func(r plog.LogRecord) {
		r.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		r.Body().SetStr("reserved")
		r.SetSeverityText("INFO")
	})
	return ld
}

func testConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = endpoint
	cfg.Labels = LabelsConfig{
		Resource: map[string]string{"service.name": "service_name", "k8s.namespace.name": "namespace"},
		Severity: "level",
	}
	cfg.StructuredMetadata.ResourceAttributes = []string{"k8s.pod.name"}
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.Enabled = false
	return cfg
}

func TestEncode(t *testing.T) {
	req, n := newEncoder(testConfig("http://unused")).encode(shopLogs())
	assert.Equal(t, 4, n)
	var got []string
	for _, st := range req.Streams {
		got = append(got, st.Labels)
	}
	assert.Equal(t, []string{
		`{level="error", namespace="shop", service_name="payment"}`,
		`{level="info", namespace="shop", service_name="inventory"}`,
		`{level="info", namespace="shop", service_name="payment"}`,
	}, got, "streams sorted by label set; trace ids and business keys are never labels")
	info := req.Streams[2]
	require.Len(t, info.Entries, 2)
	assert.Equal(t, "charging card", info.Entries[0].Line, "entries sorted by time within a stream")
	assert.Equal(t, "charged card", info.Entries[1].Line)
	assert.Equal(t, push.LabelsAdapter{
		{Name: "k8s_pod_name", Value: "payment-7d9f8b6c5-x2x9z"},
		{Name: "trace_id", Value: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{Name: "span_id", Value: "00f067aa0ba902b7"},
		{Name: "biz_order_id", Value: "ORD-42"},
		{Name: "biz_sku", Value: "SKU-1,SKU-2"},
	}, info.Entries[1].StructuredMetadata)
	assert.Equal(t, push.LabelsAdapter{{Name: "k8s_pod_name", Value: "payment-7d9f8b6c5-x2x9z"}}, info.Entries[0].StructuredMetadata)
}

func TestEncodeFallbackLabel(t *testing.T) {
	cfg := testConfig("http://unused")
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("no service")
	req, _ := newEncoder(cfg).encode(ld)
	require.Len(t, req.Streams, 1)
	assert.Equal(t, `{service_name="unknown_service"}`, req.Streams[0].Labels)
	assert.False(t, req.Streams[0].Entries[0].Timestamp.IsZero(), "a record without timestamps gets the time of export")
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"biz.order_id": "biz_order_id", "k8s.pod.name": "k8s_pod_name", "trace_id": "trace_id", "9lives": "_9lives", "a-b c": "a_b_c",
	} {
		assert.Equal(t, want, sanitize(in), in)
	}
}

// lokiStub is a push endpoint on 127.0.0.1 that decodes what it receives.
type lokiStub struct {
	mu       sync.Mutex
	status   int
	header   http.Header
	requests []push.PushRequest
	jsonBody []map[string]any
	srv      *httptest.Server
}

func newLokiStub(t *testing.T, status int) *lokiStub {
	s := &lokiStub{status: status}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.header = r.Header.Clone()
		switch r.Header.Get("Content-Type") {
		case "application/x-protobuf":
			raw, err := snappy.Decode(nil, body)
			assert.NoError(t, err)
			var req push.PushRequest
			assert.NoError(t, req.Unmarshal(raw))
			s.requests = append(s.requests, req)
		case "application/json":
			var m map[string]any
			assert.NoError(t, json.Unmarshal(body, &m))
			s.jsonBody = append(s.jsonBody, m)
		}
		if s.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte("stub says " + http.StatusText(s.status)))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func TestPushStatuses(t *testing.T) {
	tests := []struct {
		status    int
		wantErr   bool
		permanent bool
		throttle  bool
	}{
		{status: http.StatusNoContent},
		{status: http.StatusBadRequest, wantErr: true, permanent: true},
		{status: http.StatusUnauthorized, wantErr: true, permanent: true},
		{status: http.StatusTooManyRequests, wantErr: true, throttle: true},
		{status: http.StatusServiceUnavailable, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			stub := newLokiStub(t, tt.status)
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			set := metadatatest.NewSettings(tel)
			cfg := testConfig(stub.srv.URL + "/loki/api/v1/push")
			cfg.TenantID = "shop"
			e, err := newExporter(cfg, set)
			require.NoError(t, err)
			require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, e.shutdown(context.Background())) }()

			err = e.pushLogs(context.Background(), shopLogs())
			assert.Equal(t, "shop", stub.header.Get("X-Scope-OrgID"))
			require.Len(t, stub.requests, 1)
			if !tt.wantErr {
				require.NoError(t, err)
				metadatatest.AssertEqualExporterLokiStreamsPushed(t, tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "stub says")
			assert.Equal(t, tt.permanent, consumererror.IsPermanent(err))
			if tt.throttle {
				assert.Contains(t, err.Error(), "Throttle (7s)")
			}
			if tt.permanent {
				metadatatest.AssertEqualExporterLokiEntriesRejected(t, tel, []metricdata.DataPoint[int64]{
					{Value: 4, Attributes: attribute.NewSet(attribute.String("reason", strconv.Itoa(tt.status)))},
				}, metricdatatest.IgnoreTimestamp())
			}
		})
	}
}

func TestPushJSON(t *testing.T) {
	stub := newLokiStub(t, http.StatusNoContent)
	cfg := testConfig(stub.srv.URL + "/loki/api/v1/push")
	cfg.Encoding = EncodingTypeJSON
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	require.NoError(t, e.pushLogs(context.Background(), shopLogs()))
	require.Len(t, stub.jsonBody, 1)
	streams := stub.jsonBody[0]["streams"].([]any)
	require.Len(t, streams, 3)
	info := streams[2].(map[string]any)
	assert.Equal(t, map[string]any{"level": "info", "namespace": "shop", "service_name": "payment"}, info["stream"])
	values := info["values"].([]any)
	second := values[1].([]any)
	assert.Equal(t, strconv.FormatInt(t0.Add(2*time.Second).UnixNano(), 10), second[0])
	assert.Equal(t, "charged card", second[1])
	assert.Equal(t, "ORD-42", second[2].(map[string]any)["biz_order_id"])
}

// TestRetryAfterDate: a Retry-After given as an HTTP date throttles too.
func TestRetryAfterDate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	e, err := newExporter(testConfig(srv.URL+"/loki/api/v1/push"), exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	err = e.pushLogs(context.Background(), shopLogs())
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), "Throttle")
}
