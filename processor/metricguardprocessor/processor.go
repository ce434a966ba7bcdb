package metricguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor"

import (
	"context"
	"math"
	"math/bits"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor/internal/metadata"
)

// reason is why a data point was dropped (the `reason` metric attribute).
type reason uint8

const (
	reasonNone reason = iota
	// reasonBucketCount: an explicit histogram's bucket counts are not one
	// more than its bounds. OTLP allows a point without buckets too, but the
	// Prometheus exporter adds a delta point's buckets to the previous
	// point's index by index and panics on the shorter of the two.
	reasonBucketCount
	// reasonBounds: explicit bounds not finite and strictly increasing.
	reasonBounds
	// reasonCountMismatch: the point's count is not the sum of its buckets.
	reasonCountMismatch
	// reasonTooManyBuckets: more buckets than max_buckets.
	reasonTooManyBuckets
	// reasonScale: an exponential scale outside OTLP's [-10, 20].
	reasonScale
	// reasonZeroThreshold: a NaN or negative zero threshold.
	reasonZeroThreshold
	// reasonQuantile: a summary quantile outside [0, 1].
	reasonQuantile
	numReasons
)

var reasonNames = [numReasons]string{"", "bucket_count", "bounds", "count_mismatch", "too_many_buckets", "scale", "zero_threshold", "quantile"}

// OTLP's exponential histogram scale range.
const minScale, maxScale = -10, 20

// logEvery is how often one reason is logged at most: bad data must be seen,
// and must not flood the log.
const logEvery = time.Minute

type guard struct {
	logger     *zap.Logger
	tel        *metadata.TelemetryBuilder
	maxBuckets int
	reasonOpts [numReasons]metric.AddOption
}

func newGuard(set component.TelemetrySettings, cfg *Config) (*guard, error) {
	tel, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	g := &guard{
		// one message per reason, so the sampler limits each reason on its own
		logger: set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, logEvery, 1, 0)
		})),
		tel:        tel,
		maxBuckets: cfg.MaxBuckets,
	}
	for r := reasonBucketCount; r < numReasons; r++ {
		g.reasonOpts[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonNames[r])))
	}
	return g, nil
}

// dropped counts one batch's dropped points by reason.
type dropped [numReasons]int64

func (g *guard) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	var d dropped
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		sms := rm.ScopeMetrics()
		sms.RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			ms := sm.Metrics()
			ms.RemoveIf(func(m pmetric.Metric) bool { return g.filterMetric(m, &d) })
			return ms.Len() == 0
		})
		return sms.Len() == 0
	})
	for r := reasonBucketCount; r < numReasons; r++ {
		if d[r] == 0 {
			continue
		}
		g.tel.ProcessorMetricGuardPointsDropped.Add(ctx, d[r], g.reasonOpts[r])
		g.logger.Warn("metric_guard dropped data points exporters cannot take: "+reasonNames[r],
			zap.String("reason", reasonNames[r]), zap.Int64("points", d[r]))
	}
	return md, nil
}

// filterMetric drops m's unusable points and reports whether m is left
// without points because of it.
func (g *guard) filterMetric(m pmetric.Metric, d *dropped) bool {
	before := d.total()
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		dps.RemoveIf(func(dp pmetric.HistogramDataPoint) bool { return d.add(g.histogram(dp)) })
		return d.total() > before && dps.Len() == 0
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		dps.RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool { return d.add(g.exponential(dp)) })
		return d.total() > before && dps.Len() == 0
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		dps.RemoveIf(func(dp pmetric.SummaryDataPoint) bool { return d.add(summary(dp)) })
		return d.total() > before && dps.Len() == 0
	}
	return false
}

func (d *dropped) add(r reason) bool {
	if r == reasonNone {
		return false
	}
	d[r]++
	return true
}

func (d *dropped) total() int64 {
	var n int64
	for _, v := range d {
		n += v
	}
	return n
}

func (g *guard) histogram(dp pmetric.HistogramDataPoint) reason {
	bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
	if bounds.Len()+1 > g.maxBuckets {
		return reasonTooManyBuckets
	}
	if counts.Len() != bounds.Len()+1 {
		return reasonBucketCount
	}
	prev := math.Inf(-1)
	for i := range bounds.Len() {
		b := bounds.At(i)
		if math.IsNaN(b) || math.IsInf(b, 0) || b <= prev {
			return reasonBounds
		}
		prev = b
	}
	if total, ok := sum(counts, 0); !ok || total != dp.Count() {
		return reasonCountMismatch
	}
	return reasonNone
}

func (g *guard) exponential(dp pmetric.ExponentialHistogramDataPoint) reason {
	if dp.Scale() < minScale || dp.Scale() > maxScale {
		return reasonScale
	}
	if z := dp.ZeroThreshold(); math.IsNaN(z) || z < 0 {
		return reasonZeroThreshold
	}
	pos, neg := dp.Positive().BucketCounts(), dp.Negative().BucketCounts()
	if pos.Len()+neg.Len() > g.maxBuckets {
		return reasonTooManyBuckets
	}
	total, ok := sum(pos, dp.ZeroCount())
	if ok {
		total, ok = sum(neg, total)
	}
	if !ok || total != dp.Count() {
		return reasonCountMismatch
	}
	return reasonNone
}

func summary(dp pmetric.SummaryDataPoint) reason {
	qs := dp.QuantileValues()
	for i := range qs.Len() {
		if q := qs.At(i).Quantile(); !(q >= 0 && q <= 1) { // NaN fails both
			return reasonQuantile
		}
	}
	return reasonNone
}

// sum adds counts to start; ok is false when the sum overflows.
func sum(counts pcommon.UInt64Slice, start uint64) (total uint64, ok bool) {
	total = start
	for i := range counts.Len() {
		var carry uint64
		total, carry = bits.Add64(total, counts.At(i), 0)
		if carry != 0 {
			return 0, false
		}
	}
	return total, true
}
