package requestguardextension

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otelcol-biz/otelcol-biz/extension/requestguardextension/internal/metadatatest"
	"github.com/otelcol-biz/otelcol-biz/internal/nesting/nestingtest"
)

// deepLevels nests an array past the default max_depth by far, at a size a
// receiver takes (about 4.5 MiB); a million levels overflow pdata's stack.
const deepLevels = 500_000

func newTestGuard(t *testing.T) (*guard, *componenttest.Telemetry) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ext, err := NewFactory().Create(context.Background(), metadatatest.NewSettings(tel), createDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext.(*guard), tel
}

// validLogs is an ordinary request, with a nested attribute value.
func validLogs() plog.Logs {
	ld := plog.NewLogs()
	r := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.Body().SetStr("order created")
	m := r.Attributes().PutEmptyMap("order")
	m.PutStr("id", "ORD-42")
	m.PutEmptySlice("skus").AppendEmpty().SetStr("SKU-1")
	return ld
}

func assertRejected(t *testing.T, tel *componenttest.Telemetry, transport string, n int64) {
	t.Helper()
	metadatatest.AssertEqualExtensionRequestGuardRequestsRejected(t, tel, []metricdata.DataPoint[int64]{
		{Value: n, Attributes: attribute.NewSet(attribute.String("transport", transport))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestHTTP(t *testing.T) {
	g, tel := newTestGuard(t)
	var received int
	decode := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		req := plogotlp.NewExportRequest()
		if r.Header.Get("Content-Type") == "application/json" {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		require.NoError(t, err)
		received += req.Logs().LogRecordCount()
	})
	var wrap extensionmiddleware.WrapHTTPHandlerFunc
	wrap, err := g.GetHTTPHandler(context.Background())
	require.NoError(t, err)
	h, err := wrap(context.Background(), decode)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	valid := plogotlp.NewExportRequestFromLogs(validLogs())
	validProto, err := valid.MarshalProto()
	require.NoError(t, err)
	validJSON, err := valid.MarshalJSON()
	require.NoError(t, err)
	tests := []struct {
		name        string
		contentType string
		body        []byte
		wantStatus  int
	}{
		{name: "deep protobuf", contentType: "application/x-protobuf", body: nestingtest.DeepLogsRequest(deepLevels), wantStatus: http.StatusBadRequest},
		{name: "valid protobuf", contentType: "application/x-protobuf", body: validProto, wantStatus: http.StatusOK},
		{name: "deep JSON", contentType: "application/json; charset=utf-8", body: nestingtest.DeepJSON(deepLevels), wantStatus: http.StatusBadRequest},
		{name: "valid JSON", contentType: "application/json", body: validJSON, wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		resp, err := http.Post(srv.URL, tt.contentType, bytes.NewReader(tt.body))
		require.NoError(t, err, tt.name)
		msg, _ := io.ReadAll(resp.Body)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, tt.wantStatus, resp.StatusCode, "%s: %s", tt.name, msg)
	}
	assert.Equal(t, 2, received, "the valid requests reach the receiver")
	assertRejected(t, tel, "http", 2)
}

type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	received int
}

func (s *logsServer) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.received += req.Logs().LogRecordCount()
	return plogotlp.NewExportResponse(), nil
}

func TestGRPC(t *testing.T) {
	g, tel := newTestGuard(t)
	opts, err := g.GetGRPCServerOptions(context.Background())
	require.NoError(t, err)
	srv := grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(64<<20))...)
	logs := &logsServer{}
	plogotlp.RegisterGRPCServer(srv, logs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	client := plogotlp.NewGRPCClient(conn)

	// pdata cannot marshal the deep request without overflowing this test's
	// stack: send the raw bytes through the generic client call
	raw := nestingtest.RawMessage(nestingtest.DeepLogsRequest(deepLevels))
	err = conn.Invoke(context.Background(), "/opentelemetry.proto.collector.logs.v1.LogsService/Export", raw, new(nestingtest.RawMessage), grpc.ForceCodecV2(nestingtest.RawCodec{}))
	require.Error(t, err)
	assert.Contains(t, status.Convert(err).Message(), "max_depth")
	assert.NotEqual(t, codes.OK, status.Code(err))

	_, err = client.Export(context.Background(), plogotlp.NewExportRequestFromLogs(validLogs()))
	require.NoError(t, err, "the next valid request is accepted")
	assert.Equal(t, 1, logs.received)
	assertRejected(t, tel, "grpc", 1)
}
