package spanguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor"

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor/internal/metadata"
)

// reason is why a span was repaired or dropped (the `reason` metric attribute).
type reason uint8

const (
	reasonNone reason = iota
	// reasonEndBeforeStart: end < start, repaired to end = start. Consumers
	// subtract the two as unsigned nanoseconds: 1.8e10 s.
	reasonEndBeforeStart
	// reasonZeroStart: start 0 with an end, repaired to start = end; else
	// the span lasts since 1970 (span_metrics adds 1.8e9 s).
	reasonZeroStart
	// reasonZeroEnd: end 0 with a start, repaired to end = start.
	reasonZeroEnd
	// reasonTooLong: longer than max_duration, repaired to a zero duration.
	reasonTooLong
	// reasonInvalidID: an all-zero trace or span id, dropped. OTLP calls
	// both invalid, Jaeger refuses them, and stateful processors that key
	// on the trace id would merge every such span into one trace.
	reasonInvalidID
	numReasons
)

var reasonNames = [numReasons]string{"", "end_before_start", "zero_start", "zero_end", "too_long", "invalid_id"}

// logEvery is how often one reason is logged at most: bad data must be
// seen, and must not flood the log.
const logEvery = time.Minute

type guard struct {
	logger      *zap.Logger
	tel         *metadata.TelemetryBuilder
	clock       clockwork.Clock
	maxDuration uint64 // nanoseconds; 0: no limit
	reasonOpts  [numReasons]metric.AddOption
}

func newGuard(set component.TelemetrySettings, cfg *Config, clock clockwork.Clock) (*guard, error) {
	tel, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	g := &guard{
		// one message per reason, so the sampler limits each reason on its own
		logger: set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, logEvery, 1, 0)
		})),
		tel:         tel,
		clock:       clock,
		maxDuration: uint64(cfg.MaxDuration), // validated: not negative
	}
	for r := reasonEndBeforeStart; r < numReasons; r++ {
		g.reasonOpts[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonNames[r])))
	}
	return g, nil
}

// tally counts one batch's spans by reason.
type tally [numReasons]int64

// add counts r and reports whether the span must be dropped.
func (t *tally) add(r reason) bool {
	t[r]++
	return r == reasonInvalidID
}

func (g *guard) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var t tally
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		before := t[reasonInvalidID]
		sss := rs.ScopeSpans()
		sss.RemoveIf(func(ss ptrace.ScopeSpans) bool {
			b := t[reasonInvalidID]
			spans := ss.Spans()
			spans.RemoveIf(func(s ptrace.Span) bool { return t.add(g.check(s)) })
			return t[reasonInvalidID] > b && spans.Len() == 0
		})
		return t[reasonInvalidID] > before && sss.Len() == 0
	})
	g.report(ctx, &t)
	if t[reasonInvalidID] > 0 && td.ResourceSpans().Len() == 0 {
		return td, processorhelper.ErrSkipProcessingData // nothing left to send
	}
	return td, nil
}

// check repairs s in place, and returns why it was repaired or must be
// dropped (reasonNone for a sound span).
func (g *guard) check(s ptrace.Span) reason {
	if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
		return reasonInvalidID
	}
	start, end := s.StartTimestamp(), s.EndTimestamp()
	switch {
	case start == 0 && end != 0:
		s.SetStartTimestamp(end)
		return reasonZeroStart
	case end == 0 && start != 0:
		s.SetEndTimestamp(start)
		return reasonZeroEnd
	case end < start:
		s.SetEndTimestamp(start)
		return reasonEndBeforeStart
	case g.maxDuration > 0 && uint64(end-start) > g.maxDuration:
		g.collapse(s, start, end)
		return reasonTooLong
	}
	return reasonNone
}

// collapse gives a too long span a zero duration at the timestamp nearer the
// collector's clock: a span arrives soon after it ends, so the one far from
// now is the broken one (a start in 1970, an end in 2100), also in replays,
// where both are old but the broken one is older or in the future.
func (g *guard) collapse(s ptrace.Span, start, end pcommon.Timestamp) {
	now := uint64(g.clock.Now().UnixNano())
	dist := func(ts pcommon.Timestamp) uint64 { return max(uint64(ts), now) - min(uint64(ts), now) }
	if dist(start) < dist(end) {
		s.SetEndTimestamp(start)
		return
	}
	s.SetStartTimestamp(end)
}

// report adds one batch's counts to the telemetry and logs each reason, at
// most once per logEvery.
func (g *guard) report(ctx context.Context, t *tally) {
	for r := reasonEndBeforeStart; r < numReasons; r++ {
		if t[r] == 0 {
			continue
		}
		if r == reasonInvalidID {
			g.tel.ProcessorSpanGuardSpansDropped.Add(ctx, t[r], g.reasonOpts[r])
			g.logger.Warn("span_guard dropped spans no consumer can use: "+reasonNames[r],
				zap.String("reason", reasonNames[r]), zap.Int64("spans", t[r]))
			continue
		}
		g.tel.ProcessorSpanGuardSpansRepaired.Add(ctx, t[r], g.reasonOpts[r])
		g.logger.Warn("span_guard repaired span timestamps to a zero duration: "+reasonNames[r],
			zap.String("reason", reasonNames[r]), zap.Int64("spans", t[r]))
	}
}
