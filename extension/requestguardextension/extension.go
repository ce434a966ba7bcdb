package requestguardextension // import "github.com/otelcol-biz/otelcol-biz/extension/requestguardextension"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	"github.com/otelcol-biz/otelcol-biz/extension/requestguardextension/internal/metadata"
	"github.com/otelcol-biz/otelcol-biz/internal/nesting"
)

// logEvery is how often one transport's refusals are logged at most.
const logEvery = time.Minute

type guard struct {
	logger     *zap.Logger
	failLogger *zap.Logger // its own sampler: refusals by the receiver
	tel        *metadata.TelemetryBuilder
	maxDepth   int
	httpOpt    metric.AddOption
	grpcOpt    metric.AddOption

	retryAfter       time.Duration
	retryAfterHeader string // whole seconds, at least 1
}

var (
	_ extensionmiddleware.HTTPServer = (*guard)(nil)
	_ extensionmiddleware.GRPCServer = (*guard)(nil)
)

func newGuard(set component.TelemetrySettings, cfg *Config) (*guard, error) {
	tel, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	// one message per transport, so the sampler limits each on its own
	sampled := func(l *zap.Logger) *zap.Logger {
		return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, logEvery, 1, 0)
		}))
	}
	g := &guard{
		logger:     sampled(set.Logger),
		failLogger: sampled(set.Logger),
		tel:        tel,
		maxDepth:   cfg.MaxDepth,
		httpOpt:    metric.WithAttributeSet(attribute.NewSet(attribute.String("transport", "http"))),
		grpcOpt:    metric.WithAttributeSet(attribute.NewSet(attribute.String("transport", "grpc"))),
		retryAfter: cfg.RetryAfter,
	}
	if cfg.RetryAfter > 0 {
		g.retryAfterHeader = strconv.Itoa(max(1, int((cfg.RetryAfter+time.Second-1)/time.Second)))
	}
	return g, nil
}

func (*guard) Start(context.Context, component.Host) error { return nil }

func (g *guard) Shutdown(context.Context) error {
	g.tel.Shutdown()
	return nil
}

// refused counts and logs one refused request.
func (g *guard) refused(ctx context.Context, transport string, opt metric.AddOption) {
	g.tel.ExtensionRequestGuardRequestsRejected.Add(ctx, 1, opt)
	g.logger.Warn("request_guard refused a "+transport+" request nesting deeper than max_depth",
		zap.Int("max_depth", g.maxDepth))
}

// GetHTTPHandler checks protobuf and JSON bodies; confighttp runs it after
// decompression, on a body already bounded by max_request_body_size.
func (g *guard) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			exceeds := g.exceedsFor(r.Header.Get("Content-Type"))
			if exceeds == nil || r.Body == nil {
				g.serveCounted(next, w, r)
				return
			}
			body, err := io.ReadAll(r.Body)
			_ = r.Body.Close()
			if err != nil {
				status := http.StatusBadRequest
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					status = http.StatusRequestEntityTooLarge
				}
				http.Error(w, "reading the request body: "+err.Error(), status)
				return
			}
			if exceeds(body, g.maxDepth) {
				g.refused(r.Context(), "http", g.httpOpt)
				http.Error(w, fmt.Sprintf("the request body nests deeper than %d levels", g.maxDepth), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			g.serveCounted(next, w, r)
		}), nil
	}, nil
}

// exceedsFor is the depth check for an OTLP/HTTP content type, nil for
// others (the receiver refuses those).
func (*guard) exceedsFor(contentType string) func([]byte, int) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil
	}
	switch mt {
	case "application/x-protobuf":
		return nesting.ProtoExceeds
	case "application/json":
		return nesting.JSONExceeds
	}
	return nil
}

// GetGRPCServerOptions replaces the server's codec by one that checks a
// message's depth before the registered proto codec (pdata's) decodes it.
func (g *guard) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	proto := encoding.GetCodecV2("proto")
	if proto == nil {
		return nil, errors.New("no gRPC proto codec registered")
	}
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(&depthCodec{CodecV2: proto, g: g}),
		grpc.ChainUnaryInterceptor(g.unaryInterceptor),
	}, nil
}

// depthCodec is the proto codec with a depth check in front of Unmarshal.
type depthCodec struct {
	encoding.CodecV2
	g *guard
}

var errTooDeep = errors.New("the message nests deeper than request_guard's max_depth")

func (c *depthCodec) Unmarshal(data mem.BufferSlice, v any) error {
	var deep bool
	if len(data) == 1 {
		deep = nesting.ProtoExceeds(data[0].ReadOnlyData(), c.g.maxDepth)
	} else {
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		deep = nesting.ProtoExceeds(buf.ReadOnlyData(), c.g.maxDepth)
		buf.Free()
	}
	if deep {
		c.g.refused(context.Background(), "grpc", c.g.grpcOpt)
		return errTooDeep
	}
	err := c.CodecV2.Unmarshal(data, v)
	if err != nil {
		// gRPC answers INTERNAL before any interceptor sees the call
		c.g.failed(context.Background(), "grpc", codes.Internal.String(), zap.String("error", err.Error()))
	}
	return err
}
