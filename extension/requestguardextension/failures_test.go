package requestguardextension

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otelcol-biz/otelcol-biz/extension/requestguardextension/internal/metadatatest"
	"github.com/otelcol-biz/otelcol-biz/internal/nesting/nestingtest"
)

// failedPoint is one refused request of transport answered with answer.
func failedPoint(transport, answer string) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Value: 1, Attributes: attribute.NewSet(
		attribute.String("transport", transport), attribute.String("status", answer))}
}

// TestHTTPRefusalsCounted: every error answer of the receiver is counted by
// status, and a retryable one without Retry-After gets retry_after.
func TestHTTPRefusalsCounted(t *testing.T) {
	g, tel := newTestGuard(t)
	wrap, err := g.GetHTTPHandler(context.Background())
	require.NoError(t, err)
	h, err := wrap(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/busy":
			http.Error(w, "data refused due to high memory usage", http.StatusServiceUnavailable)
		case "/throttled":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/bad":
			http.Error(w, "proto: cannot parse invalid wire-format data", http.StatusBadRequest)
		default:
			_, _ = w.Write([]byte("{}"))
		}
	}))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	tests := []struct {
		path           string
		wantStatus     int
		wantRetryAfter string
	}{
		{path: "/busy", wantStatus: http.StatusServiceUnavailable, wantRetryAfter: "1"},
		{path: "/throttled", wantStatus: http.StatusTooManyRequests, wantRetryAfter: "7"},
		{path: "/bad", wantStatus: http.StatusBadRequest},
		{path: "/ok", wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		resp, err := http.Post(srv.URL+tt.path, "application/x-protobuf", strings.NewReader(""))
		require.NoError(t, err, tt.path)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, tt.wantStatus, resp.StatusCode, tt.path)
		assert.Equal(t, tt.wantRetryAfter, resp.Header.Get("Retry-After"), tt.path)
	}
	metadatatest.AssertEqualExtensionRequestGuardRequestsFailed(t, tel, []metricdata.DataPoint[int64]{
		failedPoint("http", "503"), failedPoint("http", "429"), failedPoint("http", "400"),
	}, metricdatatest.IgnoreTimestamp())
}

type refusingServer struct {
	plogotlp.UnimplementedGRPCServer
	err error
}

func (s *refusingServer) Export(context.Context, plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	return plogotlp.NewExportResponse(), s.err
}

// TestGRPCRefusalsCounted: error answers are counted by code; UNAVAILABLE
// gains a RetryInfo; a body that does not decode is counted as INTERNAL.
func TestGRPCRefusalsCounted(t *testing.T) {
	g, tel := newTestGuard(t)
	opts, err := g.GetGRPCServerOptions(context.Background())
	require.NoError(t, err)
	srv := grpc.NewServer(opts...)
	refusing := &refusingServer{}
	plogotlp.RegisterGRPCServer(srv, refusing)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	client := plogotlp.NewGRPCClient(conn)

	retryDelay := func(err error) time.Duration {
		for _, d := range status.Convert(err).Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				return ri.GetRetryDelay().AsDuration()
			}
		}
		return 0
	}
	refusing.err = status.Error(codes.Unavailable, "data refused due to high memory usage")
	_, err = client.Export(context.Background(), plogotlp.NewExportRequestFromLogs(validLogs()))
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, time.Second, retryDelay(err), "a retryable refusal tells the client how long to wait")

	refusing.err = status.Error(codes.InvalidArgument, "bad trace id")
	_, err = client.Export(context.Background(), plogotlp.NewExportRequestFromLogs(validLogs()))
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	assert.Zero(t, retryDelay(err))

	refusing.err = errors.New("plain error")
	raw := nestingtest.RawMessage([]byte{0x0a, 0xff, 0xff}) // a field longer than the message
	err = conn.Invoke(context.Background(), "/opentelemetry.proto.collector.logs.v1.LogsService/Export", raw, new(nestingtest.RawMessage), grpc.ForceCodecV2(nestingtest.RawCodec{}))
	assert.Equal(t, codes.Internal, status.Code(err))

	metadatatest.AssertEqualExtensionRequestGuardRequestsFailed(t, tel, []metricdata.DataPoint[int64]{
		failedPoint("grpc", "Unavailable"), failedPoint("grpc", "InvalidArgument"), failedPoint("grpc", "Internal"),
	}, metricdatatest.IgnoreTimestamp())
}
