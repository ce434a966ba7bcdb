package spanguardprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor"

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-biz/otelcol-biz/processor/spanguardprocessor/internal/metadata"
)

// defaultMaxDuration: a span over a day is almost always a broken clock or a
// timestamp in the wrong unit (a start of 1 ms after the epoch lasts 56
// years); the rare legitimate one can raise it or set 0.
const defaultMaxDuration = 24 * time.Hour

// NewFactory returns the span_guard processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability))
}

func createDefaultConfig() component.Config {
	return &Config{MaxDuration: defaultMaxDuration}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	g, err := newGuard(set.TelemetrySettings, cfg.(*Config), clockwork.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, g.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithShutdown(func(context.Context) error {
			g.tel.Shutdown()
			return nil
		}))
}
