//go:build bench

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp_grpc exporter compresses with gzip by default
)

// sinks stand in for Jaeger (OTLP gRPC) and Loki (OTLP HTTP) behind the full
// gateway: they answer OK at once and count what they got. They run in the
// harness, whose CPU is not measured.
type sinks struct {
	grpcAddr, httpAddr string
	spans, logs        atomic.Int64
	httpBytes          atomic.Int64
	grpcSrv            *grpc.Server
	httpSrv            *http.Server
	done               chan struct{}
}

type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	s *sinks
}

func (t *traceSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	t.s.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

type logSink struct {
	plogotlp.UnimplementedGRPCServer
	s *sinks
}

func (l *logSink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	l.s.logs.Add(int64(req.Logs().LogRecordCount()))
	return plogotlp.NewExportResponse(), nil
}

type metricSink struct {
	pmetricotlp.UnimplementedGRPCServer
}

func (*metricSink) Export(context.Context, pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	return pmetricotlp.NewExportResponse(), nil
}

func startSinks() (*sinks, error) {
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = gl.Close()
		return nil, err
	}
	s := &sinks{grpcAddr: gl.Addr().String(), httpAddr: hl.Addr().String(), done: make(chan struct{}, 2)}
	s.grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	ptraceotlp.RegisterGRPCServer(s.grpcSrv, &traceSink{s: s})
	plogotlp.RegisterGRPCServer(s.grpcSrv, &logSink{s: s})
	pmetricotlp.RegisterGRPCServer(s.grpcSrv, &metricSink{})
	s.httpSrv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.grpcSrv.Serve(gl); s.done <- struct{}{} }()
	go func() {
		if err := s.httpSrv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the gateway's exporter will report the failure
		}
		s.done <- struct{}{}
	}()
	return s, nil
}

// serveHTTP takes any OTLP/HTTP protobuf export (Loki's /otlp/v1/logs): an
// empty body is a valid empty Export*ServiceResponse.
func (s *sinks) serveHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	s.httpBytes.Add(n)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (s *sinks) stop() {
	s.grpcSrv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.httpSrv.Shutdown(ctx)
	<-s.done
	<-s.done
}
