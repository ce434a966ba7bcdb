package main

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// outcome counts what the receiving end accepted and refused of one batch.
type outcome struct {
	spansOK, spansRefused int64
	logsOK, logsRefused   int64
	err                   error // the last refusal, for the summary
}

// sender delivers batches: OTLP gRPC to a collector, or records to Kafka.
type sender interface {
	send(ctx context.Context, b *batch) outcome
	close() error
}

// requestTimeout bounds one export call.
const requestTimeout = 10 * time.Second

// otlpSender exports with pdata's OTLP gRPC clients on one connection.
type otlpSender struct {
	conn   *grpc.ClientConn
	traces ptraceotlp.GRPCClient
	logs   plogotlp.GRPCClient
}

func newOTLPSender(endpoint string) (*otlpSender, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &otlpSender{conn: conn, traces: ptraceotlp.NewGRPCClient(conn), logs: plogotlp.NewGRPCClient(conn)}, nil
}

func (s *otlpSender) close() error { return s.conn.Close() }

// send exports the spans, then the logs. A refused request is not retried:
// it is counted, and the worker backs off.
func (s *otlpSender) send(ctx context.Context, b *batch) outcome {
	var o outcome
	if b.spans > 0 {
		cctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := s.traces.Export(cctx, ptraceotlp.NewExportRequestFromTraces(b.traces))
		cancel()
		switch {
		case err != nil && stopping(ctx): // neither accepted nor refused
			return o
		case err != nil:
			o.spansRefused, o.err = int64(b.spans), err
		default:
			rejected := resp.PartialSuccess().RejectedSpans()
			o.spansOK, o.spansRefused = int64(b.spans)-rejected, rejected
		}
	}
	if b.records > 0 {
		cctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := s.logs.Export(cctx, plogotlp.NewExportRequestFromLogs(b.logs))
		cancel()
		switch {
		case err != nil && stopping(ctx):
		case err != nil:
			o.logsRefused, o.err = int64(b.records), err
		default:
			rejected := resp.PartialSuccess().RejectedLogRecords()
			o.logsOK, o.logsRefused = int64(b.records)-rejected, rejected
		}
	}
	if o.err == nil && (o.spansRefused > 0 || o.logsRefused > 0) {
		o.err = errors.New("partial success: some items rejected")
	}
	return o
}

// stopping reports whether ctx ended; gRPC's own deadline timer can fire a
// moment before the context's.
func stopping(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
