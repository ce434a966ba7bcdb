package logcorrelationprocessor // import "github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-biz/otelcol-biz/processor/logcorrelationprocessor/internal/metadata"
)

// defaultAttributes are the attribute names that hold ids by default.
var defaultAttributes = []string{"trace_id", "traceId", "trace.id", "span_id", "spanId", "span.id"}

// defaultExtractors are the built-in body extractors, in their default order.
var defaultExtractors = []ExtractorType{ExtractorTypeTraceparent, ExtractorTypeKeyValue, ExtractorTypeJSON, ExtractorTypeMDC}

// NewFactory returns the log_correlation processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Extractors: append([]ExtractorType(nil), defaultExtractors...),
		Attributes: append([]string(nil), defaultAttributes...),
	}
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	c, err := newCorrelator(set.TelemetrySettings, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, c.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithShutdown(func(context.Context) error {
			c.tel.Shutdown()
			return nil
		}))
}
