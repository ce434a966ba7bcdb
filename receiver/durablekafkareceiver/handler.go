package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receiverhelper"

	"github.com/otelcol-biz/otelcol-biz/internal/nesting"
)

// signal is the signal of one receiver's topic (the `signal` attribute).
type signal string

const (
	signalTraces  signal = "traces"
	signalLogs    signal = "logs"
	signalMetrics signal = "metrics"
)

// encoding is the format our agent's kafka exporter writes (otlp_proto).
const encoding = "otlp_proto"

// handler decodes one record value and hands the data to the next
// consumer. A payload that cannot be decoded is an *invalidError; any
// other error is the next consumer's.
type handler interface {
	handle(ctx context.Context, value []byte) error
}

// invalidError marks a record that no retry can make usable.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return "invalid record: " + e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

func isInvalid(err error) bool {
	var ie *invalidError
	return errors.As(err, &ie)
}

// checkDepth refuses a payload pdata's decoder would recurse through
// deeper than maxDepth: its stack has no limit of its own.
func checkDepth(value []byte, maxDepth int) error {
	if nesting.ProtoExceeds(value, maxDepth) {
		return &invalidError{fmt.Errorf("protobuf nests deeper than max_depth (%d)", maxDepth)}
	}
	return nil
}

type tracesHandler struct {
	next consumer.Traces
	obs  *receiverhelper.ObsReport
}

func (h tracesHandler) handle(ctx context.Context, value []byte) error {
	var u ptrace.ProtoUnmarshaler
	td, err := u.UnmarshalTraces(value)
	if err != nil {
		return &invalidError{err}
	}
	n := td.SpanCount()
	if n == 0 {
		return nil
	}
	ctx = h.obs.StartTracesOp(ctx)
	err = h.next.ConsumeTraces(ctx, td)
	h.obs.EndTracesOp(ctx, encoding, n, err)
	return err
}

type logsHandler struct {
	next consumer.Logs
	obs  *receiverhelper.ObsReport
}

func (h logsHandler) handle(ctx context.Context, value []byte) error {
	var u plog.ProtoUnmarshaler
	ld, err := u.UnmarshalLogs(value)
	if err != nil {
		return &invalidError{err}
	}
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	ctx = h.obs.StartLogsOp(ctx)
	err = h.next.ConsumeLogs(ctx, ld)
	h.obs.EndLogsOp(ctx, encoding, n, err)
	return err
}

type metricsHandler struct {
	next consumer.Metrics
	obs  *receiverhelper.ObsReport
}

func (h metricsHandler) handle(ctx context.Context, value []byte) error {
	var u pmetric.ProtoUnmarshaler
	md, err := u.UnmarshalMetrics(value)
	if err != nil {
		return &invalidError{err}
	}
	n := md.DataPointCount()
	if n == 0 {
		return nil
	}
	ctx = h.obs.StartMetricsOp(ctx)
	err = h.next.ConsumeMetrics(ctx, md)
	h.obs.EndMetricsOp(ctx, encoding, n, err)
	return err
}
