package requestguardextension // import "github.com/otelcol-biz/otelcol-biz/extension/requestguardextension"

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// failed counts and logs (sampled per transport) one request the receiver
// answered with an error.
func (g *guard) failed(ctx context.Context, transport, answer string, fields ...zap.Field) {
	g.tel.ExtensionRequestGuardRequestsFailed.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
		attribute.String("transport", transport), attribute.String("status", answer))))
	g.failLogger.Warn("a "+transport+" request was refused", append(fields, zap.String("status", answer))...)
}

// statusRecorder sees the status a handler answers with, and adds
// Retry-After to a retryable refusal that has none.
type statusRecorder struct {
	http.ResponseWriter
	retryAfter string // "" adds none
	status     int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		if (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) &&
			r.retryAfter != "" && r.Header().Get("Retry-After") == "" {
			r.Header().Set("Retry-After", r.retryAfter)
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// serveCounted runs next and counts an error answer.
func (g *guard) serveCounted(next http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, retryAfter: g.retryAfterHeader}
	next.ServeHTTP(rec, r)
	if rec.status >= http.StatusBadRequest {
		g.failed(r.Context(), "http", strconv.Itoa(rec.status),
			zap.String("path", r.URL.Path), zap.String("content_type", r.Header.Get("Content-Type")))
	}
}

// unaryInterceptor counts error answers and adds a RetryInfo to retryable
// ones that have none (OTLP exporters wait that long before retrying).
func (g *guard) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err == nil {
		return resp, nil
	}
	st := status.Convert(err)
	g.failed(ctx, "grpc", st.Code().String(), zap.String("method", info.FullMethod), zap.String("error", st.Message()))
	if g.retryAfter <= 0 || (st.Code() != codes.Unavailable && st.Code() != codes.ResourceExhausted) {
		return resp, err
	}
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return resp, err
		}
	}
	if withDelay, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(g.retryAfter)}); derr == nil {
		return resp, withDelay.Err()
	}
	return resp, err
}
