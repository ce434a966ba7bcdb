package buckettunerprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor"

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-biz/otelcol-biz/processor/buckettunerprocessor/internal/metadata"
)

const (
	defaultMaxMetrics           = 1000
	defaultMaxBuckets           = 16
	defaultLearnFor             = 5 * time.Minute
	defaultRetuneWhenErrorAbove = 0.05
)

var defaultQuantiles = []float64{0.5, 0.9, 0.95, 0.99}

// NewFactory returns the bucket_tuner processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createDefaultConfig() component.Config {
	return &Config{MaxMetrics: defaultMaxMetrics}
}

// ruleDefaults fills a rule's unset auto-mode keys; mapstructure decodes
// list items into zero values, so per-rule defaults are applied here.
func ruleDefaults(cfg *Config) {
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if r.Mode == "" {
			r.Mode = ModeTypeAuto
		}
		if r.Mode != ModeTypeAuto {
			continue
		}
		if r.MaxBuckets == 0 {
			r.MaxBuckets = defaultMaxBuckets
		}
		if len(r.Quantiles) == 0 {
			r.Quantiles = append([]float64(nil), defaultQuantiles...)
		}
		if r.LearnFor == 0 {
			r.LearnFor = defaultLearnFor
		}
		if r.RetuneWhenErrorAbove == 0 {
			r.RetuneWhenErrorAbove = defaultRetuneWhenErrorAbove
		}
	}
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	c := cfg.(*Config)
	t, err := newTuner(set, c, clockwork.NewRealClock())
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, t.processMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(t.start),
		processorhelper.WithShutdown(t.shutdown))
}
