package metricguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-biz/otelcol-biz/processor/metricguardprocessor/internal/metadata"
)

// defaultMaxBuckets is far above what an SDK or span_metrics produces
// (exponential histograms default to 160 buckets) and far below what makes a
// scrape expensive.
const defaultMaxBuckets = 4096

// NewFactory returns the metric_guard processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createDefaultConfig() component.Config {
	return &Config{MaxBuckets: defaultMaxBuckets}
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	g, err := newGuard(set.TelemetrySettings, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, g.processMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithShutdown(func(context.Context) error {
			g.tel.Shutdown()
			return nil
		}))
}
