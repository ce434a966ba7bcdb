package durablekafkareceiver // import "github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-biz/otelcol-biz/receiver/durablekafkareceiver/internal/metadata"
)

// outcome is what became of a record (the `outcome` attribute).
type outcome uint8

const (
	outcomeAccepted outcome = iota
	outcomeInvalid
	outcomeRefused
	outcomeRedelivered
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"accepted", "invalid", "refused", "redelivered"}

// logEvery is how often one kind of problem is logged at most: bad records
// come in bursts, and each must not cost a log line.
const logEvery = time.Minute

// telemetry holds one signal's instruments with their attribute sets
// built once.
type telemetry struct {
	tb         *metadata.TelemetryBuilder
	signalAttr attribute.KeyValue
	signalOpt  metric.MeasurementOption
	recordOpts [numOutcomes]metric.AddOption
}

func newTelemetry(tb *metadata.TelemetryBuilder, sig signal) *telemetry {
	t := &telemetry{tb: tb, signalAttr: attribute.String("signal", string(sig))}
	t.signalOpt = metric.WithAttributeSet(attribute.NewSet(t.signalAttr))
	for o := range numOutcomes {
		t.recordOpts[o] = metric.WithAttributeSet(attribute.NewSet(t.signalAttr, attribute.String("outcome", outcomeNames[o])))
	}
	return t
}

func (t *telemetry) records(o outcome, n int) {
	t.tb.ReceiverDurableKafkaRecords.Add(context.Background(), int64(n), t.recordOpts[o])
}

// lagOpt is the attribute set of one partition's lag.
func (t *telemetry) lagOpt(partition int32) metric.ObserveOption {
	return metric.WithAttributeSet(attribute.NewSet(t.signalAttr, attribute.Int64("partition", int64(partition))))
}

// limitedLog writes one warning at most every logEvery, with the number of
// occurrences since the previous line.
type limitedLog struct {
	logger *zap.Logger
	msg    string

	mu   sync.Mutex
	next time.Time
	n    int64
}

func newLimitedLog(logger *zap.Logger, msg string) *limitedLog {
	return &limitedLog{logger: logger, msg: msg}
}

func (l *limitedLog) warn(fields ...zap.Field) {
	now := time.Now()
	l.mu.Lock()
	l.n++
	if now.Before(l.next) {
		l.mu.Unlock()
		return
	}
	n := l.n
	l.n, l.next = 0, now.Add(logEvery)
	l.mu.Unlock()
	l.logger.Warn(l.msg, append(fields, zap.Int64("count_since_last_log", n))...)
}
