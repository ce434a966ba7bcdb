package metricguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-biz/otelcol-biz/internal/histcheck"
	"github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor/internal/metadata"
)

// logEvery is how often one reason is logged at most: bad data must be seen,
// and must not flood the log.
const logEvery = time.Minute

type guard struct {
	logger     *zap.Logger
	tel        *metadata.TelemetryBuilder
	maxBuckets int
	reasonOpts [len(histcheck.Reasons)]metric.AddOption
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
	for i, r := range histcheck.Reasons {
		g.reasonOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))
	}
	return g, nil
}

func (g *guard) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	var d histcheck.Counts
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		sms := rm.ScopeMetrics()
		sms.RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			ms := sm.Metrics()
			ms.RemoveIf(func(m pmetric.Metric) bool { return g.filterMetric(m, &d) })
			return ms.Len() == 0
		})
		return sms.Len() == 0
	})
	for i, r := range histcheck.Reasons {
		if d[i] == 0 {
			continue
		}
		g.tel.ProcessorMetricGuardPointsDropped.Add(ctx, d[i], g.reasonOpts[i])
		g.logger.Warn("metric_guard dropped data points exporters cannot take: "+string(r),
			zap.String("reason", string(r)), zap.Int64("points", d[i]))
	}
	return md, nil
}

// filterMetric drops m's unusable points and reports whether m is left
// without points because of it.
func (g *guard) filterMetric(m pmetric.Metric, d *histcheck.Counts) bool {
	before := d.Total()
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		dps.RemoveIf(func(dp pmetric.HistogramDataPoint) bool { return d.Add(histcheck.Explicit(dp, g.maxBuckets)) })
		return d.Total() > before && dps.Len() == 0
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		dps.RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
			return d.Add(histcheck.Exponential(dp, g.maxBuckets))
		})
		return d.Total() > before && dps.Len() == 0
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		dps.RemoveIf(func(dp pmetric.SummaryDataPoint) bool { return d.Add(histcheck.Summary(dp)) })
		return d.Total() > before && dps.Len() == 0
	}
	return false
}
